// chan_pingpong.go - taskring_bench's Go peer: two goroutines bounce one value over two
// unbuffered channels with GOMAXPROCS=1 (both on one OS thread, as taskring's two tasks are on
// one loop); prints flat JSON on stdout:
//
//	chan_pingpong_rtt_ns  one round trip (send on ping, receive the answer on pong), the median
//	                      of the repetitions
//
// Beside taskring's sync/queue_pingpong/maxsize:1 in the summary. Standard library only, so
// `go build` / `go run` need no module download.
//
// Usage: go run chan_pingpong.go [--quick]      (--quick: fewer round trips and repetitions)
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
	runtime.GOMAXPROCS(1) // also set in the environment by taskring_bench, before the runtime starts
	quick := len(os.Args) > 1 && os.Args[1] == "--quick"
	reps, trips := 5, 1000000
	if quick {
		reps, trips = 3, 200000
	}

	ping, pong := make(chan int), make(chan int)
	go func() {
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
	round(trips / 10) // warm up: the partner parks in its receive

	samples := make([]float64, reps)
	for r := range samples {
		samples[r] = float64(round(trips).Nanoseconds()) / float64(trips)
	}
	close(ping)
	<-pong
	sort.Float64s(samples)

	out := map[string]any{
		"peer":                 "go",
		"go":                   runtime.Version(),
		"gomaxprocs":           runtime.GOMAXPROCS(0),
		"reps":                 reps,
		"round_trips":          trips,
		"chan_pingpong_rtt_ns": samples[reps/2],
	}
	text, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chan_pingpong:", err)
		os.Exit(1)
	}
	fmt.Println(string(text))
}
