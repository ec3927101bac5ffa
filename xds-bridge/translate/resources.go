// Package translate turns the service model and the govoy-xds config into typed Envoy resources and keeps
// them in go-control-plane LinearCaches: one per type for what every node shares (CDS, EDS, govoy RPC
// services) and one per type and node group for LDS, RDS and ECDS. A changed service updates only its
// own cluster, endpoints and RPC resource, so nothing else is re-hashed or re-marshalled.
package translate

import (
	"fmt"
	"sort"
	"time"

	golang "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/filters/http/golang/v3alpha"
	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	httpopts "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/govoy/govoy/filters/plugin/chainpb"
	"github.com/govoy/govoy/xds-bridge/client/rpcpb"
	"github.com/govoy/govoy/xds-bridge/config"
	"github.com/govoy/govoy/xds-bridge/model"
)

// Names shared with Envoy configs and the govoy filter.
const (
	GolangFilterName = "envoy.filters.http.golang"
	GolangConfigType = "type.googleapis.com/envoy.extensions.filters.http.golang.v3alpha.Config"
	LibraryID        = "govoy"
	PluginName       = "govoy"
	LBMetadataKey    = "envoy.lb"
	// RpcServiceType is the type URL of the govoy RPC resources (see xds-bridge/client).
	RpcServiceType = "type.googleapis.com/govoy.xds.rpc.v1.RpcService"
)

// DefaultWeight is used when an endpoint has no weight.
const DefaultWeight = 100

// RouteConfigName is the RDS name of a listener's routes.
func RouteConfigName(listenerName string) string { return "routes/" + listenerName }

// GovoyFilterName is the HTTP filter (and ECDS resource) name of a listener's govoy filter.
func GovoyFilterName(listenerName string) string { return "govoy/" + listenerName }

// GRPCRouteConfigName is the RDS name of the routes of a proxyless gRPC service's api_listener.
func GRPCRouteConfigName(service string) string { return "grpc/" + service }

var adsSource = &core.ConfigSource{
	ResourceApiVersion:    core.ApiVersion_V3,
	ConfigSourceSpecifier: &core.ConfigSource_Ads{Ads: &core.AggregatedConfigSource{}},
}

func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		// Only reachable with a nil message: a programming error, caught by tests.
		panic(fmt.Sprintf("pack %T: %v", m, err))
	}
	return a
}

// Cluster is the EDS cluster of a service, with subsets on the well-known metadata keys.
func Cluster(svc *model.Service) *cluster.Cluster {
	c := &cluster.Cluster{
		Name:                 svc.Name,
		ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_EDS},
		EdsClusterConfig:     &cluster.Cluster_EdsClusterConfig{EdsConfig: adsSource},
		ConnectTimeout:       durationpb.New(2 * time.Second),
		LbPolicy:             cluster.Cluster_ROUND_ROBIN,
		LbSubsetConfig: &cluster.Cluster_LbSubsetConfig{
			FallbackPolicy: cluster.Cluster_LbSubsetConfig_ANY_ENDPOINT,
			SubsetSelectors: []*cluster.Cluster_LbSubsetConfig_LbSubsetSelector{
				{Keys: []string{model.MetaVersion}},
				{Keys: []string{model.MetaGroup}},
				{Keys: []string{model.MetaApplication}},
				{Keys: []string{model.MetaGroup, model.MetaVersion}},
			},
		},
	}
	if svc.Protocol == model.ProtocolGRPC || svc.Protocol == model.ProtocolTri {
		c.TypedExtensionProtocolOptions = map[string]*anypb.Any{
			"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": mustAny(&httpopts.HttpProtocolOptions{
				UpstreamProtocolOptions: &httpopts.HttpProtocolOptions_ExplicitHttpConfig_{
					ExplicitHttpConfig: &httpopts.HttpProtocolOptions_ExplicitHttpConfig{
						ProtocolConfig: &httpopts.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
							Http2ProtocolOptions: &core.Http2ProtocolOptions{},
						},
					},
				},
			}),
		}
	}
	return c
}

// Endpoints is the ClusterLoadAssignment of a service: one LocalityLbEndpoints per locality, each
// endpoint with its weight, health and metadata under filter_metadata "envoy.lb".
func Endpoints(svc *model.Service) *endpoint.ClusterLoadAssignment {
	byLoc := map[model.Locality][]*endpoint.LbEndpoint{}
	weights := map[model.Locality]uint32{}
	for _, ep := range svc.Endpoints {
		w := ep.Weight
		if w == 0 {
			w = DefaultWeight
		}
		health := core.HealthStatus_HEALTHY
		if !ep.Healthy {
			health = core.HealthStatus_UNHEALTHY
		}
		lb := &endpoint.LbEndpoint{
			HostIdentifier: &endpoint.LbEndpoint_Endpoint{Endpoint: &endpoint.Endpoint{
				Address: &core.Address{Address: &core.Address_SocketAddress{SocketAddress: &core.SocketAddress{
					Address: ep.Address, PortSpecifier: &core.SocketAddress_PortValue{PortValue: ep.Port},
				}}},
			}},
			HealthStatus:        health,
			LoadBalancingWeight: wrapperspb.UInt32(w),
		}
		if len(ep.Metadata) > 0 {
			fields := make(map[string]*structpb.Value, len(ep.Metadata))
			for k, v := range ep.Metadata {
				fields[k] = structpb.NewStringValue(v)
			}
			lb.Metadata = &core.Metadata{FilterMetadata: map[string]*structpb.Struct{LBMetadataKey: {Fields: fields}}}
		}
		byLoc[ep.Locality] = append(byLoc[ep.Locality], lb)
		weights[ep.Locality] += w
	}
	locs := make([]model.Locality, 0, len(byLoc))
	for l := range byLoc {
		locs = append(locs, l)
	}
	sort.Slice(locs, func(i, j int) bool {
		a, b := locs[i], locs[j]
		return a.Region+"\x00"+a.Zone+"\x00"+a.SubZone < b.Region+"\x00"+b.Zone+"\x00"+b.SubZone
	})
	cla := &endpoint.ClusterLoadAssignment{ClusterName: svc.Name}
	for _, l := range locs {
		cla.Endpoints = append(cla.Endpoints, &endpoint.LocalityLbEndpoints{
			Locality: &core.Locality{Region: l.Region, Zone: l.Zone, SubZone: l.SubZone},
			// gRPC ignores localities without a weight; the sum keeps endpoint weights comparable.
			LoadBalancingWeight: wrapperspb.UInt32(weights[l]),
			LbEndpoints:         byLoc[l],
		})
	}
	return cla
}

// RpcService is the govoy RPC filter's view of a service with the rules that target it.
func RpcService(svc *model.Service, rules []*config.RpcRule) *rpcpb.RpcService {
	out := &rpcpb.RpcService{
		Name: svc.Name, Protocol: string(svc.Protocol), Interfaces: svc.Interfaces, Methods: svc.Methods,
		Metadata: svc.Metadata,
	}
	for _, ep := range svc.Endpoints {
		w := ep.Weight
		if w == 0 {
			w = DefaultWeight
		}
		out.Endpoints = append(out.Endpoints, &rpcpb.Endpoint{
			Address: ep.Address, Port: ep.Port, Weight: w, Healthy: ep.Healthy, Metadata: ep.Metadata,
			Region: ep.Locality.Region, Zone: ep.Locality.Zone, SubZone: ep.Locality.SubZone,
		})
	}
	for _, r := range rules {
		if r.GetService() == svc.Name {
			out.Rules = append(out.Rules, &rpcpb.Rule{Method: r.GetMethod(), Match: r.GetMatch(), Subset: r.GetSubset()})
		}
	}
	return out
}

// GolangFilterConfig is the golang filter config of a listener's govoy filter (served over ECDS).
func GolangFilterConfig(l *config.Listener, libraryPath string) *core.TypedExtensionConfig {
	chain := l.GetGovoy().GetChain()
	if chain == nil {
		chain = &chainpb.Chain{}
	}
	return &core.TypedExtensionConfig{
		Name: GovoyFilterName(l.GetName()),
		TypedConfig: mustAny(&golang.Config{
			LibraryId:    LibraryID,
			LibraryPath:  libraryPath,
			PluginName:   PluginName,
			PluginConfig: mustAny(chain),
		}),
	}
}

func routerFilter() *hcm.HttpFilter {
	return &hcm.HttpFilter{
		Name:       "envoy.filters.http.router",
		ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: mustAny(&routerv3.Router{})},
	}
}

// Listener is the Envoy listener of l: an HTTP connection manager with RDS and, when the govoy filter
// is enabled, the golang filter discovered over ECDS (rule changes never drain the listener).
func Listener(l *config.Listener) *listener.Listener {
	var filters []*hcm.HttpFilter
	if l.GetGovoy() != nil {
		filters = append(filters, &hcm.HttpFilter{
			Name: GovoyFilterName(l.GetName()),
			ConfigType: &hcm.HttpFilter_ConfigDiscovery{ConfigDiscovery: &core.ExtensionConfigSource{
				ConfigSource: adsSource,
				TypeUrls:     []string{GolangConfigType},
			}},
		})
	}
	filters = append(filters, routerFilter())
	m := &hcm.HttpConnectionManager{
		StatPrefix: l.GetName(),
		RouteSpecifier: &hcm.HttpConnectionManager_Rds{Rds: &hcm.Rds{
			ConfigSource: adsSource, RouteConfigName: RouteConfigName(l.GetName()),
		}},
		HttpFilters: filters,
	}
	if d := l.GetStreamIdleTimeout(); d != nil {
		m.StreamIdleTimeout = d
	}
	return &listener.Listener{
		Name: l.GetName(),
		Address: &core.Address{Address: &core.Address_SocketAddress{SocketAddress: &core.SocketAddress{
			Address: config.BindAddress(l), PortSpecifier: &core.SocketAddress_PortValue{PortValue: l.GetPort()},
		}}},
		FilterChains: []*listener.FilterChain{{Filters: []*listener.Filter{{
			Name:       "envoy.filters.network.http_connection_manager",
			ConfigType: &listener.Filter_TypedConfig{TypedConfig: mustAny(m)},
		}}}},
	}
}

func routeAction(svc string, timeout *durationpb.Duration, subset map[string]string) *route.Route_Route {
	a := &route.RouteAction{ClusterSpecifier: &route.RouteAction_Cluster{Cluster: svc}}
	if timeout != nil {
		a.Timeout = timeout
	}
	if len(subset) > 0 {
		fields := map[string]*structpb.Value{}
		for k, v := range subset {
			fields[k] = structpb.NewStringValue(v)
		}
		a.MetadataMatch = &core.Metadata{FilterMetadata: map[string]*structpb.Struct{LBMetadataKey: {Fields: fields}}}
	}
	return &route.Route_Route{Route: a}
}

// RouteConfiguration holds the configured virtual hosts of l and, with service_virtual_hosts, one
// virtual host per HTTP service (sorted names, domain = service name).
func RouteConfiguration(l *config.Listener, httpServices []string) *route.RouteConfiguration {
	rc := &route.RouteConfiguration{Name: RouteConfigName(l.GetName())}
	for _, vh := range l.GetVirtualHosts() {
		v := &route.VirtualHost{Name: vh.GetName(), Domains: vh.GetDomains()}
		for _, r := range vh.GetRoutes() {
			rr := &route.Route{Match: &route.RouteMatch{}, Action: routeAction(r.GetService(), r.GetTimeout(), r.GetSubset())}
			if r.GetPath() != "" {
				rr.Match.PathSpecifier = &route.RouteMatch_Path{Path: r.GetPath()}
			} else {
				rr.Match.PathSpecifier = &route.RouteMatch_Prefix{Prefix: r.GetPrefix()}
			}
			if r.GetChain() != nil {
				rr.TypedPerFilterConfig = map[string]*anypb.Any{
					GovoyFilterName(l.GetName()): mustAny(&golang.ConfigsPerRoute{PluginsConfig: map[string]*golang.RouterPlugin{
						PluginName: {Override: &golang.RouterPlugin_Config{Config: mustAny(r.GetChain())}},
					}}),
				}
			}
			v.Routes = append(v.Routes, rr)
		}
		rc.VirtualHosts = append(rc.VirtualHosts, v)
	}
	if l.GetServiceVirtualHosts() {
		for _, name := range httpServices {
			rc.VirtualHosts = append(rc.VirtualHosts, &route.VirtualHost{
				Name:    "svc/" + name,
				Domains: []string{name, name + ":*"},
				Routes: []*route.Route{{
					Match:  &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}},
					Action: routeAction(name, nil, nil),
				}},
			})
		}
	}
	return rc
}

// APIListener is the LDS resource a proxyless gRPC client asks for when dialing xds:///<service>.
func APIListener(service string) *listener.Listener {
	m := &hcm.HttpConnectionManager{
		StatPrefix: "grpc",
		RouteSpecifier: &hcm.HttpConnectionManager_Rds{Rds: &hcm.Rds{
			ConfigSource: adsSource, RouteConfigName: GRPCRouteConfigName(service),
		}},
		HttpFilters: []*hcm.HttpFilter{routerFilter()},
	}
	return &listener.Listener{
		Name:        service,
		ApiListener: &listener.ApiListener{ApiListener: mustAny(m)},
	}
}

// GRPCRouteConfiguration routes every call to the service's cluster.
func GRPCRouteConfiguration(service string) *route.RouteConfiguration {
	return &route.RouteConfiguration{
		Name: GRPCRouteConfigName(service),
		VirtualHosts: []*route.VirtualHost{{
			Name:    service,
			Domains: []string{service},
			Routes: []*route.Route{{
				Match:  &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}},
				Action: routeAction(service, nil, nil),
			}},
		}},
	}
}

// validate runs the resource's protoc-gen-validate rules.
func validate(m proto.Message) error {
	if v, ok := m.(interface{ ValidateAll() error }); ok {
		return v.ValidateAll()
	}
	return nil
}

// isHTTP reports whether a service is reachable through Envoy's HTTP routes.
func isHTTP(svc *model.Service) bool {
	return svc.Protocol == model.ProtocolHTTP || svc.Protocol == model.ProtocolGRPC || svc.Protocol == model.ProtocolTri || svc.Protocol == ""
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
