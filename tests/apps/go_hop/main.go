// go_hop: a plain Go net/http server for sonde's tests (standard library only, no OTel).
//
//	go_hop -addr 127.0.0.1:0
//
// Prints "LISTENING <port>" once it accepts connections. Routes:
//
//	GET /hop/<k>?next=URL   calls GET URL (http:// only, keep-alive client), then 200 "hop <k> <status>"
//	anything else           200 "hello from go_hop"
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	client := &http.Client{Timeout: 30 * time.Second}
	mux := http.NewServeMux()
	mux.HandleFunc("/hop/", func(w http.ResponseWriter, r *http.Request) {
		next := r.URL.Query().Get("next")
		if !strings.HasPrefix(next, "http://") {
			http.Error(w, "next must be an http:// URL", http.StatusBadRequest)
			return
		}
		resp, err := client.Get(next)
		if err != nil {
			http.Error(w, "hop failed: "+err.Error(), http.StatusBadGateway)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Fprintf(w, "hop %s %d\n", strings.TrimPrefix(r.URL.Path, "/hop/"), resp.StatusCode)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello from go_hop")
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("LISTENING %d\n", ln.Addr().(*net.TCPAddr).Port)
	os.Stdout.Sync()
	http.Serve(ln, mux)
}
