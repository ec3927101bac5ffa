// Command xds-bench measures govoy-xds at scale (10k services / 100k endpoints by default):
//
//   - cold build: time to turn the whole registry into cached Envoy resources, and to serve the first
//     full EDS+CDS sync to a client; RSS after that;
//
//   - change latency: from a registry change entering the store to a real xDS client (a gRPC ADS
//     stream, SotW or delta, ACKing every response) decoding it, p50/p99 at a fixed change rate;
//
//   - the same latency when every change rebuilds and sets a full go-control-plane snapshot.
//
//     go run ./benchmarks/xds -services 10000 -endpoints 10 -rate 100 -changes 1000
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/govoy/govoy/xds-bridge/config"
	"github.com/govoy/govoy/xds-bridge/model"
	"github.com/govoy/govoy/xds-bridge/server"
	"github.com/govoy/govoy/xds-bridge/translate"
)

var (
	nServices = flag.Int("services", 10000, "services")
	nEps      = flag.Int("endpoints", 10, "endpoints per service")
	rate      = flag.Int("rate", 100, "changes per second")
	nChanges  = flag.Int("changes", 1000, "changes to measure")
	mode      = flag.String("mode", "bridge", "bridge (LinearCache, debounced) or snapshot (full snapshot per change)")
	proto     = flag.String("protocol", "delta", "delta or sotw")
	memprof   = flag.String("memprofile", "", "write a heap profile after the first full sync")
	cpuprof   = flag.String("cpuprofile", "", "write a CPU profile of the change phase")
	clientOf  = flag.String("client", "", "internal: run only the xDS client against this address")
)

func services() []model.Service {
	out := make([]model.Service, *nServices)
	for i := range out {
		out[i] = service(i, 0)
	}
	return out
}

// service i at change seq: seq travels in the first endpoint's metadata so the client can time it.
func service(i, seq int) model.Service {
	s := model.Service{Name: fmt.Sprintf("svc-%05d", i), Protocol: model.ProtocolHTTP}
	for j := range *nEps {
		s.Endpoints = append(s.Endpoints, model.Endpoint{
			Address: fmt.Sprintf("127.%d.%d.%d", (i>>8)&0xff, i&0xff, j+1), Port: 8080, Healthy: true,
			Metadata: map[string]string{"version": "v1", "seq": strconv.Itoa(seq)},
		})
	}
	return s
}

func rssMB() (cur, peak float64) {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && (f[0] == "VmRSS:" || f[0] == "VmHWM:") {
			kb, _ := strconv.ParseFloat(f[1], 64)
			if f[0] == "VmRSS:" {
				cur = kb / 1024
			} else {
				peak = kb / 1024
			}
		}
	}
	return
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// watcher is the xDS client: one ADS stream subscribed to all EDS resources, ACKing every response.
type watcher struct {
	mu       sync.Mutex
	out      *bufio.Writer
	synced   bool
	want     int
	received int
	seqs     map[int]bool
}

func (w *watcher) seen(cla *endpoint.ClusterLoadAssignment) {
	seq := 0
	if ls := cla.GetEndpoints(); len(ls) > 0 && len(ls[0].GetLbEndpoints()) > 0 {
		v := ls[0].GetLbEndpoints()[0].GetMetadata().GetFilterMetadata()["envoy.lb"].GetFields()["seq"].GetStringValue()
		seq, _ = strconv.Atoi(v)
	}
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.received++
	if seq > 0 && !w.seqs[seq] {
		w.seqs[seq] = true
		// Wall-clock nanoseconds: the parent process compares them with its own send times.
		fmt.Fprintf(w.out, "%d %d\n", seq, now.UnixNano())
		_ = w.out.Flush()
	}
	if w.received == w.want && !w.synced {
		w.synced = true
		fmt.Fprintln(w.out, "synced")
		_ = w.out.Flush()
	}
}

func (w *watcher) run(ctx context.Context, addr string) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(1<<30)))
	if err != nil {
		return err
	}
	defer conn.Close()
	ads := discovery.NewAggregatedDiscoveryServiceClient(conn)
	node := &core.Node{Id: "bench", Cluster: "default"}
	if *proto == "delta" {
		st, err := ads.DeltaAggregatedResources(ctx)
		if err != nil {
			return err
		}
		if err := st.Send(&discovery.DeltaDiscoveryRequest{Node: node, TypeUrl: resource.EndpointType, ResourceNamesSubscribe: []string{"*"}}); err != nil {
			return err
		}
		for {
			resp, err := st.Recv()
			if err != nil {
				return err
			}
			for _, r := range resp.GetResources() {
				cla := &endpoint.ClusterLoadAssignment{}
				if err := r.GetResource().UnmarshalTo(cla); err != nil {
					return err
				}
				w.seen(cla)
			}
			if err := st.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: resource.EndpointType, ResponseNonce: resp.GetNonce()}); err != nil {
				return err
			}
		}
	}
	st, err := ads.StreamAggregatedResources(ctx)
	if err != nil {
		return err
	}
	if err := st.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: resource.EndpointType}); err != nil {
		return err
	}
	for {
		resp, err := st.Recv()
		if err != nil {
			return err
		}
		for _, a := range resp.GetResources() {
			cla := &endpoint.ClusterLoadAssignment{}
			if err := a.UnmarshalTo(cla); err != nil {
				return err
			}
			w.seen(cla)
		}
		if err := st.Send(&discovery.DiscoveryRequest{TypeUrl: resource.EndpointType, VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()}); err != nil {
			return err
		}
	}
}

type backend struct {
	addr   string
	change func(model.Service) // applies one changed service
}

func startBridge(ctx context.Context, svcs []model.Service) (*backend, error) {
	cfg, err := config.Parse([]byte(`{xds: {address: "127.0.0.1:0"}, admin: {address: "127.0.0.1:0"}, sources: [{name: bench, file: {path: /dev/null}}]}`))
	if err != nil {
		return nil, err
	}
	b, err := server.NewBridge(ctx, cfg, nil)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	b.Store.Replace("bench", svcs)
	b.Store.Flush()
	build := time.Since(start)
	runtime.GC()
	cur, _ := rssMB()
	// Resources are marshalled lazily, once, when the first client asks: see "first full EDS sync".
	fmt.Printf("cold build (store diff + translate + LinearCache): %v, RSS after %.0f MB\n", build.Round(time.Millisecond), cur)
	go func() { _ = b.Run(ctx, nil) }()
	<-b.Started()
	return &backend{addr: b.XDSAddr().String(), change: func(s model.Service) { b.Store.Upsert("bench", s) }}, nil
}

func startSnapshot(ctx context.Context, svcs []model.Service) (*backend, error) {
	sc := cachev3.NewSnapshotCache(true, cachev3.IDHash{}, nil)
	current := slices.Clone(svcs)
	version := 0
	var mu sync.Mutex
	set := func() error {
		version++
		clusters := make([]types.Resource, 0, len(current))
		loads := make([]types.Resource, 0, len(current))
		for i := range current {
			clusters = append(clusters, translate.Cluster(&current[i]))
			loads = append(loads, translate.Endpoints(&current[i]))
		}
		snap, err := cachev3.NewSnapshot(strconv.Itoa(version), map[resource.Type][]types.Resource{
			resource.ClusterType: clusters, resource.EndpointType: loads,
		})
		if err != nil {
			return err
		}
		return sc.SetSnapshot(ctx, "bench", snap)
	}
	start := time.Now()
	if err := set(); err != nil {
		return nil, err
	}
	runtime.GC()
	cur, _ := rssMB()
	fmt.Printf("cold build (snapshot): %v, RSS after %.0f MB\n", time.Since(start).Round(time.Millisecond), cur)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	g := grpc.NewServer()
	discovery.RegisterAggregatedDiscoveryServiceServer(g, serverv3.NewServer(ctx, sc, nil))
	go func() { _ = g.Serve(lis) }()
	go func() { <-ctx.Done(); g.Stop() }()
	return &backend{addr: lis.Addr().String(), change: func(s model.Service) {
		mu.Lock()
		defer mu.Unlock()
		i, _ := strconv.Atoi(strings.TrimPrefix(s.Name, "svc-"))
		current[i] = s
		if err := set(); err != nil {
			fmt.Fprintln(os.Stderr, "snapshot:", err)
		}
	}}, nil
}

func main() {
	flag.Parse()
	if *clientOf != "" {
		w := &watcher{out: bufio.NewWriter(os.Stdout), want: *nServices, seqs: map[int]bool{}}
		if err := w.run(context.Background(), *clientOf); err != nil {
			fmt.Fprintln(os.Stderr, "client:", err)
			os.Exit(1)
		}
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fmt.Printf("mode=%s protocol=%s services=%d endpoints=%d rate=%d/s changes=%d GOMAXPROCS=%d\n",
		*mode, *proto, *nServices, *nServices**nEps, *rate, *nChanges, runtime.GOMAXPROCS(0))
	svcs := services()
	var be *backend
	var err error
	if *mode == "snapshot" {
		be, err = startSnapshot(ctx, svcs)
	} else {
		be, err = startBridge(ctx, svcs)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	start := time.Now()
	child := exec.CommandContext(ctx, os.Args[0], "-client", be.addr, "-protocol", *proto, "-services", strconv.Itoa(*nServices))
	child.Stderr = os.Stderr
	pipe, err := child.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := child.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	lines := bufio.NewScanner(pipe)
	if !lines.Scan() || lines.Text() != "synced" {
		fmt.Fprintln(os.Stderr, "client never received the full EDS set")
		os.Exit(1)
	}
	if *memprof != "" {
		f, err := os.Create(*memprof)
		if err == nil {
			runtime.GC()
			_ = pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	_, peak := rssMB()
	fmt.Printf("first full EDS sync to the client: %v (bridge peak RSS so far %.0f MB)\n", time.Since(start).Round(time.Millisecond), peak)
	var mu sync.Mutex
	got := map[int]time.Time{}
	go func() {
		for lines.Scan() {
			var seq int
			var ns int64
			if _, err := fmt.Sscan(lines.Text(), &seq, &ns); err == nil {
				mu.Lock()
				got[seq] = time.Unix(0, ns)
				mu.Unlock()
			}
		}
	}()

	sent := make(map[int]time.Time, *nChanges)
	tick := time.NewTicker(time.Second / time.Duration(*rate))
	if *cpuprof != "" {
		if f, err := os.Create(*cpuprof); err == nil {
			_ = pprof.StartCPUProfile(f)
			defer f.Close()
		}
	}
	cpu0, t0 := cpuSeconds(), time.Now()
	for seq := 1; seq <= *nChanges; seq++ {
		<-tick.C
		svc := service((seq*7919)%*nServices, seq)
		sent[seq] = time.Now()
		be.change(svc)
	}
	tick.Stop()
	elapsed := time.Since(t0)
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= *nChanges || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cpu := cpuSeconds() - cpu0
	pprof.StopCPUProfile()
	_ = child.Process.Kill() // before the server goes away, so the client does not report the closed stream
	_ = child.Wait()
	var lats []time.Duration
	mu.Lock()
	for seq, at := range sent {
		if g, ok := got[seq]; ok {
			lats = append(lats, g.Sub(at))
		}
	}
	mu.Unlock()
	slices.Sort(lats)
	_, peak = rssMB()
	if len(lats) == 0 {
		fmt.Println("no change reached the client")
		os.Exit(1)
	}
	pct := func(p float64) time.Duration { return lats[min(len(lats)-1, int(float64(len(lats))*p))] }
	fmt.Printf("changes delivered %d/%d; latency p50 %v p99 %v max %v; bridge CPU %.1f s over %.1f s (%.0f%% of one core); bridge peak RSS %.0f MB\n",
		len(lats), *nChanges, pct(0.50).Round(100*time.Microsecond), pct(0.99).Round(100*time.Microsecond),
		lats[len(lats)-1].Round(100*time.Microsecond), cpu, elapsed.Seconds(), 100*cpu/elapsed.Seconds(), peak)
}
