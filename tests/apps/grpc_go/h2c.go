package main

// grpc_go h2c PORT: an HTTP server that speaks HTTP/1.1 and, on a request that asks for it
// (Upgrade: h2c, as curl --http2 sends), upgrades the connection to HTTP/2 in clear text
// (golang.org/x/net/http2/h2c, the way Go does the upgrade). It prints "LISTENING <port>".
// Every path answers 200 with "ok <path>"; /status/NNN answers NNN.

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

func runH2C(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("want PORT")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+args[0])
	if err != nil {
		return err
	}
	fmt.Printf("LISTENING %d\n", ln.Addr().(*net.TCPAddr).Port)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := http.StatusOK
		if s, ok := strings.CutPrefix(r.URL.Path, "/status/"); ok {
			if n, err := strconv.Atoi(s); err == nil && n >= 200 && n <= 599 {
				code = n
			}
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, "ok %s %s\n", r.URL.Path, r.Proto)
	})
	return http.Serve(ln, h2c.NewHandler(h, &http2.Server{}))
}
