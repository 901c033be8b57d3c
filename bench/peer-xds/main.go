// The peer of the xDS fan-out benchmark (bench/xds-fanout.ts): go-control-plane's
// SnapshotCache (ADS mode, one snapshot shared by every node) and its xDS server
// (SotW and delta ADS), serving the resources the bench sends it, which are the
// ones our control plane serves (its snapshot's Any bytes, per type, with our
// per-type versions, so the peer pushes exactly what we push: only the RDS
// resource changes per round). The bench points the same client harness
// (bench/xds-fanout-clients.ts) at it and reads what this program measures from
// its stdout. Tooling only; not part of the product.
//
// stdin, one JSON object per line:
//
//	{"seq": 0, "nodes": N, "types": {"<typeUrl>": {"version": "...", "resources": ["<base64 Any>", ...]}}}
//	    sets the snapshot (t0 = when the line was read) and waits for the ACKs of its RDS version
//	{"cmd": "stats", "gc": true}  prints memory figures (after a GC when asked)
//
// stdout, one JSON object per line:
//
//	{"event": "listening", "address": "127.0.0.1:P", "pid": ...}
//	{"event": "snapshot", "seq": k, ...}            the snapshot is set
//	{"event": "synced", "seq": 0, "ms": ...}        every node ACKed the first snapshot's RDS version
//	{"event": "acked", "seq": k, "times": [...]}    every node ACKed snapshot k's RDS version: per-node ms since t0
//	{"event": "stats", ...}
//
// EOF on stdin ends the program.
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	// Registered so anypb.UnmarshalNew knows every type of the snapshot.
	_ "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/v3"
)

// oneKey maps every node to the same snapshot: the idiomatic shared snapshot.
type oneKey struct{}

func (oneKey) ID(*core.Node) string { return "all" }

type input struct {
	Cmd   string `json:"cmd"`
	GC    bool   `json:"gc"`
	Seq   int    `json:"seq"`
	Nodes int    `json:"nodes"`
	Types map[string]struct {
		Version   string   `json:"version"`
		Resources []string `json:"resources"`
	} `json:"types"`
}

// round: the ACKs of one snapshot's RDS version.
type round struct {
	seq     int
	version string
	t0      time.Time
	nodes   int
	acked   map[string]float64
	done    bool
}

type tracker struct {
	mu sync.Mutex
	r  *round
	// Node id per stream (only the first request of a stream names the node).
	sotwNode  map[int64]string
	deltaNode map[int64]string
	// Delta: nonce -> system version of the RDS responses not yet answered, per stream.
	deltaNonce map[int64]map[string]string
	out        *output
}

type output struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (o *output) emit(v map[string]any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(fmt.Sprintf(`{"event":"error","message":%q}`, err.Error()))
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.w.Write(b)
	o.w.WriteByte('\n')
	o.w.Flush()
}

func (t *tracker) ack(node, version string) {
	now := time.Now()
	t.mu.Lock()
	r := t.r
	if r == nil || r.done || version != r.version {
		t.mu.Unlock()
		return
	}
	if _, seen := r.acked[node]; seen {
		t.mu.Unlock()
		return
	}
	r.acked[node] = float64(now.Sub(r.t0).Microseconds()) / 1000
	if len(r.acked) < r.nodes {
		t.mu.Unlock()
		return
	}
	r.done = true
	t.mu.Unlock()
	// Printed outside the lock: the round is done, nothing else writes to it.
	if r.seq == 0 {
		max := 0.0
		for _, v := range r.acked {
			if v > max {
				max = v
			}
		}
		t.out.emit(map[string]any{"event": "synced", "seq": r.seq, "version": r.version, "nodes": r.nodes, "ms": max})
		return
	}
	times := make([]float64, 0, len(r.acked))
	for _, v := range r.acked {
		times = append(times, v)
	}
	t.out.emit(map[string]any{"event": "acked", "seq": r.seq, "version": r.version, "nodes": r.nodes, "times": times})
}

func (t *tracker) callbacks() server.CallbackFuncs {
	return server.CallbackFuncs{
		StreamRequestFunc: func(id int64, req *discoverygrpc.DiscoveryRequest) error {
			t.mu.Lock()
			if n := req.GetNode(); n != nil {
				t.sotwNode[id] = n.GetId()
			}
			node := t.sotwNode[id]
			t.mu.Unlock()
			// An ACK: a request answering a response, without an error, naming the version it now has.
			if req.GetTypeUrl() == resource.RouteType && req.GetResponseNonce() != "" && req.GetErrorDetail() == nil {
				t.ack(node, req.GetVersionInfo())
			}
			return nil
		},
		StreamClosedFunc: func(id int64, _ *core.Node) {
			t.mu.Lock()
			delete(t.sotwNode, id)
			t.mu.Unlock()
		},
		StreamDeltaResponseFunc: func(id int64, _ *discoverygrpc.DeltaDiscoveryRequest, resp *discoverygrpc.DeltaDiscoveryResponse) {
			if resp.GetTypeUrl() != resource.RouteType {
				return
			}
			t.mu.Lock()
			m := t.deltaNonce[id]
			if m == nil {
				m = map[string]string{}
				t.deltaNonce[id] = m
			}
			m[resp.GetNonce()] = resp.GetSystemVersionInfo()
			t.mu.Unlock()
		},
		StreamDeltaRequestFunc: func(id int64, req *discoverygrpc.DeltaDiscoveryRequest) error {
			t.mu.Lock()
			if n := req.GetNode(); n != nil {
				t.deltaNode[id] = n.GetId()
			}
			node := t.deltaNode[id]
			version, isAck := "", false
			if req.GetTypeUrl() == resource.RouteType && req.GetResponseNonce() != "" {
				if m := t.deltaNonce[id]; m != nil {
					version, isAck = m[req.GetResponseNonce()]
					delete(m, req.GetResponseNonce())
				}
			}
			t.mu.Unlock()
			if isAck && req.GetErrorDetail() == nil {
				t.ack(node, version)
			}
			return nil
		},
		DeltaStreamClosedFunc: func(id int64, _ *core.Node) {
			t.mu.Lock()
			delete(t.deltaNode, id)
			delete(t.deltaNonce, id)
			t.mu.Unlock()
		},
	}
}

// reencoding: how go-control-plane's own (deterministic) marshalling, which it
// does for every response, compares with the bytes it was given.
type reencoding struct {
	Resources int `json:"resources"`
	// Identical byte for byte; the others differ in field order only when the
	// sizes agree (Go writes fields in number order, ts-proto in declaration order).
	Identical int `json:"identical"`
	BytesIn   int `json:"bytesIn"`
	BytesOut  int `json:"bytesOut"`
}

// snapshot decodes one input line into go-control-plane's Snapshot, each type
// with the version our control plane gave it.
func snapshot(in *input) (*cache.Snapshot, reencoding, error) {
	snap := &cache.Snapshot{}
	re := reencoding{}
	for typeURL, set := range in.Types {
		idx := cache.GetResponseType(typeURL)
		if idx == types.UnknownType {
			return nil, re, fmt.Errorf("unknown resource type %q", typeURL)
		}
		items := make([]types.Resource, 0, len(set.Resources))
		for _, b64 := range set.Resources {
			raw, err := base64.StdEncoding.DecodeString(b64)
			if err != nil {
				return nil, re, err
			}
			a := &anypb.Any{}
			if err := proto.Unmarshal(raw, a); err != nil {
				return nil, re, err
			}
			if a.GetTypeUrl() != typeURL {
				return nil, re, fmt.Errorf("a %s resource in the %s set", a.GetTypeUrl(), typeURL)
			}
			m, err := anypb.UnmarshalNew(a, proto.UnmarshalOptions{})
			if err != nil {
				return nil, re, err
			}
			again, err := cache.MarshalResource(m)
			if err != nil {
				return nil, re, err
			}
			re.Resources++
			re.BytesIn += len(a.GetValue())
			re.BytesOut += len(again)
			if string(again) == string(a.GetValue()) {
				re.Identical++
			}
			items = append(items, m)
		}
		snap.Resources[idx] = cache.NewResources(set.Version, items)
	}
	return snap, re, nil
}

func memFigures(gc bool) map[string]any {
	if gc {
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return map[string]any{"heapAlloc": ms.HeapAlloc, "heapInuse": ms.HeapInuse, "stackInuse": ms.StackInuse, "sys": ms.Sys, "goroutines": runtime.NumGoroutine()}
}

func main() {
	port := flag.Int("port", 0, "TCP port on 127.0.0.1 (0: any free one)")
	nodes := flag.Int("nodes", 1, "nodes whose ACKs complete a round, unless a snapshot line names them")
	flag.Parse()

	out := &output{w: bufio.NewWriter(os.Stdout)}
	t := &tracker{sotwNode: map[int64]string{}, deltaNode: map[int64]string{}, deltaNonce: map[int64]map[string]string{}, out: out}
	ctx := context.Background()
	snapshots := cache.NewSnapshotCache(true, oneKey{}, nil)
	xds := server.NewServer(ctx, snapshots, t.callbacks())

	// As go-control-plane's example server: many streams, keepalive as our control plane's (30 s / 10 s).
	gs := grpc.NewServer(
		grpc.MaxConcurrentStreams(1000000),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 30 * time.Second, PermitWithoutStream: true}),
		grpc.MaxRecvMsgSize(4*1024*1024),
	)
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(gs, xds)
	lis, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "peer-xds:", err)
		os.Exit(1)
	}
	go func() {
		if err := gs.Serve(lis); err != nil {
			fmt.Fprintln(os.Stderr, "peer-xds: serve:", err)
			os.Exit(1)
		}
	}()
	out.emit(map[string]any{"event": "listening", "address": lis.Addr().String(), "pid": os.Getpid()})

	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		t0 := time.Now()
		var in input
		if err := json.Unmarshal(sc.Bytes(), &in); err != nil {
			out.emit(map[string]any{"event": "error", "message": err.Error()})
			continue
		}
		if in.Cmd == "stats" {
			out.emit(map[string]any{"event": "stats", "memory": memFigures(in.GC)})
			continue
		}
		snap, re, err := snapshot(&in)
		if err != nil {
			out.emit(map[string]any{"event": "error", "seq": in.Seq, "message": err.Error()})
			continue
		}
		n := in.Nodes
		if n <= 0 {
			n = *nodes
		}
		version := snap.GetVersion(resource.RouteType)
		t.mu.Lock()
		t.r = &round{seq: in.Seq, version: version, t0: t0, nodes: n, acked: make(map[string]float64, n)}
		t.mu.Unlock()
		if err := snapshots.SetSnapshot(ctx, "all", snap); err != nil {
			out.emit(map[string]any{"event": "error", "seq": in.Seq, "message": err.Error()})
			continue
		}
		out.emit(map[string]any{"event": "snapshot", "seq": in.Seq, "routeVersion": version, "reencoding": re, "setMs": float64(time.Since(t0).Microseconds()) / 1000})
	}
	gs.Stop()
}
