// goserver: the Go net/http application the benchmark loads. Standard library only.
//
//	goserver -addr 127.0.0.1:18081
//
// GET / (and any other path) answers 200 with a 13-byte text body, like the nginx target's
// `return 200`; GET /api/users/{n} answers a small JSON object.
package main

import (
	"flag"
	"log"
	"net/http"
	"strings"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18081", "listen address")
	flag.Parse()

	hello := []byte("hello, world\n")
	mux := http.NewServeMux()
	mux.HandleFunc("/api/users/", func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimPrefix(r.URL.Path, "/api/users/")
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"` + id + `","name":"user"}` + "\n"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(hello)
	})
	srv := &http.Server{Addr: *addr, Handler: mux}
	log.Printf("goserver: listening on %s", *addr)
	log.Fatal(srv.ListenAndServe())
}
