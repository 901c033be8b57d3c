// The floor of the ext-proc benchmark: an ext_proc server that does nothing. It
// answers each of the four phases the envelope needs (request headers, buffered
// request body, response headers, buffered response body) with an empty CONTINUE
// and, after the response body, reads on until Envoy half-closes before it ends the
// stream: returning earlier resets every stream (Envoy counts rx_reset), which costs
// both sides and made the old floor no floor. Whatever throughput and latency
// Envoy reaches with it is the best any ext_proc server can reach on the same
// machine with the same phases: the cost of Envoy's side stream itself.
// Tooling only (bench/ext-proc-envelope.ts builds and runs it); not part of the product.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"

	extproc "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
)

type noop struct {
	extproc.UnimplementedExternalProcessorServer
}

func (noop) Process(s extproc.ExternalProcessor_ProcessServer) error {
	for {
		req, err := s.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		resp := &extproc.ProcessingResponse{}
		switch req.Request.(type) {
		case *extproc.ProcessingRequest_RequestHeaders:
			resp.Response = &extproc.ProcessingResponse_RequestHeaders{RequestHeaders: &extproc.HeadersResponse{}}
		case *extproc.ProcessingRequest_RequestBody:
			resp.Response = &extproc.ProcessingResponse_RequestBody{RequestBody: &extproc.BodyResponse{}}
		case *extproc.ProcessingRequest_ResponseHeaders:
			resp.Response = &extproc.ProcessingResponse_ResponseHeaders{ResponseHeaders: &extproc.HeadersResponse{}}
		case *extproc.ProcessingRequest_ResponseBody:
			resp.Response = &extproc.ProcessingResponse_ResponseBody{ResponseBody: &extproc.BodyResponse{}}
		default:
			continue
		}
		if err := s.Send(resp); err != nil {
			return err
		}
		// After the response body Envoy half-closes: the next Recv returns io.EOF.
	}
}

func main() {
	port := flag.Int("port", 0, "TCP port on 127.0.0.1 (0 picks one)")
	socket := flag.String("socket", "", "a Unix socket path instead of TCP")
	flag.Parse()
	var l net.Listener
	var err error
	if *socket != "" {
		_ = os.Remove(*socket)
		l, err = net.Listen("unix", *socket)
	} else {
		l, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	g := grpc.NewServer()
	extproc.RegisterExternalProcessorServer(g, noop{})
	fmt.Printf("reference ext_proc gRPC on %s\n", l.Addr())
	if err := g.Serve(l); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
