// The Echo server. It listens on 127.0.0.1:PORT (0 picks a free port), prints "port N" once it
// accepts connections, and serves clear-text HTTP/2 until SIGTERM or SIGINT, then exits 0.
//
// Methods (every message is ASCII bytes):
//
//	Unary         replies with the request
//	ServerStream  request "N" (a number): N replies "msg-0" ... "msg-<N-1>";
//	              any other request: one reply, as Unary would give
//	ClientStream  one reply: the concatenation of all requests
//	Bidi          replies to each request as it comes, with the request
//
// The request of Unary and the first request of the others may ask for something else:
//
//	fail:CODE          the call ends with gRPC status CODE and the message "sonde test", before
//	                   any reply (so a unary call gets a trailers-only response)
//	sleep:MS           wait MS milliseconds (less if the call is cancelled) before replying
//	call:HOST:PORT[,HOST:PORT...]
//	                   call Unary on the Echo server at the first HOST:PORT, with "hop" as the
//	                   request, or with "call:<the rest>" if more targets follow, and reply
//	                   "hop:<its reply>" instead of the request (a failed call's status ends
//	                   this one). Each chain of N targets thus replies "hop:" N times, then "hop".
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// echoServer holds one client connection per downstream target of "call:", made on first use
// and shared by all calls, as a service keeps its channels to the services it calls.
type echoServer struct {
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

var echoDesc = grpc.ServiceDesc{
	ServiceName: service,
	HandlerType: (*any)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Unary", Handler: handleUnary}},
	Streams: []grpc.StreamDesc{
		{StreamName: "ServerStream", Handler: handleServerStream, ServerStreams: true},
		{StreamName: "ClientStream", Handler: handleClientStream, ClientStreams: true},
		{StreamName: "Bidi", Handler: handleBidi, ServerStreams: true, ClientStreams: true},
	},
	Metadata: "hand-written, no .proto",
}

func (s *echoServer) conn(target string) (*grpc.ClientConn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.conns[target]; ok {
		return c, nil
	}
	creds, err := clientCredentials()
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "call:%s: %v", target, err)
	}
	c, err := grpc.NewClient(target, creds)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "call:%s: %v", target, err)
	}
	s.conns[target] = c
	return c, nil
}

// answer applies a directive (see the file's comment) and returns the reply to req.
func (s *echoServer) answer(ctx context.Context, req []byte) ([]byte, error) {
	text := string(req)
	switch {
	case strings.HasPrefix(text, "fail:"):
		code, err := strconv.Atoi(text[len("fail:"):])
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "bad directive %q", text)
		}
		return nil, status.Error(codes.Code(code), "sonde test")
	case strings.HasPrefix(text, "sleep:"):
		ms, err := strconv.Atoi(text[len("sleep:"):])
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "bad directive %q", text)
		}
		t := time.NewTimer(time.Duration(ms) * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		return req, nil
	case strings.HasPrefix(text, "call:"):
		return s.hop(ctx, text[len("call:"):])
	}
	return req, nil
}

// hop calls the first of targets and passes the rest along. ctx carries the caller's deadline
// and cancellation to the downstream call, but none of its metadata.
func (s *echoServer) hop(ctx context.Context, targets string) ([]byte, error) {
	first, rest, more := strings.Cut(targets, ",")
	req := []byte("hop")
	if more {
		req = []byte("call:" + rest)
	}
	c, err := s.conn(first)
	if err != nil {
		return nil, err
	}
	var reply []byte
	if err := c.Invoke(ctx, "/"+service+"/Unary", req, &reply); err != nil {
		return nil, err
	}
	return append([]byte("hop:"), reply...), nil
}

func handleUnary(srv any, ctx context.Context, dec func(any) error,
	_ grpc.UnaryServerInterceptor) (any, error) {
	var req []byte
	if err := dec(&req); err != nil {
		return nil, err
	}
	return srv.(*echoServer).answer(ctx, req)
}

func handleServerStream(srv any, stream grpc.ServerStream) error {
	var req []byte
	if err := stream.RecvMsg(&req); err != nil {
		return err
	}
	if n, err := strconv.Atoi(string(req)); err == nil {
		for i := 0; i < n; i++ {
			if err := stream.SendMsg([]byte(fmt.Sprintf("msg-%d", i))); err != nil {
				return err
			}
		}
		return nil
	}
	reply, err := srv.(*echoServer).answer(stream.Context(), req)
	if err != nil {
		return err
	}
	return stream.SendMsg(reply)
}

func handleClientStream(srv any, stream grpc.ServerStream) error {
	var out []byte
	for i := 0; ; i++ {
		var req []byte
		err := stream.RecvMsg(&req)
		if errors.Is(err, io.EOF) {
			return stream.SendMsg(out)
		}
		if err != nil {
			return err
		}
		if i == 0 {
			if req, err = srv.(*echoServer).answer(stream.Context(), req); err != nil {
				return err
			}
		}
		out = append(out, req...)
	}
}

func handleBidi(srv any, stream grpc.ServerStream) error {
	for i := 0; ; i++ {
		var req []byte
		err := stream.RecvMsg(&req)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if i == 0 {
			if req, err = srv.(*echoServer).answer(stream.Context(), req); err != nil {
				return err
			}
		}
		if err := stream.SendMsg(req); err != nil {
			return err
		}
	}
}

func runServer(args []string) error {
	if len(args) != 1 {
		usage()
	}
	lis, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", args[0]))
	if err != nil {
		return err
	}
	opts, err := serverOptions()
	if err != nil {
		return err
	}
	srv := grpc.NewServer(opts...)
	srv.RegisterService(&echoDesc, &echoServer{conns: map[string]*grpc.ClientConn{}})
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	// The listening socket accepts from here on; os.Stdout is unbuffered.
	fmt.Printf("port %d\n", lis.Addr().(*net.TCPAddr).Port)
	select {
	case <-signals:
		srv.Stop()
		return nil
	case err := <-served:
		return err
	}
}
