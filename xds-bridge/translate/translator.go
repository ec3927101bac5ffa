package translate

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/govoy/govoy/xds-bridge/admin/metrics"
	"github.com/govoy/govoy/xds-bridge/config"
	"github.com/govoy/govoy/xds-bridge/model"
	"github.com/govoy/govoy/xds-bridge/store"
)

// DefaultGroup is the node group of nodes that match no configured group.
const DefaultGroup = "default"

// group holds the per-node-group caches (LDS, RDS, ECDS).
type group struct {
	name      string
	proxyless bool
	listeners []*config.Listener
	lds, rds  *cachev3.LinearCache
	ecds      *cachev3.LinearCache
}

// Translator owns the caches the xDS server serves and applies store batches to them.
type Translator struct {
	cfg     *config.Config
	log     *zap.Logger
	metrics *metrics.Metrics

	cds, eds, rpc *cachev3.LinearCache
	groups        map[string]*group
	mux           *cachev3.MuxCache

	chainCheck ChainCheck

	mu   sync.Mutex // serializes Apply; guards the sets below
	http map[string]bool
	grpc map[string]bool

	// last is read by xDS server callbacks while Apply may hold mu and block on a watch channel
	// that only those callbacks drain, so it must not take mu.
	last atomic.Pointer[applied]
}

type applied struct {
	seq   uint64
	first time.Time
}

// ChainCheck parses a plugin chain (the golang filter's plugin_config or a route's govoy entry) the
// way govoy.so will; govoy-xds passes plugin.ParseChain with every govoy.so plugin linked in.
type ChainCheck func(*anypb.Any) error

// Option configures a Translator.
type Option func(*Translator)

// WithChainCheck rejects, at start-up, configs whose plugin chains govoy.so would refuse.
func WithChainCheck(c ChainCheck) Option { return func(t *Translator) { t.chainCheck = c } }

// New builds the caches and the static resources (listeners, ECDS) of cfg.
func New(cfg *config.Config, m *metrics.Metrics, log *zap.Logger, opts ...Option) (*Translator, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if m == nil {
		m = metrics.New()
	}
	// A per-process prefix keeps versions unique across restarts so clients never mistake new state
	// for what they already have.
	prefix := strconv.FormatInt(time.Now().UnixNano(), 36) + "-"
	lc := func(typeURL string) *cachev3.LinearCache {
		return cachev3.NewLinearCache(typeURL, cachev3.WithVersionPrefix(prefix), cachev3.WithLogger(zapLogger{log}))
	}
	t := &Translator{
		cfg: cfg, log: log, metrics: m,
		cds: lc(resource.ClusterType), eds: lc(resource.EndpointType), rpc: lc(RpcServiceType),
		groups: map[string]*group{},
		http:   map[string]bool{}, grpc: map[string]bool{},
	}
	for _, o := range opts {
		o(t)
	}
	if err := t.checkChains(); err != nil {
		return nil, err
	}
	t.groups[DefaultGroup] = &group{name: DefaultGroup}
	for _, g := range cfg.GetNodeGroups() {
		t.groups[g.GetName()] = &group{name: g.GetName(), proxyless: g.GetProxylessGrpc()}
	}
	for _, g := range t.groups {
		g.lds, g.rds, g.ecds = lc(resource.ListenerType), lc(resource.RouteType), lc(resource.ExtensionConfigType)
	}
	for _, l := range cfg.GetListeners() {
		for _, g := range t.groups {
			if listenerIn(l, g) {
				g.listeners = append(g.listeners, l)
			}
		}
	}
	for _, g := range t.groups {
		lds := map[string]types.Resource{}
		ecds := map[string]types.Resource{}
		for _, l := range g.listeners {
			lis := Listener(l)
			if err := validate(lis); err != nil {
				return nil, fmt.Errorf("listeners %q: generated listener is invalid: %w", l.GetName(), err)
			}
			lds[lis.GetName()] = lis
			if l.GetGovoy() != nil {
				ec := GolangFilterConfig(l, config.LibraryPath(cfg))
				if err := validate(ec); err != nil {
					return nil, fmt.Errorf("listeners %q: govoy filter config is invalid: %w", l.GetName(), err)
				}
				ecds[ec.GetName()] = ec
			}
		}
		g.lds.SetResources(lds)
		g.ecds.SetResources(ecds)
		if err := t.updateRoutes(g); err != nil {
			return nil, err
		}
	}
	caches := map[string]cachev3.Cache{
		resource.ClusterType: t.cds, resource.EndpointType: t.eds, RpcServiceType: t.rpc,
	}
	for name, g := range t.groups {
		caches[resource.ListenerType+"|"+name] = g.lds
		caches[resource.RouteType+"|"+name] = g.rds
		caches[resource.ExtensionConfigType+"|"+name] = g.ecds
	}
	t.mux = &cachev3.MuxCache{
		Classify:      func(r *cachev3.Request) string { return t.classify(r.GetTypeUrl(), r.GetNode()) },
		ClassifyDelta: func(r *cachev3.DeltaRequest) string { return t.classify(r.GetTypeUrl(), r.GetNode()) },
		Caches:        caches,
	}
	return t, nil
}

// checkChains runs the chain check on every filter- and route-level chain, naming the config field.
func (t *Translator) checkChains() error {
	if t.chainCheck == nil {
		return nil
	}
	for i, l := range t.cfg.GetListeners() {
		if l.GetGovoy() != nil {
			a, err := anypb.New(l.GetGovoy().GetChain())
			if err == nil {
				err = t.chainCheck(a)
			}
			if err != nil {
				return fmt.Errorf("listeners[%d].govoy.chain: %w", i, err)
			}
		}
		for j, vh := range l.GetVirtualHosts() {
			for k, r := range vh.GetRoutes() {
				if r.GetChain() == nil {
					continue
				}
				a, err := anypb.New(r.GetChain())
				if err == nil {
					err = t.chainCheck(a)
				}
				if err != nil {
					return fmt.Errorf("listeners[%d].virtual_hosts[%d].routes[%d].chain: %w", i, j, k, err)
				}
			}
		}
	}
	return nil
}

func listenerIn(l *config.Listener, g *group) bool {
	if len(l.GetNodeGroups()) == 0 {
		return !g.proxyless
	}
	for _, n := range l.GetNodeGroups() {
		if n == g.name {
			return true
		}
	}
	return false
}

func (t *Translator) classify(typeURL string, node *core.Node) string {
	switch typeURL {
	case resource.ListenerType, resource.RouteType, resource.ExtensionConfigType:
		return typeURL + "|" + t.GroupOf(node)
	}
	return typeURL
}

// GroupOf returns the node group of a node (configured by xds.group_by); nodes of identical groups
// share every cached and marshalled resource.
func (t *Translator) GroupOf(node *core.Node) string {
	var key string
	switch by := t.cfg.GetXds().GetGroupBy(); {
	case by == "" || by == "cluster":
		key = node.GetCluster()
	case by == "id":
		key = node.GetId()
	case len(by) > len("metadata:"):
		key = node.GetMetadata().GetFields()[by[len("metadata:"):]].GetStringValue()
	}
	if _, ok := t.groups[key]; ok {
		return key
	}
	return DefaultGroup
}

// Cache is what the xDS server serves.
func (t *Translator) Cache() cachev3.Cache { return t.mux }

// Caches exposes the caches by mux key, for the admin config dump.
func (t *Translator) Caches() map[string]*cachev3.LinearCache {
	out := map[string]*cachev3.LinearCache{
		resource.ClusterType: t.cds, resource.EndpointType: t.eds, RpcServiceType: t.rpc,
	}
	for name, g := range t.groups {
		out[resource.ListenerType+"|"+name] = g.lds
		out[resource.RouteType+"|"+name] = g.rds
		out[resource.ExtensionConfigType+"|"+name] = g.ecds
	}
	return out
}

// LastApplied returns the sequence number of the last batch applied and when its oldest change was seen.
func (t *Translator) LastApplied() (uint64, time.Time) {
	if a := t.last.Load(); a != nil {
		return a.seq, a.first
	}
	return 0, time.Time{}
}

// Apply updates the caches for one store batch. Only changed services are rebuilt; routes and
// api_listeners are rebuilt only when the set of HTTP or gRPC services changes.
func (t *Translator) Apply(b store.Batch) {
	t.mu.Lock()
	defer t.mu.Unlock()
	clusters := map[string]types.Resource{}
	loads := map[string]types.Resource{}
	rpcs := map[string]types.Resource{}
	var gone []string
	httpChanged, grpcChanged := false, false
	for name, svc := range b.Upserted {
		c, cla, rs := Cluster(svc), Endpoints(svc), RpcService(svc, t.cfg.GetRpcRules())
		if err := t.check(resource.ClusterType, name, c); err != nil {
			continue
		}
		if err := t.check(resource.EndpointType, name, cla); err != nil {
			continue
		}
		if err := t.check(RpcServiceType, name, rs); err != nil {
			continue
		}
		mc, err1 := compact(name, c)
		ml, err2 := compact(name, cla)
		mr, err3 := compact(name, rs)
		if err := errors.Join(err1, err2, err3); err != nil {
			t.log.Error("marshal resources; keeping the previous ones", zap.String("service", name), zap.Error(err))
			continue
		}
		clusters[name], loads[name], rpcs[name] = mc, ml, mr
		if h := isHTTP(svc); h != t.http[name] {
			t.http[name], httpChanged = h, true
		}
		if g := svc.Protocol == model.ProtocolGRPC; g != t.grpc[name] {
			t.grpc[name], grpcChanged = g, true
		}
	}
	for _, name := range b.Deleted {
		gone = append(gone, name)
		if t.http[name] {
			httpChanged = true
		}
		if t.grpc[name] {
			grpcChanged = true
		}
		delete(t.http, name)
		delete(t.grpc, name)
	}
	// Clusters before endpoints: a client warming a new cluster then finds its endpoints.
	if err := t.cds.UpdateResources(clusters, gone); err != nil {
		t.log.Error("update clusters", zap.Error(err))
	}
	if err := t.eds.UpdateResources(loads, gone); err != nil {
		t.log.Error("update endpoints", zap.Error(err))
	}
	if err := t.rpc.UpdateResources(rpcs, gone); err != nil {
		t.log.Error("update rpc services", zap.Error(err))
	}
	for _, g := range t.groups {
		if (httpChanged && !g.proxyless) || (grpcChanged && g.proxyless) {
			if err := t.updateRoutes(g); err != nil {
				t.log.Error("update routes", zap.String("group", g.name), zap.Error(err))
			}
		}
	}
	t.last.Store(&applied{seq: b.Seq, first: b.FirstChange})
}

func (t *Translator) check(typeURL, name string, m interface{ ValidateAll() error }) error {
	if err := m.ValidateAll(); err != nil {
		t.metrics.Invalid.WithLabelValues(typeURL).Inc()
		t.log.Error("generated resource is invalid; keeping the previous one",
			zap.String("type_url", typeURL), zap.String("name", name), zap.Error(err))
		return err
	}
	return nil
}

// updateRoutes rebuilds a group's route configurations (and, for proxyless groups, api_listeners).
func (t *Translator) updateRoutes(g *group) error {
	if g.proxyless {
		lds := map[string]types.Resource{}
		rds := map[string]types.Resource{}
		for _, name := range sortedKeys(t.grpc) {
			if !t.grpc[name] {
				continue
			}
			l, rc := APIListener(name), GRPCRouteConfiguration(name)
			if t.check(resource.ListenerType, name, l) != nil || t.check(resource.RouteType, name, rc) != nil {
				continue
			}
			lds[name], rds[rc.GetName()] = l, rc
		}
		setChanged(g.lds, lds)
		setChanged(g.rds, rds)
		return nil
	}
	var httpNames []string
	for _, name := range sortedKeys(t.http) {
		if t.http[name] {
			httpNames = append(httpNames, name)
		}
	}
	rds := map[string]types.Resource{}
	for _, l := range g.listeners {
		rc := RouteConfiguration(l, httpNames)
		if err := t.check(resource.RouteType, rc.GetName(), rc); err != nil {
			return fmt.Errorf("listeners %q: generated routes are invalid: %w", l.GetName(), err)
		}
		rds[rc.GetName()] = rc
	}
	setChanged(g.rds, rds)
	return nil
}

// setChanged makes the cache hold exactly want, touching only resources that differ, so clients of
// unchanged route configurations or listeners get no push.
func setChanged(c *cachev3.LinearCache, want map[string]types.Resource) {
	have := c.GetResources()
	upd := map[string]types.Resource{}
	var del []string
	for name, r := range want {
		if old, ok := have[name]; !ok || !proto.Equal(old, r) {
			upd[name] = r
		}
	}
	for name := range have {
		if _, ok := want[name]; !ok {
			del = append(del, name)
		}
	}
	if len(upd) > 0 || len(del) > 0 {
		_ = c.UpdateResources(upd, del) // only fails when notifying a watch fails; logged by the cache
	}
}

// zapLogger adapts zap to go-control-plane's logger.
type zapLogger struct{ l *zap.Logger }

func (z zapLogger) Debugf(f string, a ...any) {}
func (z zapLogger) Infof(f string, a ...any)  { z.l.Sugar().Debugf(f, a...) }
func (z zapLogger) Warnf(f string, a ...any)  { z.l.Sugar().Warnf(f, a...) }
func (z zapLogger) Errorf(f string, a ...any) { z.l.Sugar().Errorf(f, a...) }
