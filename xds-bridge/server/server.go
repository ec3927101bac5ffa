// Package server runs go-control-plane's ADS server (SotW and delta) over the translator's caches,
// counts NACKs, measures push latency and records what every node was sent (for /debug/config_dump).
package server

import (
	"context"
	"fmt"
	"maps"
	"net"
	"sort"
	"sync"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/govoy/govoy/xds-bridge/admin/metrics"
)

// Sent is what one node last received for one type.
type Sent struct {
	TypeURL string `json:"type_url"`
	Version string `json:"version"`
	// Resources maps names to versions (delta: the resource's hash; SotW: the response version).
	Resources map[string]string `json:"resources"`
	Nonce     string            `json:"nonce"`
	At        time.Time         `json:"at"`
	// Acked is the last version the node ACKed; LastNack the last error_detail it sent.
	Acked    string `json:"acked,omitempty"`
	LastNack string `json:"last_nack,omitempty"`
}

// NodeView is everything the server sent to one node.
type NodeView struct {
	ID      string           `json:"id"`
	Cluster string           `json:"cluster"`
	Group   string           `json:"group"`
	Delta   bool             `json:"delta"`
	Types   map[string]*Sent `json:"types"`
}

// Options configure a Server.
type Options struct {
	Cache       cachev3.Cache
	Metrics     *metrics.Metrics
	Logger      *zap.Logger
	GroupOf     func(*core.Node) string
	LastApplied func() (uint64, time.Time)
}

type stream struct {
	node    *core.Node
	delta   bool
	seen    map[string]uint64 // type -> last batch seq accounted for in push latency
	openSeq uint64            // batches applied before the stream opened are not its pushes
}

// Server is the xDS server with its bookkeeping.
type Server struct {
	opts Options
	log  *zap.Logger
	xds  serverv3.Server

	mu      sync.Mutex
	streams map[int64]*stream
	nodes   map[string]*NodeView
}

// New creates the server.
func New(ctx context.Context, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.New()
	}
	if opts.GroupOf == nil {
		opts.GroupOf = func(*core.Node) string { return "" }
	}
	if opts.LastApplied == nil {
		opts.LastApplied = func() (uint64, time.Time) { return 0, time.Time{} }
	}
	s := &Server{opts: opts, log: opts.Logger, streams: map[int64]*stream{}, nodes: map[string]*NodeView{}}
	s.xds = serverv3.NewServer(ctx, opts.Cache, s.callbacks())
	return s
}

// Register adds the ADS service (SotW and delta) to a gRPC server.
func (s *Server) Register(g *grpc.Server) {
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(g, s.xds)
}

// Serve listens on addr and serves ADS until ctx is done. ready receives the bound address.
func (s *Server) Serve(ctx context.Context, addr string, ready func(net.Addr)) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("xds listen %s: %w", addr, err)
	}
	g := grpc.NewServer(
		grpc.MaxConcurrentStreams(100000),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 5 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	)
	s.Register(g)
	if ready != nil {
		ready(lis.Addr())
	}
	go func() {
		<-ctx.Done()
		g.Stop()
	}()
	if err := g.Serve(lis); err != nil && ctx.Err() == nil {
		return fmt.Errorf("xds serve: %w", err)
	}
	return nil
}

// Nodes returns a copy of what every node was sent, sorted by node id.
func (s *Server) Nodes() []NodeView {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]NodeView, 0, len(s.nodes))
	for _, n := range s.nodes {
		c := *n
		c.Types = make(map[string]*Sent, len(n.Types))
		for k, v := range n.Types {
			sv := *v
			sv.Resources = maps.Clone(v.Resources) // the live map keeps changing under s.mu
			c.Types[k] = &sv
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (s *Server) nodeLocked(n *core.Node, delta bool) *NodeView {
	v := s.nodes[n.GetId()]
	if v == nil {
		v = &NodeView{ID: n.GetId(), Cluster: n.GetCluster(), Group: s.opts.GroupOf(n), Delta: delta, Types: map[string]*Sent{}}
		s.nodes[n.GetId()] = v
	}
	return v
}

func (s *Server) onRequest(id int64, node *core.Node, typeURL, version string, detail interface{ GetMessage() string }, hasErr bool) {
	if hasErr {
		s.opts.Metrics.Nacks.WithLabelValues(typeURL).Inc()
		s.log.Warn("NACK", zap.String("node", node.GetId()), zap.String("cluster", node.GetCluster()),
			zap.String("type_url", typeURL), zap.String("rejected_after", version), zap.String("error_detail", detail.GetMessage()))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[id]
	if st == nil {
		return
	}
	if node != nil && node.GetId() != "" {
		st.node = node
	}
	if st.node == nil {
		return
	}
	nv := s.nodeLocked(st.node, st.delta)
	sent := nv.Types[typeURL]
	if sent == nil {
		return
	}
	if hasErr {
		sent.LastNack = detail.GetMessage()
	} else if version != "" {
		sent.Acked = version
	}
}

// observe records push latency once per stream, type and applied batch.
func (s *Server) observeLocked(st *stream, typeURL string) {
	seq, first := s.opts.LastApplied()
	if seq <= st.openSeq || first.IsZero() || st.seen[typeURL] >= seq {
		return
	}
	st.seen[typeURL] = seq
	s.opts.Metrics.PushLatency.Observe(time.Since(first).Seconds())
}

func (s *Server) callbacks() serverv3.Callbacks {
	return serverv3.CallbackFuncs{
		StreamOpenFunc: func(_ context.Context, id int64, _ string) error {
			s.opts.Metrics.Streams.Inc()
			s.mu.Lock()
			seq, _ := s.opts.LastApplied()
			s.streams[id] = &stream{seen: map[string]uint64{}, openSeq: seq}
			s.mu.Unlock()
			return nil
		},
		StreamClosedFunc: func(id int64, _ *core.Node) {
			s.opts.Metrics.Streams.Dec()
			s.mu.Lock()
			delete(s.streams, id)
			s.mu.Unlock()
		},
		DeltaStreamOpenFunc: func(_ context.Context, id int64, _ string) error {
			s.opts.Metrics.Streams.Inc()
			s.mu.Lock()
			seq, _ := s.opts.LastApplied()
			s.streams[id] = &stream{delta: true, seen: map[string]uint64{}, openSeq: seq}
			s.mu.Unlock()
			return nil
		},
		DeltaStreamClosedFunc: func(id int64, _ *core.Node) {
			s.opts.Metrics.Streams.Dec()
			s.mu.Lock()
			delete(s.streams, id)
			s.mu.Unlock()
		},
		StreamRequestFunc: func(id int64, r *discoverygrpc.DiscoveryRequest) error {
			s.onRequest(id, r.GetNode(), r.GetTypeUrl(), r.GetVersionInfo(), r.GetErrorDetail(), r.GetErrorDetail() != nil)
			return nil
		},
		StreamDeltaRequestFunc: func(id int64, r *discoverygrpc.DeltaDiscoveryRequest) error {
			s.onRequest(id, r.GetNode(), r.GetTypeUrl(), r.GetResponseNonce(), r.GetErrorDetail(), r.GetErrorDetail() != nil)
			return nil
		},
		StreamResponseFunc: func(_ context.Context, id int64, req *discoverygrpc.DiscoveryRequest, resp *discoverygrpc.DiscoveryResponse) {
			s.opts.Metrics.Pushes.WithLabelValues(resp.GetTypeUrl(), "sotw").Inc()
			s.mu.Lock()
			defer s.mu.Unlock()
			st := s.streams[id]
			node := req.GetNode()
			if st == nil || node == nil {
				return
			}
			s.observeLocked(st, resp.GetTypeUrl())
			nv := s.nodeLocked(node, false)
			sent := nv.Types[resp.GetTypeUrl()]
			if sent == nil {
				sent = &Sent{TypeURL: resp.GetTypeUrl(), Resources: map[string]string{}}
			}
			if cachev3.ResourceRequiresFullStateInSotw(resp.GetTypeUrl()) {
				// CDS and LDS responses carry the whole set: anything absent was removed.
				sent.Resources = make(map[string]string, len(resp.GetResources()))
			}
			// Other types (EDS, RDS, ECDS, RPC) carry only what changed: update in place, so one endpoint
			// change costs one map write however many services the node knows.
			for _, a := range resp.GetResources() {
				sent.Resources[resourceName(resp.GetTypeUrl(), a.GetValue())] = resp.GetVersionInfo()
			}
			sent.Version, sent.Nonce, sent.At = resp.GetVersionInfo(), resp.GetNonce(), time.Now()
			nv.Types[resp.GetTypeUrl()] = sent
		},
		StreamDeltaResponseFunc: func(id int64, req *discoverygrpc.DeltaDiscoveryRequest, resp *discoverygrpc.DeltaDiscoveryResponse) {
			s.opts.Metrics.Pushes.WithLabelValues(resp.GetTypeUrl(), "delta").Inc()
			s.mu.Lock()
			defer s.mu.Unlock()
			st := s.streams[id]
			node := req.GetNode()
			if st == nil || node == nil {
				return
			}
			s.observeLocked(st, resp.GetTypeUrl())
			nv := s.nodeLocked(node, true)
			sent := nv.Types[resp.GetTypeUrl()]
			if sent == nil {
				sent = &Sent{TypeURL: resp.GetTypeUrl(), Resources: map[string]string{}}
				nv.Types[resp.GetTypeUrl()] = sent
			}
			for _, r := range resp.GetResources() {
				sent.Resources[r.GetName()] = r.GetVersion()
			}
			for _, n := range resp.GetRemovedResources() {
				delete(sent.Resources, n)
			}
			sent.Version, sent.Nonce, sent.At = resp.GetSystemVersionInfo(), resp.GetNonce(), time.Now()
		},
	}
}
