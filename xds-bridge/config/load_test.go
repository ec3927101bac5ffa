package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const valid = `
xds: {address: "127.0.0.1:18000", debounce: 0.1s}
sources:
- {name: zk, zookeeper: {servers: ["127.0.0.1:2181"], roots: ["/dubbo"]}}
- {name: files, file: {path: /etc/govoy/services.yaml}}
listeners:
- name: ingress
  port: 10000
  govoy: {chain: {plugins: [{name: key_auth, config: {keys: ["a"]}}]}}
  virtual_hosts: [{name: all, domains: ["*"], routes: [{prefix: /, service: web}]}]
`

func TestLoadValid(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(valid), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if Debounce(c) != 100*time.Millisecond || MaxDelay(c) != DefaultMaxDelay || !HoldZeroInstances(c) ||
		AdminAddress(c) != DefaultAdminAddress || BindAddress(c.GetListeners()[0]) != "127.0.0.1" {
		t.Fatalf("defaults: %v", c)
	}
}

func TestInvalidNamesTheField(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"no xds", `sources: [{name: a, file: {path: x}}]`, "Config.Xds"},
		{"no sources", `xds: {address: "127.0.0.1:1"}`, "Config.Sources"},
		{"source without kind", `{xds: {address: "127.0.0.1:1"}, sources: [{name: a}]}`, "Source.Kind"},
		{"zk roots", `{xds: {address: "127.0.0.1:1"}, sources: [{name: a, zookeeper: {servers: [x], roots: []}}]}`, "ZooKeeper.Roots"},
		{"bad xds address", `{xds: {address: "nope"}, sources: [{name: a, file: {path: x}}]}`, "xds.address"},
		{"unknown field", `{xds: {address: "127.0.0.1:1", bogus: 1}, sources: [{name: a, file: {path: x}}]}`, "bogus"},
		{"port", `{xds: {address: "127.0.0.1:1"}, sources: [{name: a, file: {path: x}}], listeners: [{name: l, port: 70000, service_virtual_hosts: true}]}`, "Listener.Port"},
		{"dup source", `{xds: {address: "127.0.0.1:1"}, sources: [{name: a, file: {path: x}}, {name: a, file: {path: yy}}]}`, "sources[1].name"},
		{"unknown group", `{xds: {address: "127.0.0.1:1"}, sources: [{name: a, file: {path: x}}], listeners: [{name: l, port: 1, node_groups: [g], service_virtual_hosts: true}]}`, "listeners[0].node_groups[0]"},
		{"route chain without filter", `{xds: {address: "127.0.0.1:1"}, sources: [{name: a, file: {path: x}}], listeners: [{name: l, port: 1, virtual_hosts: [{name: v, domains: ["*"], routes: [{prefix: /, service: s, chain: {}}]}]}]}`, "routes[0].chain"},
		{"group_by", `{xds: {address: "127.0.0.1:1", group_by: "zone"}, sources: [{name: a, file: {path: x}}]}`, "Xds.GroupBy"},
		{"plugin name", `{xds: {address: "127.0.0.1:1"}, sources: [{name: a, file: {path: x}}], listeners: [{name: l, port: 1, govoy: {chain: {plugins: [{name: ""}]}}, service_virtual_hosts: true}]}`, "PluginConfig.Name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to name %q", err, tc.want)
			}
		})
	}
}
