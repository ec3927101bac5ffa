package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const repoRoot = "../../.."

func configs(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(filepath.Join(repoRoot, "envoy-configs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(".yaml .yml .json", filepath.Ext(p)) {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("envoy-configs/ has %d bootstraps, want at least static, per-route and xds", len(files))
	}
	return files
}

func TestEnvoyConfigsValid(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run(configs(t), &out, &errs); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errs.String())
	}
}

// Broken copies of the shipped bootstraps must fail, naming the file, the place and the culprit.
func TestBrokenCopies(t *testing.T) {
	const keyAuth = "                  - name: key_auth\n                    config:\n"
	const rpcFilter = `listeners["rpc"].filter_chains[0].filters["envoy.filters.network.golang"].typed_config`
	const bridgeUp = `clusters["dubbo-gateway"].upstream_config.typed_config.plugin_config`
	for _, tc := range []struct {
		file, name, old, new string
		want                 []string
	}{
		{"static.yaml", "bad plugin field", keyAuth, keyAuth + "                      no_such_field: 1\n",
			[]string{`listeners["ingress"]`, `http_filters["envoy.filters.http.golang"]`, `"key_auth"`, "no_such_field"}},
		{"static.yaml", "unknown plugin", "- name: traffic_tagging", "- name: traffic_tagger",
			[]string{`listeners["ingress"]`, "traffic_tagger"}},
		{"static.yaml", "bad bootstrap field", "connect_timeout:", "connect_timout:", []string{"connect_timout"}},
		{"rpc.yaml", "route to an unknown service", "service: orders-gray\n", "service: orders-grey\n",
			[]string{rpcFilter + ".plugin_config", `routes[0].service: unknown service "orders-grey"`}},
		{"rpc.yaml", "protocol govoy.so lacks", "protocols: [dubbo, bolt]", "protocols: [dubbo, thrift]",
			[]string{rpcFilter + ".plugin_config", `unknown protocol "thrift"`}},
		{"rpc.yaml", "misspelt proxy field", "default_timeout: 3s       #", "default_timeot: 3s       #",
			[]string{rpcFilter + ".plugin_config", `unknown field "default_timeot"`}},
		{"rpc.yaml", "proxy validation rule", "retries: 1", "retries: 9",
			[]string{rpcFilter + ".plugin_config", "Retries"}},
		{"rpc.yaml", "hash without a key", `hash_key: "header:x-user"`, `hash_key: ""`,
			[]string{rpcFilter + ".plugin_config", "hash_key: required"}},
		{"rpc.yaml", "not terminal", "is_terminal_filter: true ", "is_terminal_filter: false",
			[]string{rpcFilter + ".is_terminal_filter", "must be true"}},
		{"rpc.yaml", "bridge without a protocol", "protocol: DUBBO\n", "\n",
			[]string{bridgeUp, "bridge config", "Protocol"}},
		{"rpc.yaml", "misspelt bridge field", "path_template:", "path_tempalte:",
			[]string{bridgeUp, `unknown field "path_tempalte"`}},
	} {
		t.Run(tc.file+"/"+tc.name, func(t *testing.T) {
			orig, err := os.ReadFile(filepath.Join(repoRoot, "envoy-configs", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(orig, []byte(tc.old)) {
				t.Fatalf("%s no longer contains %q: update the test", tc.file, tc.old)
			}
			p := filepath.Join(t.TempDir(), "broken.yaml")
			if err := os.WriteFile(p, bytes.Replace(orig, []byte(tc.old), []byte(tc.new), 1), 0o644); err != nil {
				t.Fatal(err)
			}
			var out, errs bytes.Buffer
			if code := run([]string{p}, &out, &errs); code != 1 {
				t.Fatalf("exit %d, want 1\n%s", code, errs.String())
			}
			msg := errs.String()
			for _, w := range append([]string{p + ": "}, tc.want...) {
				if !strings.Contains(msg, w) {
					t.Errorf("output lacks %q:\n%s", w, msg)
				}
			}
		})
	}
}

func TestUsage(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run(nil, &out, &errs); code != 2 || !strings.Contains(errs.String(), "usage") {
		t.Fatalf("exit %d, %q", code, errs.String())
	}
}

// The xDS bootstrap uses no contrib extension, so the stock Envoy from `make setup` must accept it.
func TestStockEnvoyAcceptsXDSBootstrap(t *testing.T) {
	bin := os.Getenv("ENVOY_STOCK_BIN")
	if bin == "" {
		bin = filepath.Join(repoRoot, ".bin", "envoy-stock")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("no stock Envoy (run make setup): %v", err)
	}
	out, err := exec.Command(bin, "--mode", "validate", "-l", "warn", "-c", filepath.Join(repoRoot, "envoy-configs", "xds.yaml")).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("OK")) {
		t.Fatalf("envoy --mode validate xds.yaml: %v\n%s", err, out)
	}
}
