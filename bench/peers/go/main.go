// Go peer: the spawn, skynet, yield and idle-memory workloads on goroutines (the echo workloads are
// in echo.go); GOMAXPROCS from the env.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
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

func main() {
	if len(os.Args) >= 2 && echoMain(os.Args[1:]) {
		return
	}
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: go-peer spawn|skynet|yield|idle_mem N\n"+
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
	case "idle_mem":
		metric("idle_mem.blocked_bytes_per_job", idleMem(n))
	default:
		os.Exit(2)
	}
}
