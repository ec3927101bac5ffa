package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap/zaptest"

	"github.com/govoy/govoy/xds-bridge/config"
	"github.com/govoy/govoy/xds-bridge/internal/testenv"
	"github.com/govoy/govoy/xds-bridge/model"
	"github.com/govoy/govoy/xds-bridge/server"
)

func writeServices(t *testing.T, path, name string, ep model.Endpoint) {
	t.Helper()
	body := fmt.Sprintf("services:\n  - name: %s\n    protocol: http\n    endpoints:\n      - {address: %s, port: %d}\n", name, ep.Address, ep.Port)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// zkProvider registers a Dubbo-style provider URL under /dubbo/<iface>/providers (ephemeral, as providers do).
func zkProvider(t *testing.T, conn *zk.Conn, scheme, iface string, ep model.Endpoint) string {
	t.Helper()
	for _, p := range []string{"/dubbo", "/dubbo/" + iface, "/dubbo/" + iface + "/providers"} {
		if _, err := conn.Create(p, nil, 0, zk.WorldACL(zk.PermAll)); err != nil && err != zk.ErrNodeExists {
			t.Fatalf("create %s: %v", p, err)
		}
	}
	u := fmt.Sprintf("%s://%s:%d/%s?category=providers&interface=%s&side=provider", scheme, ep.Address, ep.Port, iface, iface)
	p := "/dubbo/" + iface + "/providers/" + url.QueryEscape(u)
	if _, err := conn.Create(p, nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatalf("create provider: %v", err)
	}
	return p
}

// TestEnvoyRoutesRegistryServices runs the configured sources for real (ZooKeeper, etcd and a file)
// and routes traffic through a stock Envoy to the upstreams each registry announces.
func TestEnvoyRoutesRegistryServices(t *testing.T) {
	zkSrv := testenv.StartZooKeeper(t)
	etcdSrv := testenv.StartEtcd(t)
	dir := t.TempDir()
	svcFile := filepath.Join(dir, "services.yaml")
	fileA, fileB, etcdUp, zkUp := upstream(t, "file-A"), upstream(t, "file-B"), upstream(t, "etcd"), upstream(t, "zk")
	writeServices(t, svcFile, "file-web", fileA)

	conn, _, err := zk.Connect([]string{zkSrv.Addr}, 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	zkProvider(t, conn, "http", "web", zkUp)

	ec, err := clientv3.New(clientv3.Config{Endpoints: etcdSrv.Endpoints, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer ec.Close()
	inst, _ := json.Marshal(map[string]any{"address": etcdUp.Address, "port": etcdUp.Port, "protocol": "http"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := ec.Put(ctx, "/govoy/services/etcd-web/i1", string(inst)); err != nil {
		t.Fatal(err)
	}

	port := freePort(t)
	cfg, err := config.Parse(fmt.Appendf(nil, `
xds: {address: "127.0.0.1:0", debounce: 0.02s}
sources:
- {name: zk, zookeeper: {servers: [%q], roots: [/dubbo], session_timeout: 5s}}
- {name: etcd, etcd: {endpoints: [%q], prefix: /govoy/services}}
- {name: files, file: {path: %q}}
listeners: [{name: ingress, port: %d, service_virtual_hosts: true}]
`, zkSrv.Addr, etcdSrv.Endpoints[0], svcFile, port))
	if err != nil {
		t.Fatal(err)
	}
	log := zaptest.NewLogger(t)
	srcs, err := server.Sources(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	br := startBridge(t, mustYAML(t, cfg), srcs...)
	startEnvoy(t, br.XDSAddr(), "envoy-registries", "default", "DELTA_GRPC")
	u := fmt.Sprintf("http://127.0.0.1:%d/", port)
	routesTo(t, u, "file-web", "file-A")
	routesTo(t, u, "etcd-web", "etcd")
	routesTo(t, u, "http:web", "zk")

	// A file edit moves file-web.
	writeServices(t, svcFile, "file-web", fileB)
	routesTo(t, u, "file-web", "file-B")

	// The etcd instance goes away: zero-instance protection keeps routing to it.
	if _, err := ec.Delete(ctx, "/govoy/services/etcd-web/i1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "etcd-web held", func() error {
		if !strings.Contains(strings.Join(br.Store.Held(), ","), "etcd-web") {
			return fmt.Errorf("held = %v", br.Store.Held())
		}
		return nil
	})
	routesTo(t, u, "etcd-web", "etcd")
}

// mustYAML renders a parsed config back to JSON (valid YAML) for startBridge.
func mustYAML(t *testing.T, cfg *config.Config) string {
	t.Helper()
	b, err := protojsonMarshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
