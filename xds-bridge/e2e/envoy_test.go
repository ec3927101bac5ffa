package e2e

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/govoy/govoy/xds-bridge/model"
	"github.com/govoy/govoy/xds-bridge/server"
)

func envoyConfig(port int) string {
	return fmt.Sprintf(`
xds: {address: "127.0.0.1:0", debounce: 0.02s, max_delay: 0.2s}
sources: [{name: test, file: {path: /dev/null}}]
listeners:
- name: ingress
  port: %d
  service_virtual_hosts: true
  virtual_hosts:
  - name: main
    domains: ["*"]
    routes:
    - {prefix: /, service: web}
`, port)
}

func webService(eps ...model.Endpoint) model.Service {
	return model.Service{Name: "web", Protocol: model.ProtocolHTTP, Endpoints: eps}
}

// sentTo returns what the bridge sent one node for one type.
func sentTo(b *server.Bridge, node, typeURL string) *server.Sent {
	for _, n := range b.Server.Nodes() {
		if n.ID == node {
			return n.Types[typeURL]
		}
	}
	return nil
}

// routesTo waits until every one of n requests through Envoy lands on want.
func routesTo(t *testing.T, url, host, want string) {
	t.Helper()
	waitFor(t, "traffic to "+want, func() error {
		for range 5 {
			code, body, err := get(url, host)
			if err != nil {
				return err
			}
			if code != 200 || body != want {
				return fmt.Errorf("got %d %q, want %q", code, body, want)
			}
		}
		return nil
	})
}

func TestEnvoyFollowsRegistry(t *testing.T) {
	for _, api := range []string{"GRPC", "DELTA_GRPC"} {
		t.Run(api, func(t *testing.T) {
			a, bEp := upstream(t, "A"), upstream(t, "B")
			port := freePort(t)
			br := startBridge(t, envoyConfig(port), initialSource{name: "test", svcs: []model.Service{webService(a)}})
			node := "envoy-" + strings.ToLower(api)
			e := startEnvoy(t, br.XDSAddr(), node, "default", api)
			url := fmt.Sprintf("http://127.0.0.1:%d/", port)

			routesTo(t, url, "", "A")

			// An endpoint change reaches Envoy.
			br.Store.Upsert("test", webService(bEp))
			routesTo(t, url, "", "B")

			// A new service is discovered and routed by its name (service virtual host).
			c := upstream(t, "C")
			br.Store.Upsert("test", model.Service{Name: "api", Protocol: model.ProtocolHTTP, Endpoints: []model.Endpoint{c}})
			routesTo(t, url, "api", "C")

			// What Envoy holds is what the bridge says it sent.
			waitFor(t, "config_dump matches", func() error {
				d := e.configDump(t)
				cds := sentTo(br, node, resource.ClusterType)
				if cds == nil {
					return errors.New("bridge recorded no CDS push")
				}
				got := d.clusters()
				var names []string
				for n, v := range got {
					names = append(names, n)
					if api == "DELTA_GRPC" && v != cds.Resources[n] {
						return fmt.Errorf("cluster %s at version %q, bridge sent %q", n, v, cds.Resources[n])
					}
				}
				if api == "GRPC" && d.cdsVersion() != cds.Version {
					return fmt.Errorf("envoy CDS at version %q, bridge sent %q", d.cdsVersion(), cds.Version)
				}
				var sent []string
				for n := range cds.Resources {
					sent = append(sent, n)
				}
				slices.Sort(names)
				slices.Sort(sent)
				if !slices.Equal(names, sent) || !slices.Equal(names, []string{"api", "web"}) {
					return fmt.Errorf("envoy clusters %v, bridge sent %v", names, sent)
				}
				eds := sentTo(br, node, resource.EndpointType)
				if eds == nil || len(eds.Resources) != 2 {
					return fmt.Errorf("bridge EDS record %+v", eds)
				}
				want := fmt.Sprintf("%s:%d", bEp.Address, bEp.Port)
				if eps := d.endpoints()["web"]; !slices.Equal(eps, []string{want}) {
					return fmt.Errorf("envoy endpoints of web %v, want [%s]", eps, want)
				}
				if sent := sentTo(br, node, resource.ClusterType); sent.Acked == "" {
					return errors.New("CDS not ACKed yet")
				}
				return nil
			})

			// The registry suddenly reports no instance: the bridge holds the last state.
			held := `govoy_xds_held_updates_total{service="web"}`
			before := metric(t, br, held)
			br.Store.Replace("test", []model.Service{webService(), {Name: "api", Protocol: model.ProtocolHTTP, Endpoints: []model.Endpoint{c}}})
			waitFor(t, "held metric", func() error {
				if metric(t, br, held) <= before {
					return errors.New("zero-instance update not held")
				}
				return nil
			})
			routesTo(t, url, "", "B")

			// A source error keeps the last good state.
			br.Store.Error("test", errors.New("connection lost"))
			if metric(t, br, `govoy_xds_source_errors_total{source="test"}`) != 1 {
				t.Fatal("source error not counted")
			}
			routesTo(t, url, "", "B")
			_, body, _ := get(fmt.Sprintf("http://%s/debug/sources", br.AdminAddr()), "")
			if !strings.Contains(body, "connection lost") {
				t.Fatalf("/debug/sources does not show the error: %s", body)
			}
			_, body, _ = get(fmt.Sprintf("http://%s/debug/config_dump?node=%s", br.AdminAddr(), node), "")
			if !strings.Contains(body, node) || !strings.Contains(body, `"web"`) {
				t.Fatalf("/debug/config_dump: %s", body)
			}
			if metric(t, br, "govoy_xds_push_latency_seconds_count") == 0 {
				t.Fatal("no push latency observed")
			}
		})
	}
}

// TestEnvoyNackIsCounted makes Envoy reject a listener (its port is taken) and checks the bridge counts
// the NACK with Envoy's error_detail, while the good listener keeps working.
func TestEnvoyNackIsCounted(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	a := upstream(t, "A")
	port := freePort(t)
	cfg := envoyConfig(port) + fmt.Sprintf(`
- name: clash
  port: %d
  virtual_hosts: [{name: all, domains: ["*"], routes: [{prefix: /, service: web}]}]
`, taken.Addr().(*net.TCPAddr).Port)
	br := startBridge(t, cfg, initialSource{name: "test", svcs: []model.Service{webService(a)}})
	startEnvoy(t, br.XDSAddr(), "envoy-nack", "default", "GRPC")
	series := fmt.Sprintf(`govoy_xds_nacks_total{type_url=%q}`, resource.ListenerType)
	waitFor(t, "NACK counted", func() error {
		if metric(t, br, series) < 1 {
			return errors.New("no LDS NACK yet")
		}
		return nil
	})
	lds := sentTo(br, "envoy-nack", resource.ListenerType)
	if lds == nil || !strings.Contains(lds.LastNack, "clash") {
		t.Fatalf("NACK detail not recorded: %+v", lds)
	}
	routesTo(t, fmt.Sprintf("http://127.0.0.1:%d/", port), "", "A")
}
