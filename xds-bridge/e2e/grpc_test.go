package e2e

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/xds"

	"github.com/go-zookeeper/zk"

	"github.com/govoy/govoy/xds-bridge/config"
	"github.com/govoy/govoy/xds-bridge/internal/testenv"
	"github.com/govoy/govoy/xds-bridge/model"
	"github.com/govoy/govoy/xds-bridge/server"
)

// healthServer is a real gRPC server whose health service reports status for "".
func healthServer(t *testing.T, status healthpb.HealthCheckResponse_ServingStatus) model.Endpoint {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	h := health.NewServer()
	h.SetServingStatus("", status)
	healthpb.RegisterHealthServer(s, h)
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	a := l.Addr().(*net.TCPAddr)
	return model.Endpoint{Address: a.IP.String(), Port: uint32(a.Port), Healthy: true}
}

// TestProxylessGRPC resolves xds:///greeter through the bridge only (LDS api_listener, RDS, CDS, EDS)
// and follows an endpoint move. The bootstrap goes through grpc's per-resolver bootstrap option
// because grpc reads GRPC_XDS_BOOTSTRAP_CONFIG only at process start.
func TestProxylessGRPC(t *testing.T) {
	serving := healthServer(t, healthpb.HealthCheckResponse_SERVING)
	other := healthServer(t, healthpb.HealthCheckResponse_NOT_SERVING)
	greeter := func(ep model.Endpoint) model.Service {
		return model.Service{Name: "greeter", Protocol: model.ProtocolGRPC, Endpoints: []model.Endpoint{ep}}
	}
	br := startBridge(t, `
xds: {address: "127.0.0.1:0", debounce: 0.02s}
sources: [{name: test, file: {path: /dev/null}}]
node_groups: [{name: grpc-clients, proxyless_grpc: true}]
`, initialSource{name: "test", svcs: []model.Service{greeter(serving)}})
	resolver, err := xds.NewXDSResolverWithConfigForTesting(fmt.Appendf(nil, `{
  "xds_servers": [{"server_uri": %q, "channel_creds": [{"type": "insecure"}], "server_features": ["xds_v3"]}],
  "node": {"id": "grpc-1", "cluster": "grpc-clients"}
}`, br.XDSAddr().String()))
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient("xds:///greeter", grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithResolvers(resolver))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	hc := healthpb.NewHealthClient(cc)
	check := func(want healthpb.HealthCheckResponse_ServingStatus) func() error {
		return func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
			if err != nil {
				return err
			}
			if resp.GetStatus() != want {
				return fmt.Errorf("status %v, want %v", resp.GetStatus(), want)
			}
			return nil
		}
	}
	waitFor(t, "first call through xds", check(healthpb.HealthCheckResponse_SERVING))

	br.Store.Upsert("test", greeter(other))
	waitFor(t, "call follows the endpoint move", check(healthpb.HealthCheckResponse_NOT_SERVING))

	for _, typ := range []string{resource.ListenerType, resource.RouteType, resource.ClusterType, resource.EndpointType} {
		s := sentTo(br, "grpc-1", typ)
		if s == nil || s.Acked == "" || s.LastNack != "" {
			t.Fatalf("%s: sent %+v", typ, s)
		}
	}
	if l := sentTo(br, "grpc-1", resource.ListenerType); len(l.Resources) != 1 {
		t.Fatalf("grpc client got listeners %v, want only its api_listener", l.Resources)
	}
}

// TestProxylessGRPCFromZooKeeper: a provider registers grpc://... in ZooKeeper (Dubbo layout); a
// grpc-go client dials xds:///grpc:greeter and reaches it through the bridge's resources only.
func TestProxylessGRPCFromZooKeeper(t *testing.T) {
	zkSrv := testenv.StartZooKeeper(t)
	conn, _, err := zk.Connect([]string{zkSrv.Addr}, 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	zkProvider(t, conn, "grpc", "greeter", healthServer(t, healthpb.HealthCheckResponse_SERVING))
	cfg, err := config.Parse(fmt.Appendf(nil, `
xds: {address: "127.0.0.1:0", debounce: 0.02s}
sources: [{name: zk, zookeeper: {servers: [%q], roots: [/dubbo]}}]
node_groups: [{name: grpc-clients, proxyless_grpc: true}]
`, zkSrv.Addr))
	if err != nil {
		t.Fatal(err)
	}
	srcs, err := server.Sources(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	br := startBridge(t, mustYAML(t, cfg), srcs...)
	resolver, err := xds.NewXDSResolverWithConfigForTesting(fmt.Appendf(nil, `{
  "xds_servers": [{"server_uri": %q, "channel_creds": [{"type": "insecure"}], "server_features": ["xds_v3"]}],
  "node": {"id": "grpc-zk", "cluster": "grpc-clients"}
}`, br.XDSAddr().String()))
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient("xds:///grpc:greeter", grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithResolvers(resolver))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	hc := healthpb.NewHealthClient(cc)
	waitFor(t, "call through xds to the ZooKeeper provider", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			return err
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			return fmt.Errorf("status %v", resp.GetStatus())
		}
		return nil
	})
}
