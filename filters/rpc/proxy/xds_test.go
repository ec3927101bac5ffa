package proxy

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govoy/govoy/filters/rpc/codec/dubbo"
	"github.com/govoy/govoy/xds-bridge/client"
	"github.com/govoy/govoy/xds-bridge/config"
	"github.com/govoy/govoy/xds-bridge/model"
	"github.com/govoy/govoy/xds-bridge/server"
)

// emptySource reports an empty registry once; the test then upserts through the store. synced
// closes after that first report so a later upsert cannot be wiped by it.
type emptySource struct{ synced chan struct{} }

func (emptySource) Name() string { return "reg" }
func (s emptySource) Run(ctx context.Context, sink model.Sink) error {
	sink.Replace("reg", nil)
	close(s.synced)
	<-ctx.Done()
	return nil
}

// startBridge runs a real govoy-xds bridge on loopback, fed by the test through its store.
func startBridge(t *testing.T) *server.Bridge {
	t.Helper()
	cfg, err := config.Parse([]byte(`
xds: {address: "127.0.0.1:0", debounce: 0.01s}
admin: {address: "127.0.0.1:0"}
sources: [{name: reg, file: {path: /dev/null}}]
rpc_rules: [{service: "providers:org.example.Demo", method: hello, match: {tag: gray}, subset: {version: "2.0"}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b, err := server.NewBridge(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	src := emptySource{synced: make(chan struct{})}
	go func() { done <- b.Run(ctx, []model.Source{src}) }()
	t.Cleanup(func() { cancel(); <-done })
	<-b.Started()
	select {
	case <-src.synced:
	case <-time.After(30 * time.Second):
		t.Fatal("bridge never ran its source")
	}
	return b
}

// modelService lists endpoints with version metadata 1.0, 2.0, ... in order.
func modelService(addrs ...string) model.Service {
	s := model.Service{Name: "providers:org.example.Demo", Protocol: model.ProtocolDubbo, Interfaces: []string{"org.example.Demo"}}
	for i, a := range addrs {
		host, port, _ := net.SplitHostPort(a)
		p, _ := strconv.Atoi(port)
		s.Endpoints = append(s.Endpoints, model.Endpoint{Address: host, Port: uint32(p), Healthy: true,
			Metadata: map[string]string{"version": fmt.Sprintf("%d.0", i+1)}})
	}
	return s
}

// waitTable waits (bounded) until the proxy's xDS table satisfies ok.
func waitTable(t *testing.T, p *Proxy, ok func(client.Table) bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		ch, _ := p.xds.Updated()
		if ok(p.xds.Table()) {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("xDS table never matched; have %v", p.xds.Table())
		}
	}
}

func TestServicesFromXDS(t *testing.T) {
	a, b := startDubbo(t, "a"), startDubbo(t, "b")
	br := startBridge(t)
	p := newProxy(t, fmt.Sprintf(`{"protocols":["dubbo"],
	  "routes":[{"match":{"service":"org.example.Demo"},"service":"providers:org.example.Demo"}],
	  "xds":{"address":%q,"nodeId":"govoy-test","cluster":"default"}}`, br.XDSAddr().String()))
	cl := dial(t, serveProxy(t, p))
	endpointsAre := func(n int) func(client.Table) bool {
		return func(tb client.Table) bool { return len(tb["providers:org.example.Demo"].GetEndpoints()) == n }
	}
	// Before the registry knows the service: no provider.
	if got := cl.call(req{id: 1}); got.status != dubbo.StatusServiceNotFound || !strings.Contains(got.body, "no provider") {
		t.Fatalf("before xDS: %+v", got)
	}
	br.Store.Upsert("reg", modelService(a.addr))
	waitTable(t, p, endpointsAre(1))
	if got := cl.call(req{id: 2}); got.body != "a:hello:" {
		t.Fatalf("from xDS: %+v", got)
	}
	br.Store.Upsert("reg", modelService(b.addr))
	waitTable(t, p, func(tb client.Table) bool {
		eps := tb["providers:org.example.Demo"].GetEndpoints()
		return len(eps) == 1 && net.JoinHostPort(eps[0].GetAddress(), strconv.Itoa(int(eps[0].GetPort()))) == b.addr
	})
	if got := cl.call(req{id: 3}); got.body != "b:hello:" {
		t.Fatalf("after the endpoint moved: %+v", got)
	}
}

func TestXDSRulesPickSubsets(t *testing.T) {
	v1, v2 := startDubbo(t, "v1"), startDubbo(t, "v2")
	br := startBridge(t)
	p := newProxy(t, fmt.Sprintf(`{"protocols":["dubbo"],
	  "routes":[{"service":"providers:org.example.Demo"}],
	  "xds":{"address":%q,"nodeId":"govoy-test"}}`, br.XDSAddr().String()))
	br.Store.Upsert("reg", modelService(v1.addr, v2.addr))
	waitTable(t, p, func(tb client.Table) bool {
		s := tb["providers:org.example.Demo"]
		return len(s.GetEndpoints()) == 2 && len(s.GetRules()) == 1
	})
	cl := dial(t, serveProxy(t, p))
	seen := map[string]int{}
	for i := 0; i < 40; i++ {
		gray := i%2 == 0
		r := req{id: int64(i)}
		if gray {
			r.attachments = map[string]string{"tag": "gray"}
		}
		got := cl.call(r)
		who := strings.SplitN(got.body, ":", 2)[0]
		if gray && who != "v2" {
			t.Fatalf("gray request %d went to %q", i, got.body)
		}
		if !gray {
			seen[who]++
		}
	}
	// Other calls are spread over every endpoint (weighted random over 20 draws: both show up
	// unless something restricts them; chance of a miss 2^-19).
	if seen["v1"] == 0 || seen["v2"] == 0 {
		t.Fatalf("untagged calls went to %v", seen)
	}
	// A rule whose subset is empty falls back to every endpoint.
	br.Store.Upsert("reg", modelService(v1.addr))
	waitTable(t, p, func(tb client.Table) bool { return len(tb["providers:org.example.Demo"].GetEndpoints()) == 1 })
	if got := cl.call(req{id: 99, attachments: map[string]string{"tag": "gray"}}); got.body != "v1:hello:" {
		t.Fatalf("gray without a 2.0 endpoint: %+v", got)
	}
}
