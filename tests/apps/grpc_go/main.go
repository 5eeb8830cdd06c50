// Command grpc_go is a plain gRPC server and client in Go for sonde's integration tests: no
// OpenTelemetry and no generated code, so that every span sonde reports comes from watching the
// process from outside. The service, sonde.test.Echo, is declared by hand (echoDesc) and its
// messages are raw bytes, so the wire carries exactly the bytes the tests choose.
//
//	grpc_go server PORT
//	grpc_go client HOST:PORT METHOD COUNT CONCURRENCY [PAYLOAD] [DEADLINE_MS]
//	grpc_go h2c PORT    (no gRPC: HTTP/1.1 upgraded to h2c, see h2c.go)
//
// The same service and the same CLI exist in Python (tests/apps/grpc_py.py) and Node
// (tests/apps/grpc_node.js); tests/integration/grpcapps.py starts and drives all three. What the
// handlers do with a request is described in server.go, what the client sends in client.go.
//
// TLS: with GRPC_TEST_TLS_CERT and GRPC_TEST_TLS_KEY (PEM files) set, the server serves TLS;
// with GRPC_TEST_TLS_CERT set, clients (and a server's downstream calls) use TLS and trust that
// certificate (Go's crypto/tls).
package main

import (
	"fmt"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
)

// clientCredentials: TLS trusting GRPC_TEST_TLS_CERT when it is set, else clear text.
func clientCredentials() (grpc.DialOption, error) {
	cert := os.Getenv("GRPC_TEST_TLS_CERT")
	if cert == "" {
		return grpc.WithTransportCredentials(insecure.NewCredentials()), nil
	}
	c, err := credentials.NewClientTLSFromFile(cert, "")
	if err != nil {
		return nil, err
	}
	return grpc.WithTransportCredentials(c), nil
}

// serverOptions: TLS with GRPC_TEST_TLS_CERT and GRPC_TEST_TLS_KEY when both are set.
func serverOptions() ([]grpc.ServerOption, error) {
	cert, key := os.Getenv("GRPC_TEST_TLS_CERT"), os.Getenv("GRPC_TEST_TLS_KEY")
	if cert == "" || key == "" {
		return nil, nil
	}
	c, err := credentials.NewServerTLSFromFile(cert, key)
	if err != nil {
		return nil, err
	}
	return []grpc.ServerOption{grpc.Creds(c)}, nil
}

const service = "sonde.test.Echo"

// rawCodec passes messages through as byte slices. It is registered under the name "proto",
// replacing the protobuf codec in this binary, because gRPC picks the codec by content-subtype
// and "proto" is what a plain "application/grpc" request means: the wire then looks like that
// of any generated client or server (a codec forced under its own name would send
// "application/grpc+<name>").
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) ([]byte, error) {
	switch m := v.(type) {
	case []byte:
		return m, nil
	case *[]byte:
		return *m, nil
	}
	return nil, fmt.Errorf("raw codec: cannot marshal a %T, only []byte", v)
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("raw codec: cannot unmarshal into a %T, only *[]byte", v)
	}
	// gRPC may reuse data's buffer once this returns.
	*p = append([]byte(nil), data...)
	return nil
}

func init() {
	encoding.RegisterCodec(rawCodec{})
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: %s server PORT\n"+
		"       %s client HOST:PORT METHOD COUNT CONCURRENCY [PAYLOAD] [DEADLINE_MS]\n"+
		"       %s h2c PORT\n"+
		"METHOD is Unary, ServerStream, ClientStream or Bidi\n", os.Args[0], os.Args[0],
		os.Args[0])
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "server":
		err = runServer(os.Args[2:])
	case "client":
		err = runClient(os.Args[2:])
	case "h2c":
		err = runH2C(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "grpc_go %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
