package translate

import (
	"errors"
	"strings"
	"testing"

	golang "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/filters/http/golang/v3alpha"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/govoy/govoy/filters/plugin/chainpb"
	"github.com/govoy/govoy/xds-bridge/client/rpcpb"
	"github.com/govoy/govoy/xds-bridge/config"
	"github.com/govoy/govoy/xds-bridge/model"
	"github.com/govoy/govoy/xds-bridge/store"
)

const testConfig = `
xds: {address: "127.0.0.1:0"}
sources: [{name: reg, file: {path: /dev/null}}]
node_groups: [{name: grpc, proxyless_grpc: true}, {name: edge}]
golang: {library_path: /opt/govoy.so}
rpc_rules: [{service: dubbo-svc, method: sayHello, subset: {version: v2}}]
listeners:
- name: ingress
  port: 10080
  govoy: {chain: {plugins: [{name: key_auth}]}}
  service_virtual_hosts: true
  virtual_hosts:
  - name: main
    domains: ["*"]
    routes:
    - {prefix: /v2, service: web, subset: {version: v2}, chain: {plugins: [{name: key_auth, disabled: true}]}}
    - {prefix: /, service: web}
- name: plain
  port: 10081
  node_groups: [edge]
  virtual_hosts: [{name: all, domains: ["*"], routes: [{prefix: /, service: web}]}]
`

func newTranslator(t testing.TB) *Translator {
	t.Helper()
	cfg, err := config.Parse([]byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func web() *model.Service {
	return &model.Service{Name: "web", Protocol: model.ProtocolHTTP, Endpoints: []model.Endpoint{
		{Address: "127.0.0.2", Port: 8080, Weight: 10, Healthy: true, Metadata: map[string]string{"version": "v2"},
			Locality: model.Locality{Region: "r1", Zone: "z1"}},
		{Address: "127.0.0.3", Port: 8080, Healthy: false, Locality: model.Locality{Region: "r1", Zone: "z2"}},
		{Address: "127.0.0.4", Port: 8080, Weight: 5, Healthy: true, Locality: model.Locality{Region: "r1", Zone: "z1"}},
	}}
}

func TestClusterAndEndpoints(t *testing.T) {
	c := Cluster(web())
	if c.GetName() != "web" || c.GetType().String() != "EDS" || c.GetEdsClusterConfig().GetEdsConfig().GetAds() == nil {
		t.Fatalf("cluster = %v", c)
	}
	if got := len(c.GetLbSubsetConfig().GetSubsetSelectors()); got != 4 {
		t.Fatalf("subset selectors = %d", got)
	}
	if err := c.ValidateAll(); err != nil {
		t.Fatal(err)
	}
	if len(Cluster(&model.Service{Name: "g", Protocol: model.ProtocolGRPC}).GetTypedExtensionProtocolOptions()) != 1 {
		t.Fatal("gRPC cluster without HTTP/2 options")
	}
	cla := Endpoints(web())
	if err := cla.ValidateAll(); err != nil {
		t.Fatal(err)
	}
	if len(cla.GetEndpoints()) != 2 {
		t.Fatalf("localities = %d, want 2", len(cla.GetEndpoints()))
	}
	z1 := cla.GetEndpoints()[0]
	if z1.GetLocality().GetZone() != "z1" || len(z1.GetLbEndpoints()) != 2 || z1.GetLoadBalancingWeight().GetValue() != 15 {
		t.Fatalf("z1 = %v", z1)
	}
	ep := z1.GetLbEndpoints()[0]
	if ep.GetLoadBalancingWeight().GetValue() != 10 || ep.GetHealthStatus() != core.HealthStatus_HEALTHY ||
		ep.GetMetadata().GetFilterMetadata()[LBMetadataKey].GetFields()["version"].GetStringValue() != "v2" {
		t.Fatalf("endpoint = %v", ep)
	}
	z2 := cla.GetEndpoints()[1].GetLbEndpoints()[0]
	if z2.GetHealthStatus() != core.HealthStatus_UNHEALTHY || z2.GetLoadBalancingWeight().GetValue() != DefaultWeight {
		t.Fatalf("unhealthy endpoint = %v", z2)
	}
}

func hcmOf(t *testing.T, l *listener.Listener) *hcm.HttpConnectionManager {
	t.Helper()
	m := resource.GetHTTPConnectionManager(l.GetFilterChains()[0].GetFilters()[0])
	if m == nil {
		t.Fatalf("listener %s has no HCM", l.GetName())
	}
	return m
}

func TestGroupsListenersECDSAndRoutes(t *testing.T) {
	tr := newTranslator(t)
	tr.Apply(store.Batch{Seq: 1, Upserted: map[string]*model.Service{
		"web":       web(),
		"greeter":   {Name: "greeter", Protocol: model.ProtocolGRPC},
		"dubbo-svc": {Name: "dubbo-svc", Protocol: model.ProtocolDubbo},
	}})
	groups := tr.Caches()
	def := groups[resource.ListenerType+"|default"].GetResources()
	if len(def) != 1 || def["ingress"] == nil {
		t.Fatalf("default LDS = %v", def)
	}
	edge := groups[resource.ListenerType+"|edge"].GetResources()
	if len(edge) != 2 {
		t.Fatalf("edge LDS has %d listeners, want 2", len(edge))
	}
	m := hcmOf(t, def["ingress"].(*listener.Listener))
	if len(m.GetHttpFilters()) != 2 || m.GetHttpFilters()[0].GetConfigDiscovery() == nil ||
		m.GetHttpFilters()[0].GetName() != GovoyFilterName("ingress") {
		t.Fatalf("ingress filters = %v", m.GetHttpFilters())
	}
	if pm := hcmOf(t, edge["plain"].(*listener.Listener)); len(pm.GetHttpFilters()) != 1 {
		t.Fatalf("plain listener has a govoy filter: %v", pm.GetHttpFilters())
	}
	ec := groups[resource.ExtensionConfigType+"|default"].GetResources()[GovoyFilterName("ingress")].(*core.TypedExtensionConfig)
	gc := &golang.Config{}
	if err := ec.GetTypedConfig().UnmarshalTo(gc); err != nil {
		t.Fatal(err)
	}
	chain := &chainpb.Chain{}
	if err := gc.GetPluginConfig().UnmarshalTo(chain); err != nil {
		t.Fatal(err)
	}
	if gc.GetLibraryId() != LibraryID || gc.GetLibraryPath() != "/opt/govoy.so" || gc.GetPluginName() != PluginName ||
		len(chain.GetPlugins()) != 1 || chain.GetPlugins()[0].GetName() != "key_auth" {
		t.Fatalf("golang config = %v chain = %v", gc, chain)
	}
	rc := groups[resource.RouteType+"|default"].GetResources()[RouteConfigName("ingress")].(*route.RouteConfiguration)
	// main + web (http) + greeter (grpc); dubbo is not an HTTP service.
	if len(rc.GetVirtualHosts()) != 3 {
		t.Fatalf("virtual hosts = %d: %v", len(rc.GetVirtualHosts()), rc.GetVirtualHosts())
	}
	r0 := rc.GetVirtualHosts()[0].GetRoutes()[0]
	if r0.GetRoute().GetMetadataMatch().GetFilterMetadata()[LBMetadataKey].GetFields()["version"].GetStringValue() != "v2" {
		t.Fatalf("route subset = %v", r0.GetRoute())
	}
	per := &golang.ConfigsPerRoute{}
	if err := r0.GetTypedPerFilterConfig()[GovoyFilterName("ingress")].UnmarshalTo(per); err != nil {
		t.Fatal(err)
	}
	if per.GetPluginsConfig()[PluginName].GetConfig() == nil {
		t.Fatalf("per-route chain = %v", per)
	}
	grpcLDS := groups[resource.ListenerType+"|grpc"].GetResources()
	if len(grpcLDS) != 1 || grpcLDS["greeter"].(*listener.Listener).GetApiListener() == nil {
		t.Fatalf("proxyless LDS = %v", grpcLDS)
	}
	if groups[resource.RouteType+"|grpc"].GetResources()[GRPCRouteConfigName("greeter")] == nil {
		t.Fatal("proxyless RDS missing")
	}
	rpc := &rpcpb.RpcService{}
	if err := Decode(groups[RpcServiceType].GetResources()["dubbo-svc"], rpc); err != nil {
		t.Fatal(err)
	}
	if len(rpc.GetRules()) != 1 || rpc.GetRules()[0].GetMethod() != "sayHello" || rpc.GetRules()[0].GetSubset()["version"] != "v2" {
		t.Fatalf("rpc resource = %v", rpc)
	}
	if tr.GroupOf(&core.Node{Cluster: "edge"}) != "edge" || tr.GroupOf(&core.Node{Cluster: "nope"}) != DefaultGroup {
		t.Fatal("group classification")
	}
}

func decodeCLA(t *testing.T, r proto.Message) *endpoint.ClusterLoadAssignment {
	t.Helper()
	cla := &endpoint.ClusterLoadAssignment{}
	if err := Decode(r, cla); err != nil {
		t.Fatal(err)
	}
	return cla
}

func TestApplyTouchesOnlyChangedServices(t *testing.T) {
	tr := newTranslator(t)
	tr.Apply(store.Batch{Seq: 1, Upserted: map[string]*model.Service{"web": web(), "other": {Name: "other", Protocol: model.ProtocolHTTP}}})
	before := tr.eds.GetResources()
	rdsBefore := tr.groups[DefaultGroup].rds.GetResources()
	w := web()
	w.Endpoints = w.Endpoints[:1]
	tr.Apply(store.Batch{Seq: 2, Upserted: map[string]*model.Service{"web": w}})
	after := tr.eds.GetResources()
	if before["other"] != after["other"] {
		t.Fatal("unchanged service's endpoints were rebuilt")
	}
	if before["web"] == after["web"] || len(decodeCLA(t, after["web"]).GetEndpoints()) != 1 {
		t.Fatal("changed service's endpoints were not rebuilt")
	}
	if rdsBefore[RouteConfigName("ingress")] != tr.groups[DefaultGroup].rds.GetResources()[RouteConfigName("ingress")] {
		t.Fatal("an endpoint change rebuilt the routes")
	}
	tr.Apply(store.Batch{Seq: 3, Deleted: []string{"other"}})
	if _, ok := tr.cds.GetResources()["other"]; ok {
		t.Fatal("deleted service's cluster still served")
	}
	rc := tr.groups[DefaultGroup].rds.GetResources()[RouteConfigName("ingress")].(*route.RouteConfiguration)
	for _, vh := range rc.GetVirtualHosts() {
		if vh.GetName() == "svc/other" {
			t.Fatal("deleted service's virtual host still served")
		}
	}
}

func TestInvalidEndpointIsNotServed(t *testing.T) {
	tr := newTranslator(t)
	tr.Apply(store.Batch{Seq: 1, Upserted: map[string]*model.Service{"web": web()}})
	bad := web()
	bad.Endpoints[0].Weight = 0
	bad.Endpoints[0].Port = 70000 // out of range for Envoy: PGV rejects it
	tr.Apply(store.Batch{Seq: 2, Upserted: map[string]*model.Service{"web": bad}})
	cla := decodeCLA(t, tr.eds.GetResources()["web"])
	if len(cla.GetEndpoints()) == 0 {
		t.Fatal("previous endpoints were dropped")
	}
	for _, l := range cla.GetEndpoints() {
		for _, e := range l.GetLbEndpoints() {
			if e.GetEndpoint().GetAddress().GetSocketAddress().GetPortValue() == 70000 {
				t.Fatal("invalid endpoint served")
			}
		}
	}
}

func TestChainCheckNamesTheField(t *testing.T) {
	cfg, err := config.Parse([]byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	_, err = New(cfg, nil, nil, WithChainCheck(func(a *anypb.Any) error {
		c := &chainpb.Chain{}
		if err := a.UnmarshalTo(c); err != nil {
			return err
		}
		for _, p := range c.GetPlugins() {
			seen = append(seen, p.GetName())
			if p.GetDisabled() {
				return errors.New("refused")
			}
		}
		return nil
	}))
	if err == nil || !strings.Contains(err.Error(), "listeners[0].virtual_hosts[0].routes[0].chain: refused") {
		t.Fatalf("err = %v", err)
	}
	if len(seen) != 2 {
		t.Fatalf("checked plugins %v, want the filter-level and the route-level key_auth", seen)
	}
}
