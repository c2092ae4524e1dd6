// Go peer, echo workloads: a goroutine-per-connection echo server, and the load client that
// bench/compare points at every server (fiberpool's, this one, eventlet's).
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"
)

const echoBuffer = 4096 // bytes each server connection reads at once, as in the other servers

// exitOnStdinEOF: the servers run until bench/compare closes their stdin.
func exitOnStdinEOF() {
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
}

// echoServer: listens on 127.0.0.1:port (0: any), prints "port N", and echoes every connection
// on its own goroutine. Go's net package sets TCP_NODELAY on every connection.
func echoServer(port int) {
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo_server:", err)
		os.Exit(1)
	}
	fmt.Printf("port %d\n", ln.Addr().(*net.TCPAddr).Port)
	exitOnStdinEOF()
	for {
		c, err := ln.Accept()
		if err != nil {
			time.Sleep(10 * time.Millisecond) // EMFILE and friends: back off, keep serving
			continue
		}
		go func(c net.Conn) {
			defer c.Close()
			buf := make([]byte, echoBuffer)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}(c)
	}
}

// dialAll: n connections to 127.0.0.1:port, at most 256 connecting at once, so the server's
// accept backlog never overflows (an overflow costs a one-second SYN retransmit).
func dialAll(n, port int) []net.Conn {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	conns := make([]net.Conn, n)
	sem := make(chan struct{}, 256)
	var wg sync.WaitGroup
	var failed error
	var mu sync.Mutex
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err != nil {
				mu.Lock()
				failed = err
				mu.Unlock()
				return
			}
			conns[i] = c
		}(i)
	}
	wg.Wait()
	if failed != nil {
		fmt.Fprintln(os.Stderr, "connect:", failed)
		os.Exit(1)
	}
	return conns
}

// roundTrip: one request written, its echo read back whole and checked.
func roundTrip(c net.Conn, req, reply []byte) error {
	if _, err := c.Write(req); err != nil {
		return err
	}
	if _, err := io.ReadFull(c, reply); err != nil {
		return err
	}
	for i := range req {
		if req[i] != reply[i] {
			return fmt.Errorf("echo reply does not match its request")
		}
	}
	return nil
}

// percentile: p in [0, 100] of sorted samples, the same rank rule as bench_util.hpp.
func percentile(sorted []int64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p/100*float64(len(sorted)-1) + 0.5)
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return float64(sorted[i])
}

// echoLoad: n connections, each a goroutine doing closed-loop round trips of `size`-byte
// requests. All connect first; then every connection sends for warm-up + seconds, and only
// round trips sent within the measured `seconds` count toward msgs/s and the latencies.
func echoLoad(n int, seconds float64, port, size int) {
	conns := dialAll(n, port)
	warm := 500 * time.Millisecond
	measured := time.Duration(seconds * float64(time.Second))
	from := time.Now().Add(warm)
	to := from.Add(measured)
	lat := make([][]int64, n)
	var wg sync.WaitGroup
	var failed error
	var mu sync.Mutex
	for i, c := range conns {
		wg.Add(1)
		go func(i int, c net.Conn) {
			defer wg.Done()
			defer c.Close()
			req := make([]byte, size)
			reply := make([]byte, size)
			for k := range req {
				req[k] = byte('a' + (i+k)%26)
			}
			samples := make([]int64, 0, 1024)
			for {
				t0 := time.Now()
				if !t0.Before(to) {
					break
				}
				req[0] = byte(len(samples)) // a fresh request every time
				if err := roundTrip(c, req, reply); err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
					return
				}
				if !t0.Before(from) {
					samples = append(samples, time.Since(t0).Nanoseconds())
				}
			}
			lat[i] = samples
		}(i, c)
	}
	wg.Wait()
	if failed != nil {
		fmt.Fprintln(os.Stderr, "echo_load:", failed)
		os.Exit(1)
	}
	var all []int64
	for _, s := range lat {
		all = append(all, s...)
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	metric("echo.msgs_per_s", float64(len(all))/measured.Seconds())
	metric("echo.p50_us", percentile(all, 50)/1000)
	metric("echo.p99_us", percentile(all, 99)/1000)
}

// echoIdle: opens n connections and does one round trip on each (so the server has accepted and
// served every one), prints "ready N", holds them open and idle until stdin closes.
func echoIdle(n, port int) {
	conns := dialAll(n, port)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256)
	for _, c := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func(c net.Conn) {
			defer wg.Done()
			defer func() { <-sem }()
			req := make([]byte, 64)
			if err := roundTrip(c, req, make([]byte, 64)); err != nil {
				fmt.Fprintln(os.Stderr, "echo_idle:", err)
				os.Exit(1)
			}
		}(c)
	}
	wg.Wait()
	fmt.Printf("ready %d\n", n)
	io.Copy(io.Discard, bufio.NewReader(os.Stdin))
	for _, c := range conns {
		c.Close()
	}
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		fmt.Fprintln(os.Stderr, "not a number:", s)
		os.Exit(2)
	}
	return n
}

// echoMain: the echo subcommands; false if args name none of them.
//
//	echo_server [PORT]
//	echo_load CONNECTIONS SECONDS PORT [MESSAGE_BYTES]
//	echo_idle CONNECTIONS PORT
func echoMain(args []string) bool {
	switch {
	case len(args) >= 1 && args[0] == "echo_server":
		port := 0
		if len(args) > 1 {
			port = atoi(args[1])
		}
		echoServer(port)
	case len(args) >= 4 && args[0] == "echo_load":
		seconds, err := strconv.ParseFloat(args[2], 64)
		if err != nil || seconds <= 0 {
			fmt.Fprintln(os.Stderr, "echo_load: SECONDS must be a number above 0")
			os.Exit(2)
		}
		size := 64
		if len(args) > 4 {
			size = atoi(args[4])
		}
		echoLoad(atoi(args[1]), seconds, atoi(args[3]), size)
	case len(args) >= 3 && args[0] == "echo_idle":
		echoIdle(atoi(args[1]), atoi(args[2]))
	default:
		return false
	}
	return true
}
