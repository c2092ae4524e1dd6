// Go peer: the spawn, skynet, yield and idle-memory workloads on goroutines (the echo workloads are
// in echo.go); GOMAXPROCS from the env.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

func metric(name string, value float64) { fmt.Printf("%-28s %14.1f\n", name, value) }

// threadsTag names the metric after GOMAXPROCS, as fiberpool's names carry the thread count.
func threadsTag() string { return "t" + strconv.Itoa(runtime.GOMAXPROCS(0)) }

// rssBytes: resident set size from /proc/self/statm, the same source fiberpool's benchmark reads.
func rssBytes() float64 {
	b, _ := os.ReadFile("/proc/self/statm")
	var pages, resident int64
	fmt.Sscan(string(b), &pages, &resident)
	return float64(resident * int64(os.Getpagesize()))
}

// spawn: goroutines started in batches of 1,000 from a goroutine, the batch waited for.
func spawn(total int) float64 {
	var ns float64
	done := make(chan struct{})
	go func() {
		t0 := time.Now()
		var wg sync.WaitGroup
		for n := 0; n < total; n += 1000 {
			wg.Add(1000)
			for i := 0; i < 1000; i++ {
				go func() { wg.Done() }()
			}
			wg.Wait()
		}
		ns = float64(time.Since(t0).Nanoseconds())
		close(done)
	}()
	<-done
	return ns / float64(total)
}

// skynet: each node starts 10 child goroutines and sums what they send back.
func skynet(c chan int64, num, size int64) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan int64, 10)
	step := size / 10
	for i := int64(0); i < 10; i++ {
		go skynet(rc, num+i*step, step)
	}
	var sum int64
	for i := 0; i < 10; i++ {
		sum += <-rc
	}
	c <- sum
}

func yield(rounds int) float64 {
	var wg sync.WaitGroup
	wg.Add(2)
	t0 := time.Now()
	for k := 0; k < 2; k++ {
		go func() {
			for i := 0; i < rounds; i++ {
				runtime.Gosched()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	return float64(time.Since(t0).Nanoseconds()) / float64(2*rounds)
}

// idleMem: RSS per goroutine with n goroutines blocked on a channel receive.
func idleMem(n int) float64 {
	block := make(chan struct{})
	var started sync.WaitGroup
	started.Add(n)
	runtime.GC()
	before := rssBytes()
	for i := 0; i < n; i++ {
		go func() {
			started.Done()
			<-block
		}()
	}
	started.Wait()
	after := rssBytes()
	close(block)
	return (after - before) / float64(n)
}

// million: n goroutines started from the main goroutine, each blocking on one shared channel;
// then the channel is closed. The time to start them all, the time from close until the last has
// ended, the peak RSS (VmHWM), as bench/million.cpp measures fiberpool.
func million(n int) {
	var started, ended sync.WaitGroup
	started.Add(n)
	ended.Add(n)
	block := make(chan struct{})
	t0 := time.Now()
	for i := 0; i < n; i++ {
		go func() {
			started.Done()
			<-block
			ended.Done()
		}()
	}
	started.Wait()
	startMs := float64(time.Since(t0).Nanoseconds()) / 1e6
	t1 := time.Now()
	close(block)
	ended.Wait()
	wakeMs := float64(time.Since(t1).Nanoseconds()) / 1e6
	metric("million.start_ms", startMs)
	metric("million.wake_end_ms", wakeMs)
	metric("million.peak_rss_mb", peakRssBytes()/(1024*1024))
}

// peakRssBytes: VmHWM from /proc/self/status, the resident set's high-water mark.
func peakRssBytes() float64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(line, "VmHWM:"), "kB")))
			return float64(kb) * 1024
		}
	}
	return 0
}

func main() {
	if len(os.Args) >= 2 && echoMain(os.Args[1:]) {
		return
	}
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: go-peer spawn|skynet|yield|idle_mem|million N\n"+
			"       go-peer echo_server [PORT]\n"+
			"       go-peer echo_load CONNECTIONS SECONDS PORT [MESSAGE_BYTES]\n"+
			"       go-peer echo_idle CONNECTIONS PORT")
		os.Exit(2)
	}
	n, _ := strconv.Atoi(os.Args[2])
	switch os.Args[1] {
	case "spawn":
		metric("spawn."+threadsTag()+".ns_per_job", spawn(n))
	case "skynet":
		c := make(chan int64, 1)
		t0 := time.Now()
		go skynet(c, 0, int64(n))
		sum := <-c
		ms := float64(time.Since(t0).Nanoseconds()) / 1e6
		if want := int64(n) * int64(n-1) / 2; sum != want {
			fmt.Fprintf(os.Stderr, "skynet: wrong sum %d\n", sum)
			os.Exit(1)
		}
		metric("skynet."+threadsTag()+".ms", ms)
	case "yield":
		metric("yield.ns_per_switch", yield(n))
	case "million":
		million(n)
	case "idle_mem":
		metric("idle_mem.blocked_bytes_per_job", idleMem(n))
	default:
		os.Exit(2)
	}
}
