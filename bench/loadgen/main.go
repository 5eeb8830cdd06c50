// loadgen: an open-loop HTTP/1.1 load generator (like wrk2): it sends requests at a fixed rate
// over keep-alive connections and records each request's latency from the time it was due to
// be sent, so a slow server (or a slow client) cannot hide its queueing. Standard library only.
//
//	loadgen -addr 127.0.0.1:18080 -path / -rate 20000 -duration 10s -warmup 2s -conns 32
//
// It prints one JSON object on stdout: requests sent and completed, errors, the achieved rate,
// and latency percentiles in microseconds, both from the due time ("latency") and from the
// moment the request was written ("service"). Responses must carry Content-Length.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type sample struct {
	latency int64 // ns from due time to the last response byte
	service int64 // ns from write to the last response byte
}

type result struct {
	Rate        float64            `json:"rate_target"`
	Duration    float64            `json:"duration_s"`
	Conns       int                `json:"conns"`
	Due         int64              `json:"due"`
	Completed   int64              `json:"completed"`
	Measured    int64              `json:"measured"`
	Errors      int64              `json:"errors"`
	NotSent     int64              `json:"not_sent"`
	Achieved    float64            `json:"rate_achieved"`
	LatencyUs   map[string]float64 `json:"latency_us"`
	ServiceUs   map[string]float64 `json:"service_us"`
	MaxLagUs    float64            `json:"max_dispatch_lag_us"`
	FirstError  string             `json:"first_error,omitempty"`
	ElapsedSecs float64            `json:"elapsed_s"`
}

// readResponse reads one response and returns its status code.
func readResponse(r *bufio.Reader) (int, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	clen := -1
	for {
		h, err := r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(h) <= 2 {
			break
		}
		if len(h) > 15 && bytes.EqualFold(h[:15], []byte("content-length:")) {
			clen, err = strconv.Atoi(string(bytes.TrimSpace(h[15:])))
			if err != nil {
				return 0, fmt.Errorf("bad content-length %q", h)
			}
		}
	}
	if clen < 0 {
		return 0, errors.New("response without Content-Length")
	}
	if _, err := r.Discard(clen); err != nil {
		return 0, err
	}
	return code, nil
}

func percentiles(v []int64) map[string]float64 {
	out := map[string]float64{}
	if len(v) == 0 {
		return out
	}
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	for _, p := range []struct {
		name string
		q    float64
	}{{"p50", 0.50}, {"p90", 0.90}, {"p99", 0.99}, {"p999", 0.999}} {
		i := int(p.q*float64(len(v))+0.5) - 1
		if i < 0 {
			i = 0
		}
		if i >= len(v) {
			i = len(v) - 1
		}
		out[p.name] = float64(v[i]) / 1e3
	}
	out["max"] = float64(v[len(v)-1]) / 1e3
	var sum float64
	for _, x := range v {
		sum += float64(x)
	}
	out["mean"] = sum / float64(len(v)) / 1e3
	return out
}

func main() {
	addr := flag.String("addr", "127.0.0.1:18080", "server host:port")
	path := flag.String("path", "/", "request path")
	rate := flag.Float64("rate", 1000, "requests per second")
	duration := flag.Duration("duration", 10*time.Second, "measured time (after the warm-up)")
	warmup := flag.Duration("warmup", 2*time.Second, "time at the same rate that is not recorded")
	conns := flag.Int("conns", 32, "keep-alive connections")
	flag.Parse()

	req := []byte("GET " + *path + " HTTP/1.1\r\nHost: " + *addr + "\r\nUser-Agent: sonde-bench-loadgen\r\n\r\n")
	total := *warmup + *duration
	n := int64(total.Seconds() * *rate)
	interval := float64(time.Second) / *rate
	due := make(chan int64, n+1) // ns after start

	var completed, errs int64
	var firstErr atomic.Value
	results := make([][]sample, *conns)
	start := time.Now()
	warmNs := int64(*warmup)

	var wg sync.WaitGroup
	for c := 0; c < *conns; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			var conn net.Conn
			var rd *bufio.Reader
			local := make([]sample, 0, n/int64(*conns)+1024)
			for d := range due {
				if conn == nil {
					var err error
					conn, err = net.Dial("tcp", *addr)
					if err != nil {
						atomic.AddInt64(&errs, 1)
						firstErr.CompareAndSwap(nil, err.Error())
						time.Sleep(10 * time.Millisecond)
						continue
					}
					rd = bufio.NewReaderSize(conn, 16<<10)
				}
				sent := time.Since(start)
				_, err := conn.Write(req)
				if err == nil {
					var code int
					code, err = readResponse(rd)
					if err == nil && code >= 400 {
						err = fmt.Errorf("status %d", code)
					}
				}
				done := int64(time.Since(start))
				if err != nil {
					atomic.AddInt64(&errs, 1)
					firstErr.CompareAndSwap(nil, err.Error())
					conn.Close()
					conn = nil
					continue
				}
				atomic.AddInt64(&completed, 1)
				if d >= warmNs {
					local = append(local, sample{done - d, done - int64(sent)})
				}
			}
			if conn != nil {
				conn.Close()
			}
			results[c] = local
		}(c)
	}

	// Dispatcher: one OS thread that sleeps with nanosleep (the Go runtime's own timers wake up
	// with millisecond granularity when the process is idle, which would send requests in bursts)
	// and releases every request that is due.
	var maxLag int64
	dispatched := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		// Timer slack 1 ns on this thread: nanosleep returns on time, not up to 50 µs late.
		syscall.Syscall(syscall.SYS_PRCTL, 29 /* PR_SET_TIMERSLACK */, 1, 0)
		var i int64
		for i < n {
			now := int64(time.Since(start))
			for i < n {
				d := int64(float64(i) * interval)
				if d > now {
					break
				}
				if now-d > maxLag {
					maxLag = now - d
				}
				due <- d
				i++
			}
			if i < n {
				next := int64(float64(i)*interval) - int64(time.Since(start))
				if next > 0 {
					ts := syscall.NsecToTimespec(next)
					syscall.Nanosleep(&ts, nil)
				}
			}
		}
		close(dispatched)
	}()
	<-dispatched
	close(due)
	// Requests still queued when the schedule ends are sent; give them at most 5 s.
	doneCh := make(chan struct{})
	go func() { wg.Wait(); close(doneCh) }()
	select {
	case <-doneCh:
	case <-time.After(5 * time.Second):
	}
	elapsed := time.Since(start)

	var lat, svc []int64
	for _, r := range results {
		for _, s := range r {
			lat = append(lat, s.latency)
			svc = append(svc, s.service)
		}
	}
	res := result{
		Rate: *rate, Duration: duration.Seconds(), Conns: *conns, Due: n,
		Completed: atomic.LoadInt64(&completed), Measured: int64(len(lat)),
		Errors: atomic.LoadInt64(&errs), LatencyUs: percentiles(lat), ServiceUs: percentiles(svc),
		MaxLagUs: float64(maxLag) / 1e3, ElapsedSecs: elapsed.Seconds(),
	}
	res.NotSent = n - res.Completed - res.Errors
	res.Achieved = float64(res.Measured) / duration.Seconds()
	if e, ok := firstErr.Load().(string); ok {
		res.FirstError = e
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		io.WriteString(os.Stderr, err.Error())
		os.Exit(1)
	}
}
