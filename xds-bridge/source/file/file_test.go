package file

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govoy/govoy/xds-bridge/internal/testenv"
	"github.com/govoy/govoy/xds-bridge/model"
)

func TestParseErrorsNameTheField(t *testing.T) {
	cases := map[string]string{
		"services: [{name: a, endpoints: [{address: localhost, port: 80}]}]":              "services[0].endpoints[0].address",
		"services: [{name: a, endpoints: [{address: 127.0.0.1, port: 0}]}]":               "services[0].endpoints[0].port",
		"services: [{name: a, endpoints: [{address: 127.0.0.1, port: 80, weight: 129}]}]": "services[0].endpoints[0].weight",
		"services: [{name: a}, {name: a}]":                                                "services[1].name",
		"services: [{name: ''}]":                                                          "services[0].name",
		"services: [{name: a, protocol: smtp}]":                                           "services[0].protocol",
		"services: [{name: a, colour: red}]":                                              "colour",
		"services: [":                                                                     "parse",
	}
	for in, want := range cases {
		_, err := Parse([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want error naming %q", in, err, want)
		}
	}
}

func TestParseDefaults(t *testing.T) {
	svcs, err := Parse([]byte(`services:
- name: a
  endpoints:
  - {address: 127.0.0.2, port: 80, healthy: false, locality: {region: r1, zone: z1, sub_zone: s1}}
  - {address: "::1", port: 81}
`))
	if err != nil {
		t.Fatal(err)
	}
	s := svcs[0]
	if s.Protocol != model.ProtocolHTTP || s.Endpoints[0].Healthy || !s.Endpoints[1].Healthy ||
		s.Endpoints[0].Locality != (model.Locality{Region: "r1", Zone: "z1", SubZone: "s1"}) {
		t.Fatalf("unexpected %+v", s)
	}
}

func TestConfigValidate(t *testing.T) {
	for cfg, want := range map[*Config]string{
		{}:                                       "name",
		{Name: "f"}:                              "path",
		{Name: "f", Path: "x", PollInterval: -1}: "poll_interval",
	} {
		if _, err := New(*cfg); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New(%+v) = %v, want error naming %s", *cfg, err, want)
		}
	}
}

func TestDemoIsValidAndLoopback(t *testing.T) {
	svcs, err := Parse(Demo())
	if err != nil {
		t.Fatal(err)
	}
	if len(svcs) == 0 {
		t.Fatal("demo has no services")
	}
	for _, s := range svcs {
		for _, e := range s.Endpoints {
			if !strings.HasPrefix(e.Address, "127.") {
				t.Errorf("demo endpoint %s of %s is not loopback", e.Address, s.Name)
			}
		}
	}
	src, err := New(Config{Name: "demo", Path: DemoPath})
	if err != nil {
		t.Fatal(err)
	}
	sink := testenv.NewRecordingSink()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink) }()
	sink.WaitFor(t, 10*time.Second, "demo replace", func(st map[string]model.Service, _ []testenv.Call) bool {
		return len(st) == len(svcs)
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestWatchFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "services.yaml")
	write := func(s string) {
		t.Helper()
		// Write then rename, as editors and config managers do.
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write(`services:
- name: web
  endpoints: [{address: 127.0.0.2, port: 8080, metadata: {version: v1}}]
- name: api
  protocol: grpc
  endpoints: [{address: 127.0.0.3, port: 9090}]
`)
	src, err := New(Config{Name: "files", Path: path, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sink := testenv.NewRecordingSink()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = src.Run(ctx, sink) }()
	sink.WaitFor(t, 10*time.Second, "first replace", func(st map[string]model.Service, calls []testenv.Call) bool {
		return len(calls) == 1 && calls[0].Kind == "replace" && len(st) == 2
	})
	if e := sink.State()["web"].Endpoints[0]; e.Address != "127.0.0.2" || e.Port != 8080 || e.Metadata["version"] != "v1" || !e.Healthy {
		t.Fatalf("web endpoint %+v", e)
	}

	// Invalid file: an error, and the last good view stays.
	write("services: [{name: web, endpoints: [{address: web.example, port: 1}]}]\n")
	sink.WaitFor(t, 10*time.Second, "error", func(_ map[string]model.Service, calls []testenv.Call) bool {
		return calls[len(calls)-1].Kind == "error" && strings.Contains(calls[len(calls)-1].Err.Error(), "address")
	})
	if len(sink.State()) != 2 || sink.Count("delete") != 0 || sink.Count("replace") != 1 {
		t.Fatalf("invalid file changed the state: %v", sink.Calls())
	}

	// Fixed file: api gone, web changed.
	write(`services:
- name: web
  endpoints: [{address: 127.0.0.2, port: 8080, metadata: {version: v1}}, {address: 127.0.0.4, port: 8080}]
`)
	sink.WaitFor(t, 10*time.Second, "update", func(st map[string]model.Service, _ []testenv.Call) bool {
		_, api := st["api"]
		return !api && len(st["web"].Endpoints) == 2
	})
	if sink.Count("delete") != 1 || sink.Count("upsert") != 1 {
		t.Fatalf("want one delete and one upsert, got %v", sink.Calls())
	}
}
