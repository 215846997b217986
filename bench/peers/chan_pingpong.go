// chan_pingpong.go - taskring_bench's Go peer: two goroutines bounce one value over two
// unbuffered channels; prints flat JSON on stdout. Two modes:
//
//	(default)  GOMAXPROCS=1: both goroutines on one OS thread, as taskring's two tasks are on
//	           one loop. Key chan_pingpong_rtt_ns: one round trip (send on ping, receive the
//	           answer on pong), the median of the repetitions. Beside taskring's
//	           sync/queue_pingpong/maxsize:1.
//	--cross    GOMAXPROCS=2, and each goroutine locked to an OS thread of its own
//	           (runtime.LockOSThread), so that every send wakes the other thread, as a task
//	           on loop 0 and one on loop 1 do. Key chan_pingpong_cross_rtt_ns. Beside
//	           taskring's loops/queue_pingpong_cross. (Without the locks Go's scheduler keeps
//	           two goroutines that hand off to each other on one P: one thread.)
//
// Standard library only, so `go build` / `go run` need no module download.
//
// Usage: go run chan_pingpong.go [--quick] [--cross]   (--quick: fewer round trips, repetitions)
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sort"
	"time"
)

func main() {
	quick, cross := false, false
	for _, a := range os.Args[1:] {
		switch a {
		case "--quick":
			quick = true
		case "--cross":
			cross = true
		default:
			fmt.Fprintf(os.Stderr, "chan_pingpong: unknown argument %s\n", a)
			os.Exit(2)
		}
	}
	// Also set in the environment by taskring_bench, before the runtime starts.
	procs := 1
	if cross {
		procs = 2
	}
	runtime.GOMAXPROCS(procs)
	if cross {
		runtime.LockOSThread() // main's goroutine keeps this thread; the partner gets another
	}
	reps, trips := 5, 1000000
	// Across threads a round trip costs two thread wake-ups (tens of µs in a VM): repetitions
	// of a fixed time instead of a fixed count.
	repTime := 200 * time.Millisecond
	if quick {
		reps, trips, repTime = 3, 200000, 50*time.Millisecond
	}

	ping, pong := make(chan int), make(chan int)
	go func() {
		if cross {
			runtime.LockOSThread()
		}
		for v := range ping {
			pong <- v
		}
		close(pong)
	}()
	round := func(n int) time.Duration {
		t0 := time.Now()
		for i := 0; i < n; i++ {
			ping <- i
			if got := <-pong; got != i {
				fmt.Fprintf(os.Stderr, "chan_pingpong: sent %d, got %d\n", i, got)
				os.Exit(1)
			}
		}
		return time.Since(t0)
	}
	// One repetition: ns per round trip.
	rep := func() float64 {
		if !cross {
			return float64(round(trips).Nanoseconds()) / float64(trips)
		}
		var spent time.Duration
		n := 0
		for spent < repTime {
			spent += round(200)
			n += 200
		}
		return float64(spent.Nanoseconds()) / float64(n)
	}
	if cross {
		round(2000) // warm up: both threads started, the partner parked in its receive
	} else {
		round(trips / 10)
	}

	samples := make([]float64, reps)
	for r := range samples {
		samples[r] = rep()
	}
	close(ping)
	<-pong
	sort.Float64s(samples)

	key := "chan_pingpong_rtt_ns"
	if cross {
		key = "chan_pingpong_cross_rtt_ns"
	}
	out := map[string]any{
		"peer":       "go",
		"go":         runtime.Version(),
		"gomaxprocs": runtime.GOMAXPROCS(0),
		"locked":     cross,
		"reps":       reps,
		key:          samples[reps/2],
	}
	if !cross {
		out["round_trips"] = trips
	}
	text, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chan_pingpong:", err)
		os.Exit(1)
	}
	fmt.Println(string(text))
}
