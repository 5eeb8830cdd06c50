// go_hop: a plain Go net/http server for sonde's tests (standard library only, no OTel).
//
//	go_hop -addr 127.0.0.1:0 [-tls-cert CERT -tls-key KEY]
//
// Prints "LISTENING <port>" once it accepts connections; serves HTTPS (HTTP/1.1 and HTTP/2 by
// ALPN, Go's crypto/tls) with -tls-cert and -tls-key. Routes:
//
//	GET /hop/<k>?next=URL   calls GET URL (http:// or https://, CAs from SSL_CERT_FILE; keep-alive
//	                        client), then 200 "hop <k> <status>"
//	GET /db/<k>?redis=ADDR  sends GET <k> to the Redis server at ADDR over a pooled connection,
//	                        written from the handler's goroutine (as database drivers do), then
//	                        200 "db <k> <reply type>"
//	anything else           200 "hello from go_hop"
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// redisConn is one pooled connection to a Redis server: a RESP request and its one-line reply.
type redisConn struct {
	c net.Conn
	r *bufio.Reader
}

var redisPool sync.Pool

func redisGet(addr, key string) (string, error) {
	rc, _ := redisPool.Get().(*redisConn)
	if rc == nil {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return "", err
		}
		rc = &redisConn{c: c, r: bufio.NewReader(c)}
	}
	req := fmt.Sprintf("*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n", len(key), key)
	if _, err := rc.c.Write([]byte(req)); err != nil {
		rc.c.Close()
		return "", err
	}
	line, err := rc.r.ReadString('\n')
	if err != nil {
		rc.c.Close()
		return "", err
	}
	if strings.HasPrefix(line, "$") && line != "$-1\r\n" {
		// a bulk string: its payload and CRLF follow
		var n int
		fmt.Sscanf(line, "$%d", &n)
		if _, err := io.CopyN(io.Discard, rc.r, int64(n+2)); err != nil {
			rc.c.Close()
			return "", err
		}
	}
	redisPool.Put(rc)
	return line[:1], nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	cert := flag.String("tls-cert", "", "serve HTTPS with this certificate (PEM)")
	key := flag.String("tls-key", "", "... and this key (PEM)")
	flag.Parse()
	client := &http.Client{Timeout: 30 * time.Second}
	mux := http.NewServeMux()
	mux.HandleFunc("/hop/", func(w http.ResponseWriter, r *http.Request) {
		next := r.URL.Query().Get("next")
		if !strings.HasPrefix(next, "http://") && !strings.HasPrefix(next, "https://") {
			http.Error(w, "next must be an http:// or https:// URL", http.StatusBadRequest)
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
	mux.HandleFunc("/db/", func(w http.ResponseWriter, r *http.Request) {
		k := strings.TrimPrefix(r.URL.Path, "/db/")
		t, err := redisGet(r.URL.Query().Get("redis"), k)
		if err != nil {
			http.Error(w, "redis failed: "+err.Error(), http.StatusBadGateway)
			return
		}
		fmt.Fprintf(w, "db %s %s\n", k, t)
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
	if *cert != "" {
		http.ServeTLS(ln, mux, *cert, *key)
		return
	}
	http.Serve(ln, mux)
}
