// W11's Go reference: echo round trips over loopback TCP, the workload of
// bench/w11_echo.py (client and server in this one process, GOMAXPROCS=1).
//
//	go run ./echo -mode rate -conns 100 -size 64 -seconds 1
//	go run ./echo -mode idle -conns 1000
//
// rate: -conns client goroutines, each on its own connection, write -size
// bytes and io.ReadFull the echo, over and over; after WARMUP round trips
// each they are released at once, stopped after -seconds, and the program
// prints {"count": N, "seconds": S, "cpu_s": C}. idle: -conns connections,
// each after one round trip, and the RSS they added, per connection
// ({"bytes_per_conn": B}, after runtime.GC and debug.FreeOSMemory).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const warmup = 2

var (
	mode    = flag.String("mode", "rate", "rate or idle")
	conns   = flag.Int("conns", 100, "client connections")
	size    = flag.Int("size", 64, "message bytes")
	seconds = flag.Float64("seconds", 1, "timed phase")
)

func echo(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 65536)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		if _, err := c.Write(buf[:n]); err != nil {
			return
		}
	}
}

func serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go echo(c)
	}
}

func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		panic(err)
	}
	pages, _ := strconv.ParseInt(strings.Fields(string(b))[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

func roundTrip(c net.Conn, msg, got []byte) {
	if _, err := c.Write(msg); err != nil {
		panic(err)
	}
	if _, err := io.ReadFull(c, got); err != nil {
		panic(err)
	}
}

func rate(ln net.Listener) map[string]any {
	addr := ln.Addr().String()
	msg := make([]byte, *size)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	var stop atomic.Bool
	var total atomic.Int64
	for i := 0; i < *conns; i++ {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				panic(err)
			}
			defer c.Close()
			got := make([]byte, *size)
			for j := 0; j < warmup; j++ {
				roundTrip(c, msg, got)
			}
			ready.Done()
			<-start
			n := int64(0)
			for !stop.Load() {
				roundTrip(c, msg, got)
				n++
			}
			total.Add(n)
		}()
	}
	ready.Wait()
	t0, c0 := time.Now(), cpu()
	close(start)
	time.Sleep(time.Duration(*seconds * float64(time.Second)))
	stop.Store(true)
	done.Wait()
	return map[string]any{
		"count": total.Load(), "seconds": time.Since(t0).Seconds(), "cpu_s": (cpu() - c0).Seconds(),
		"conns": *conns, "size": *size,
	}
}

func idle(ln net.Listener) map[string]any {
	addr := ln.Addr().String()
	msg, got := make([]byte, 64), make([]byte, 64)
	connect := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			panic(err)
		}
		roundTrip(c, msg, got)
		return c
	}
	keep := []net.Conn{connect()}
	kept := make([]net.Conn, *conns)
	settle := func() int64 {
		runtime.GC()
		debug.FreeOSMemory()
		return rss()
	}
	r0 := settle()
	for i := range kept {
		kept[i] = connect()
	}
	per := float64(settle()-r0) / float64(*conns)
	runtime.KeepAlive(keep)
	runtime.KeepAlive(kept)
	return map[string]any{"conns": *conns, "bytes_per_conn": per}
}

func main() {
	flag.Parse()
	var lim syscall.Rlimit // Go 1.19+ raises the soft limit itself; older ones do not
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go serve(ln)
	var out map[string]any
	switch *mode {
	case "rate":
		out = rate(ln)
	case "idle":
		out = idle(ln)
	default:
		fmt.Fprintf(os.Stderr, "unknown mode %q: rate or idle\n", *mode)
		os.Exit(2)
	}
	json.NewEncoder(os.Stdout).Encode(out)
	os.Exit(0)
}
