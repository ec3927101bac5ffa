package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/govoy/govoy/xds-bridge/client"
	"github.com/govoy/govoy/xds-bridge/config"
	"github.com/govoy/govoy/xds-bridge/model"
	"github.com/govoy/govoy/xds-bridge/server"
)

type quiet struct{}

func (quiet) Name() string { return "reg" }
func (quiet) Run(ctx context.Context, sink model.Sink) error {
	sink.Replace("reg", nil)
	<-ctx.Done()
	return nil
}

func startBridge(t *testing.T) *server.Bridge {
	t.Helper()
	cfg, err := config.Parse([]byte(`
xds: {address: "127.0.0.1:0", debounce: 0.01s}
admin: {address: "127.0.0.1:0"}
sources: [{name: reg, file: {path: /dev/null}}]
rpc_rules: [{service: "providers:demo.Greeter", method: sayHello, match: {tag: gray}, subset: {version: "2.0"}}]
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
	go func() { done <- b.Run(ctx, []model.Source{quiet{}}) }()
	t.Cleanup(func() { cancel(); <-done })
	<-b.Started()
	// The quiet source's first Replace must land before the test upserts into the same source,
	// or it would wipe what the test wrote.
	for deadline := time.Now().Add(10 * time.Second); !b.Store.Ready(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("bridge never became ready")
		}
	}
	return b
}

// waitUpdate waits (bounded) for the client's table to satisfy ok.
func waitUpdate(t *testing.T, c *client.Client, ok func(client.Table) bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		ch, _ := c.Updated()
		if ok(c.Table()) {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("table never matched; have %v", c.Table())
		}
	}
}

func dubbo(ports ...uint32) model.Service {
	s := model.Service{Name: "providers:demo.Greeter", Protocol: model.ProtocolDubbo, Interfaces: []string{"demo.Greeter"}}
	for _, p := range ports {
		s.Endpoints = append(s.Endpoints, model.Endpoint{Address: "127.0.0.2", Port: p, Healthy: true,
			Metadata: map[string]string{"version": "2.0"}})
	}
	return s
}

func TestClientFollowsServicesAndRules(t *testing.T) {
	b := startBridge(t)
	c, err := client.New(client.Options{Address: b.XDSAddr().String(), Node: &core.Node{Id: "govoy-so-1", Cluster: "default"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = c.Run(ctx) }()

	b.Store.Upsert("reg", dubbo(20880))
	waitUpdate(t, c, func(tb client.Table) bool { return len(tb["providers:demo.Greeter"].GetEndpoints()) == 1 })
	svc := c.Service("providers:demo.Greeter")
	if svc.GetProtocol() != "dubbo" || len(svc.GetRules()) != 1 || svc.GetRules()[0].GetSubset()["version"] != "2.0" ||
		svc.GetEndpoints()[0].GetPort() != 20880 || svc.GetEndpoints()[0].GetWeight() != 100 {
		t.Fatalf("service = %v", svc)
	}

	b.Store.Upsert("reg", dubbo(20880, 20881))
	waitUpdate(t, c, func(tb client.Table) bool { return len(tb["providers:demo.Greeter"].GetEndpoints()) == 2 })

	b.Store.Upsert("reg", model.Service{Name: "other", Protocol: model.ProtocolBolt})
	waitUpdate(t, c, func(tb client.Table) bool { return tb["other"] != nil })
	b.Store.Delete("reg", "other")
	waitUpdate(t, c, func(tb client.Table) bool { return tb["other"] == nil && len(tb) == 1 })
}

func TestClientRejectsUpdateAndKeepsTable(t *testing.T) {
	b := startBridge(t)
	reject := errors.New("refusing a service without endpoints")
	c, err := client.New(client.Options{
		Address: b.XDSAddr().String(), Node: &core.Node{Id: "govoy-so-2"},
		OnUpdate: func(tb client.Table) error {
			for _, s := range tb {
				if len(s.GetEndpoints()) == 0 {
					return reject
				}
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = c.Run(ctx) }()
	b.Store.Upsert("reg", dubbo(20880))
	waitUpdate(t, c, func(tb client.Table) bool { return len(tb) == 1 })
	b.Store.Upsert("reg", model.Service{Name: "empty", Protocol: model.ProtocolDubbo})
	deadline := time.Now().Add(30 * time.Second)
	for testutil.ToFloat64(b.Metrics.Nacks.WithLabelValues(client.TypeURL)) < 1 {
		if time.Now().After(deadline) {
			t.Fatal("bridge never saw the NACK")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if tb := c.Table(); len(tb) != 1 || tb["empty"] != nil {
		t.Fatalf("rejected update was applied: %v", tb)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := client.New(client.Options{Node: &core.Node{Id: "x"}}); err == nil {
		t.Fatal("missing address accepted")
	}
	if _, err := client.New(client.Options{Address: "127.0.0.1:1"}); err == nil {
		t.Fatal("missing node accepted")
	}
}
