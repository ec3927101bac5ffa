package etcd

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap/zaptest"

	"github.com/govoy/govoy/xds-bridge/internal/testenv"
	"github.com/govoy/govoy/xds-bridge/model"
)

const (
	prefix = "/govoy/services"
	bound  = 60 * time.Second
)

func TestParseKey(t *testing.T) {
	p := prefix + "/"
	good := ParseKey(p, p+"web/i-1", []byte(`{"address":"127.0.0.2","port":80,"weight":7,"healthy":false,
		"metadata":{"version":"v1"},"locality":{"region":"r","zone":"z","sub_zone":"s"}}`))
	if good.err != nil || good.service != "web" || good.id != "i-1" || good.inst.Protocol != "http" {
		t.Fatalf("good: %+v", good)
	}
	for value, want := range map[string]string{
		`{"address":"web.example","port":80}`:                 "address",
		`{"address":"127.0.0.2","port":0}`:                    "port",
		`{"address":"127.0.0.2","port":80,"weight":200}`:      "weight",
		`{"address":"127.0.0.2","port":80,"protocol":"smtp"}`: "protocol",
		`{"address":"127.0.0.2","port":80,"colour":"red"}`:    "colour",
		`not json`: "value",
	} {
		if e := ParseKey(p, p+"web/i-1", []byte(value)); e.err == nil || !strings.Contains(e.err.Error(), want) {
			t.Errorf("%s: got %v, want error naming %s", value, e.err, want)
		}
	}
	for _, key := range []string{p + "web", p + "web/", p + "/i-1", p + "web/a/b"} {
		if e := ParseKey(p, key, []byte(`{"address":"127.0.0.2","port":80}`)); e.err == nil {
			t.Errorf("key %q accepted", key)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Name: "e", Endpoints: []string{"http://127.0.0.1:2379"}, Prefix: prefix}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for field, mut := range map[string]func(*Config){
		"name":           func(c *Config) { c.Name = "" },
		"endpoints":      func(c *Config) { c.Endpoints = nil },
		"endpoints[0]":   func(c *Config) { c.Endpoints = []string{"a,b"} },
		"prefix":         func(c *Config) { c.Prefix = "services" },
		"dial_timeout":   func(c *Config) { c.DialTimeout = -1 },
		"retry_interval": func(c *Config) { c.RetryInterval = -1 },
	} {
		c := ok
		mut(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), field+":") {
			t.Errorf("%s: got %v", field, err)
		}
	}
}

func put(t *testing.T, cli *clientv3.Client, key string, inst Instance) {
	t.Helper()
	b, err := json.Marshal(inst)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, prefix+"/"+key, string(b)); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func del(t *testing.T, cli *clientv3.Client, key string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Delete(ctx, prefix+"/"+key); err != nil {
		t.Fatalf("delete %s: %v", key, err)
	}
}

func client(t *testing.T, endpoints []string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func startSource(t *testing.T, endpoints []string) *testenv.RecordingSink {
	t.Helper()
	src, err := New(Config{Name: "etcd", Endpoints: endpoints, Prefix: prefix, DialTimeout: 2 * time.Second,
		RetryInterval: 200 * time.Millisecond, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	sink := testenv.NewRecordingSink()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	})
	return sink
}

func eps(st map[string]model.Service, name string) map[string]model.Endpoint {
	out := map[string]model.Endpoint{}
	for _, e := range st[name].Endpoints {
		out[fmt.Sprintf("%s:%d", e.Address, e.Port)] = e
	}
	return out
}

func TestPutDeleteAndRestart(t *testing.T) {
	e := testenv.StartEtcd(t)
	cli := client(t, e.Endpoints)
	put(t, cli, "web/a", Instance{Address: "127.0.0.2", Port: 8080, Weight: 10, Metadata: map[string]string{"version": "v1"},
		Locality: &Locality{Region: "r1", Zone: "z1"}})
	put(t, cli, "api/a", Instance{Address: "127.0.0.3", Port: 9090, Protocol: "grpc"})
	put(t, cli, "bad/a", Instance{Address: "bad.example", Port: 1})

	sink := startSource(t, e.Endpoints)
	sink.WaitFor(t, bound, "first sync", func(st map[string]model.Service, _ []testenv.Call) bool { return len(st) == 2 })
	if sink.Calls()[0].Kind != "replace" {
		t.Fatalf("first call %v", sink.Calls()[0])
	}
	st := sink.State()
	w := eps(st, "web")["127.0.0.2:8080"]
	if w.Weight != 10 || !w.Healthy || w.Metadata["version"] != "v1" || w.Locality.Region != "r1" || st["api"].Protocol != model.ProtocolGRPC {
		t.Fatalf("state %+v", st)
	}

	put(t, cli, "web/b", Instance{Address: "127.0.0.4", Port: 8080})
	sink.WaitFor(t, bound, "second web instance", func(st map[string]model.Service, _ []testenv.Call) bool {
		return len(eps(st, "web")) == 2
	})
	unhealthy := false
	put(t, cli, "web/b", Instance{Address: "127.0.0.4", Port: 8080, Healthy: &unhealthy})
	sink.WaitFor(t, bound, "instance unhealthy", func(st map[string]model.Service, _ []testenv.Call) bool {
		return !eps(st, "web")["127.0.0.4:8080"].Healthy
	})
	del(t, cli, "api/a")
	sink.WaitFor(t, bound, "api deleted", func(st map[string]model.Service, _ []testenv.Call) bool {
		_, ok := st["api"]
		return !ok
	})

	// Kill etcd: an error, the last view stays; restart: changes flow again.
	e.Kill()
	sink.WaitFor(t, bound, "loss reported", func(_ map[string]model.Service, calls []testenv.Call) bool {
		return calls[len(calls)-1].Kind == "error"
	})
	if sink.Count("replace") != 1 || len(sink.State()) != 1 {
		t.Fatalf("state changed while etcd was down: %v", sink.Calls())
	}
	e.Restart(t)
	put(t, cli, "web/c", Instance{Address: "127.0.0.5", Port: 8080})
	sink.WaitFor(t, bound, "recovery", func(st map[string]model.Service, _ []testenv.Call) bool {
		return len(eps(st, "web")) == 3
	})
	if n := sink.Count("replace"); n != 1 {
		t.Fatalf("%d replaces; the watch should have resumed from its revision", n)
	}
}

// The source is cut off while keys change and the history is compacted: the watch cannot resume
// from its revision, so the source reads everything again and states it with Replace.
func TestCompactedRevisionResyncs(t *testing.T) {
	e := testenv.StartEtcd(t)
	proxy := testenv.NewProxy(t, strings.TrimPrefix(e.Endpoints[0], "http://"))
	cli := client(t, e.Endpoints)
	put(t, cli, "web/a", Instance{Address: "127.0.0.2", Port: 8080})
	put(t, cli, "web/b", Instance{Address: "127.0.0.3", Port: 8080})

	sink := startSource(t, []string{"http://" + proxy.Addr})
	sink.WaitFor(t, bound, "first sync", func(st map[string]model.Service, _ []testenv.Call) bool {
		return len(eps(st, "web")) == 2
	})
	proxy.Block()
	sink.WaitFor(t, bound, "loss reported", func(_ map[string]model.Service, calls []testenv.Call) bool {
		return calls[len(calls)-1].Kind == "error"
	})
	del(t, cli, "web/a")
	put(t, cli, "db/a", Instance{Address: "127.0.0.4", Port: 5432})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	if sink.Count("replace") != 1 || len(eps(sink.State(), "web")) != 2 {
		t.Fatalf("state changed while cut off: %v", sink.Calls())
	}
	proxy.Unblock()
	sink.WaitFor(t, bound, "resync", func(st map[string]model.Service, calls []testenv.Call) bool {
		_, db := st["db"]
		return db && len(eps(st, "web")) == 1 && calls[len(calls)-1].Kind == "replace"
	})
	if n := sink.Count("replace"); n != 2 {
		t.Fatalf("%d replaces, want 2", n)
	}
	put(t, cli, "web/c", Instance{Address: "127.0.0.5", Port: 8080})
	sink.WaitFor(t, bound, "watch after resync", func(st map[string]model.Service, _ []testenv.Call) bool {
		return len(eps(st, "web")) == 2
	})
}

func TestProtocolConflictSkipsInstance(t *testing.T) {
	svcs, skipped := build(map[string]entry{
		"/p/x/1": ParseKey("/p/", "/p/x/1", []byte(`{"address":"127.0.0.2","port":1,"protocol":"dubbo","interfaces":["a.B"]}`)),
		"/p/x/2": ParseKey("/p/", "/p/x/2", []byte(`{"address":"127.0.0.3","port":1,"protocol":"http"}`)),
	})
	if len(svcs) != 1 || svcs[0].Protocol != model.ProtocolDubbo || len(svcs[0].Endpoints) != 1 ||
		svcs[0].Interfaces[0] != "a.B" || len(skipped) != 1 || !strings.Contains(skipped[0], "/p/x/2") {
		t.Fatalf("svcs %+v skipped %v", svcs, skipped)
	}
}

func TestNoServerReportsError(t *testing.T) {
	sink := startSource(t, []string{fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))})
	sink.WaitFor(t, bound, "error without a server", func(_ map[string]model.Service, calls []testenv.Call) bool {
		return len(calls) > 0 && calls[0].Kind == "error"
	})
	if sink.Count("replace") != 0 {
		t.Fatal("replace without a server")
	}
}
