// nullsink: an OTLP/HTTP receiver that keeps nothing. It answers 200 with an empty
// ExportTraceServiceResponse to every POST /v1/traces (and an empty response to every POST
// /v1/metrics) and counts requests and bytes, so the benchmark can measure sonde without a
// collector's cost.
//
//	nullsink -addr 127.0.0.1:14318
//
// GET /stats returns {"requests":N,"bytes":N,"first_unix_ns":T,"last_unix_ns":T,
// "metrics_requests":N,"metrics_bytes":N} (requests and bytes count the traces only);
// POST /reset zeroes the counters.
package main

import (
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"
	"sync"
	"time"
)

type stats struct {
	Requests    int64 `json:"requests"`
	Bytes       int64 `json:"bytes"`
	FirstUnixNs int64 `json:"first_unix_ns"`
	LastUnixNs  int64 `json:"last_unix_ns"`

	MetricsRequests int64 `json:"metrics_requests"`
	MetricsBytes    int64 `json:"metrics_bytes"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:14318", "listen address")
	flag.Parse()

	var mu sync.Mutex
	var st stats
	buf := sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

	mux := http.NewServeMux()
	// sonde's request metrics (OTLP /v1/metrics) are taken and counted apart
	mux.HandleFunc("/v1/metrics", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		b := buf.Get().(*[]byte)
		n, _ := io.CopyBuffer(io.Discard, r.Body, *b)
		buf.Put(b)
		mu.Lock()
		st.MetricsRequests++
		st.MetricsBytes += n
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK) // an ExportMetricsServiceResponse with no fields
	})
	mux.HandleFunc("/v1/traces", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		now := time.Now().UnixNano()
		b := buf.Get().(*[]byte)
		n, _ := io.CopyBuffer(io.Discard, r.Body, *b)
		buf.Put(b)
		mu.Lock()
		if st.Requests == 0 {
			st.FirstUnixNs = now
		}
		st.Requests++
		st.Bytes += n
		st.LastUnixNs = now
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK) // empty body: an ExportTraceServiceResponse with no fields
	})
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		s := st
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s)
	})
	mux.HandleFunc("/reset", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		st = stats{}
		mu.Unlock()
	})
	log.Printf("nullsink: listening on %s", *addr)
	log.Fatal(http.ListenAndServe(*addr, mux))
}
