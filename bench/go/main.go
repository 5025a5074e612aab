// The Go reference for gochan's benchmark suite: the same workloads as the
// Python files in bench/, timed with this program's own loops.
//
//	go run . -w W1,W2 -values 5 -mintime 100ms
//
// For each workload it doubles the op count until one run takes at least
// -mintime, then times -values runs at that count and prints one JSON line
// per workload: {"key": "W1", "ns_per_op": [...], "ops": N}. W6 (memory)
// instead parks -tasks6 goroutines on a receive and prints bytes per
// goroutine from /proc/self/statm. run.py builds and runs this program with
// GOMAXPROCS=1 (the Python systems run on one thread too).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"
)

var (
	tasks    = flag.Int("tasks", 100_000, "W3 tasks per batch")
	tasks6   = flag.Int("tasks6", 100_000, "W6 parked goroutines")
	ctxTasks = flag.Int("ctxtasks", 1000, "W8c goroutines per cancelled context tree")
	values   = flag.Int("values", 5, "timed runs per workload")
	minTime  = flag.Duration("mintime", 100*time.Millisecond, "minimum duration of one timed run")
	which    = flag.String("w", "W1,W2,W3,W4,W5,W7,W8a,W8b,W8c", "workloads")
)

// W1 ping-pong: a round trip over two unbuffered channels.
func w1(n int) time.Duration {
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		ping <- i
		<-pong
	}
	dt := time.Since(t0)
	close(ping)
	return dt
}

// W2 buffered: n ints through a cap-128 channel.
func w2(n int) time.Duration {
	ch := make(chan int, 128)
	t0 := time.Now()
	go func() {
		for i := 0; i < n; i++ {
			ch <- i
		}
		close(ch)
	}()
	for range ch {
	}
	return time.Since(t0)
}

// W3 spawn: n empty goroutines in batches of -tasks, WaitGroup per batch.
func w3(n int) time.Duration {
	t0 := time.Now()
	for done := 0; done < n; {
		batch := *tasks
		if n-done < batch {
			batch = n - done
		}
		var wg sync.WaitGroup
		wg.Add(batch)
		for i := 0; i < batch; i++ {
			go wg.Done()
		}
		wg.Wait()
		done += batch
	}
	return time.Since(t0)
}

// W4 fan-out/in: producer -> jobs(100) -> 8 workers -> results(100) -> main.
func w4(n int) time.Duration {
	jobsCh, results := make(chan int, 100), make(chan int, 100)
	for w := 0; w < 8; w++ {
		go func() {
			for j := range jobsCh {
				results <- j + 1
			}
		}()
	}
	t0 := time.Now()
	go func() {
		for i := 0; i < n; i++ {
			jobsCh <- i
		}
		close(jobsCh)
	}()
	for i := 0; i < n; i++ {
		<-results
	}
	return time.Since(t0)
}

// W5 select: one send on a random cap-1 channel, then a 4-way select.
var seq = func() []int {
	r := rand.New(rand.NewSource(20240601))
	s := make([]int, 4096)
	for i := range s {
		s[i] = r.Intn(4)
	}
	return s
}()

func w5(n int) time.Duration {
	cs := [4]chan int{make(chan int, 1), make(chan int, 1), make(chan int, 1), make(chan int, 1)}
	t0 := time.Now()
	for i := 0; i < n; i++ {
		cs[seq[i&4095]] <- i
		select {
		case <-cs[0]:
		case <-cs[1]:
		case <-cs[2]:
		case <-cs[3]:
		}
	}
	return time.Since(t0)
}

// W7 timers: n rounds of 10,000 goroutines each sleeping 10 ms.
func w7(n int) time.Duration {
	t0 := time.Now()
	for r := 0; r < n; r++ {
		var wg sync.WaitGroup
		wg.Add(10_000)
		for i := 0; i < 10_000; i++ {
			go func() {
				time.Sleep(10 * time.Millisecond)
				wg.Done()
			}()
		}
		wg.Wait()
	}
	return time.Since(t0)
}

// W8a mutex: uncontended Lock/Unlock.
func w8a(n int) time.Duration {
	var mu sync.Mutex
	t0 := time.Now()
	for i := 0; i < n; i++ {
		mu.Lock()
		mu.Unlock()
	}
	return time.Since(t0)
}

// W8b waitgroup: Add(1), Done(), Wait() on a counter back at zero.
func w8b(n int) time.Duration {
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		wg.Done()
		wg.Wait()
	}
	return time.Since(t0)
}

func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		panic(err)
	}
	var size, resident int64
	fmt.Sscan(string(b), &size, &resident)
	return resident * int64(os.Getpagesize())
}

// W6 memory: RSS bytes per goroutine parked on a receive.
func w6(n int) float64 {
	ch := make(chan int)
	var started sync.WaitGroup
	runtime.GC()
	before := rss()
	started.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			started.Done()
			<-ch
		}()
	}
	started.Wait()
	runtime.Gosched()
	runtime.GC()
	after := rss()
	close(ch)
	return float64(after-before) / float64(n)
}

// W8c context cancel fan-out: rounds of -ctxtasks goroutines, each parked on
// a child context of one root; only the root's cancel and the wake-ups and
// exits it causes are timed. n is the number of goroutines.
func w8c(n int) time.Duration {
	var total time.Duration
	for done := 0; done < n; {
		batch := *ctxTasks
		if n-done < batch {
			batch = n - done
		}
		root, cancel := context.WithCancel(context.Background())
		var wg, parked sync.WaitGroup
		wg.Add(batch)
		parked.Add(batch)
		for i := 0; i < batch; i++ {
			child, stop := context.WithCancel(root)
			go func() {
				parked.Done()
				<-child.Done()
				stop() // already cancelled by the root: releases nothing more
				wg.Done()
			}()
		}
		parked.Wait()
		runtime.Gosched() // the last ones reach their receive
		t0 := time.Now()
		cancel()
		wg.Wait()
		total += time.Since(t0)
		done += batch
	}
	return total
}

type result struct {
	Key     string    `json:"key"`
	NsPerOp []float64 `json:"ns_per_op,omitempty"`
	Bytes   float64   `json:"bytes_per_task,omitempty"`
	Ops     int       `json:"ops"`
}

func measure(f func(int) time.Duration) ([]float64, int) {
	n := 1
	for {
		if dt := f(n); dt >= *minTime || n >= 1<<30 {
			break
		}
		n *= 2
	}
	out := make([]float64, *values)
	for i := range out {
		out[i] = float64(f(n).Nanoseconds()) / float64(n)
	}
	return out, n
}

func main() {
	flag.Parse()
	fns := map[string]func(int) time.Duration{
		"W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5, "W7": w7, "W8a": w8a, "W8b": w8b,
		"W8c": w8c,
	}
	enc := json.NewEncoder(os.Stdout)
	for _, key := range strings.Split(*which, ",") {
		if key == "W6" {
			enc.Encode(result{Key: key, Bytes: w6(*tasks6), Ops: *tasks6})
			continue
		}
		f, ok := fns[key]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown workload %q\n", key)
			os.Exit(2)
		}
		vals, n := measure(f)
		enc.Encode(result{Key: key, NsPerOp: vals, Ops: n})
	}
}
