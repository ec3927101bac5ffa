package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govoy/govoy/xds-bridge/config"
	"github.com/govoy/govoy/xds-bridge/server"
	"github.com/govoy/govoy/xds-bridge/translate"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "govoy-xds.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestInvalidConfigStopsStartup(t *testing.T) {
	p := writeConfig(t, `{xds: {address: "127.0.0.1:0"}, sources: [{name: "bad name", file: {path: x}}]}`)
	err := run(context.Background(), []string{"-config", p}, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "Source.Name") {
		t.Fatalf("err = %v, want it to name Source.Name", err)
	}
	err = run(context.Background(), []string{"-config", writeConfig(t,
		`{xds: {address: "127.0.0.1:0"}, sources: [{name: z, zookeeper: {servers: ["127.0.0.1:1"], roots: [/nope]}}]}`)}, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "zookeeper.roots[0]") {
		t.Fatalf("err = %v, want it to name zookeeper.roots[0]", err)
	}
	err = run(context.Background(), []string{"-config", writeConfig(t, `
xds: {address: "127.0.0.1:0"}
sources: [{name: f, file: {path: "embedded:demo"}}]
listeners:
- name: ingress
  port: 10000
  govoy: {chain: {plugins: [{name: no_such_plugin}]}}
  service_virtual_hosts: true
`)}, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "listeners[0].govoy.chain") || !strings.Contains(err.Error(), "no_such_plugin") {
		t.Fatalf("err = %v, want it to name listeners[0].govoy.chain and the plugin", err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), nil, &out, nil); err == nil {
		t.Fatal("missing -config accepted")
	}
}

// TestServesEmbeddedDemo starts the program on the file source's embedded demo and checks the admin
// endpoint reports ready and serves metrics.
func TestServesEmbeddedDemo(t *testing.T) {
	p := writeConfig(t, `
xds: {address: "127.0.0.1:0"}
admin: {address: "127.0.0.1:0"}
sources: [{name: demo, file: {path: "embedded:demo"}}]
listeners: [{name: ingress, port: 10000, service_virtual_hosts: true}]
`)
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan *server.Bridge, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-config", p}, io.Discard, func(b *server.Bridge) { started <- b }) }()
	var b *server.Bridge
	select {
	case b = <-started:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	base := fmt.Sprintf("http://%s", b.AdminAddr())
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("never ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "govoy_xds_services 3") {
		t.Fatalf("metrics do not show the 3 demo services:\n%s", body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run after cancel: %v", err)
	}
}

// The shipped example must load and translate (chains included).
func TestExampleConfig(t *testing.T) {
	cfg, err := config.Load("example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := translate.New(cfg, nil, nil, translate.WithChainCheck(checkChain)); err != nil {
		t.Fatal(err)
	}
}
