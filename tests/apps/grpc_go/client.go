// The Echo client: COUNT calls of METHOD over one connection (one grpc.ClientConn), CONCURRENCY
// of them in flight, each with its own deadline of DEADLINE_MS (none when absent or 0). It
// prints one JSON line, {"ok": N, "errors": {"<code>": N, ...}, "pid": P}, and exits 0 whatever
// the calls' statuses: a call counts as ok if it ended with status OK and exactly the expected
// replies, as "mismatch" if it ended OK with other replies, else under its numeric status code.
//
// What each call sends (PAYLOAD replaces the first message; an empty PAYLOAD keeps the default):
//
//	Unary         "hello"
//	ServerStream  "3"
//	ClientStream  "part-0", "part-1", "part-2"
//	Bidi          "part-0", "part-1", "part-2", each sent after the reply to the one before
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

var defaultRequests = map[string][]string{
	"Unary":        {"hello"},
	"ServerStream": {"3"},
	"ClientStream": {"part-0", "part-1", "part-2"},
	"Bidi":         {"part-0", "part-1", "part-2"},
}

// replyTo is the server's answer to a request that is not fail: (see server.go).
func replyTo(req string) string {
	if targets, ok := strings.CutPrefix(req, "call:"); ok {
		return strings.Repeat("hop:", strings.Count(targets, ",")+1) + "hop"
	}
	return req
}

func expectedReplies(method string, reqs []string) []string {
	switch method {
	case "ServerStream":
		n, err := strconv.Atoi(reqs[0])
		if err != nil {
			return []string{replyTo(reqs[0])}
		}
		out := []string{}
		for i := 0; i < n; i++ {
			out = append(out, fmt.Sprintf("msg-%d", i))
		}
		return out
	case "ClientStream":
		return []string{replyTo(reqs[0]) + strings.Join(reqs[1:], "")}
	}
	return append([]string{replyTo(reqs[0])}, reqs[1:]...)
}

// exchange makes one call and returns the replies it got before the call ended.
func exchange(ctx context.Context, conn *grpc.ClientConn, method string,
	reqs []string) ([]string, error) {
	path := "/" + service + "/" + method
	if method == "Unary" {
		var reply []byte
		err := conn.Invoke(ctx, path, []byte(reqs[0]), &reply)
		return []string{string(reply)}, err
	}
	desc := &grpc.StreamDesc{StreamName: method, ServerStreams: method != "ClientStream",
		ClientStreams: method != "ServerStream"}
	cs, err := conn.NewStream(ctx, desc, path)
	if err != nil {
		return nil, err
	}
	var got []string
	for _, req := range reqs {
		// io.EOF means the server has ended the call: its status comes from RecvMsg.
		if err := cs.SendMsg([]byte(req)); err != nil {
			break
		}
		if method == "Bidi" {
			var reply []byte
			if err := cs.RecvMsg(&reply); err != nil {
				return got, ignoreEOF(err)
			}
			got = append(got, string(reply))
		}
	}
	if err := cs.CloseSend(); err != nil {
		return got, err
	}
	for {
		var reply []byte
		if err := cs.RecvMsg(&reply); err != nil {
			return got, ignoreEOF(err)
		}
		got = append(got, string(reply))
		// Without server streaming, the first RecvMsg has read the status as well.
		if !desc.ServerStreams {
			return got, nil
		}
	}
}

func ignoreEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// callOnce returns "" for a call that went as expected, else the key it counts under.
func callOnce(conn *grpc.ClientConn, method string, reqs, want []string,
	deadline time.Duration) string {
	ctx, cancel := context.WithCancel(context.Background())
	if deadline > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), deadline)
	}
	defer cancel()
	got, err := exchange(ctx, conn, method, reqs)
	if err != nil {
		return strconv.Itoa(int(status.Code(err)))
	}
	if !slices.Equal(got, want) {
		return "mismatch"
	}
	return ""
}

func nonNegative(name, s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s must be a number >= 0, not %q", name, s)
	}
	return n, nil
}

func runClient(args []string) error {
	if len(args) < 4 || len(args) > 6 {
		usage()
	}
	target, method := args[0], args[1]
	defaults, ok := defaultRequests[method]
	if !ok {
		return fmt.Errorf("unknown method %q (Unary, ServerStream, ClientStream or Bidi)", method)
	}
	count, err := nonNegative("COUNT", args[2])
	if err != nil {
		return err
	}
	concurrency, err := nonNegative("CONCURRENCY", args[3])
	if err != nil {
		return err
	}
	reqs := slices.Clone(defaults)
	if len(args) > 4 && args[4] != "" {
		reqs[0] = args[4]
	}
	var deadline time.Duration
	if len(args) > 5 {
		ms, err := nonNegative("DEADLINE_MS", args[5])
		if err != nil {
			return err
		}
		deadline = time.Duration(ms) * time.Millisecond
	}
	creds, err := clientCredentials()
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(target, creds)
	if err != nil {
		return err
	}
	defer conn.Close()

	want := expectedReplies(method, reqs)
	var next atomic.Int64
	var mu sync.Mutex
	summary := struct {
		OK     int            `json:"ok"`
		Errors map[string]int `json:"errors"`
		PID    int            `json:"pid"`
	}{Errors: map[string]int{}, PID: os.Getpid()}
	var wg sync.WaitGroup
	for range max(concurrency, 1) {
		wg.Go(func() {
			for next.Add(1) <= int64(count) {
				key := callOnce(conn, method, reqs, want, deadline)
				mu.Lock()
				if key == "" {
					summary.OK++
				} else {
					summary.Errors[key]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	line, err := json.Marshal(summary)
	if err != nil {
		return err
	}
	fmt.Println(string(line))
	return nil
}
