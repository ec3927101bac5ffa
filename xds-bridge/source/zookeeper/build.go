package zookeeper

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/govoy/govoy/xds-bridge/model"
	"github.com/govoy/govoy/xds-bridge/source/internal/publish"
)

// Service naming (documented in README.md):
//   - interface-level Dubbo and SOFARPC: "<protocol>:<interface>", e.g. "dubbo:org.apache.dubbo.Greeter",
//     "bolt:com.alipay.Hello"; version/group/application are endpoint metadata for lb_subset;
//   - Dubbo 3 application-level: "app:<application>:<protocol>", e.g. "app:demo-provider:tri".

// Extra endpoint metadata keys set by this source.
const (
	MetaSerialization = "serialization"
	MetaRevision      = "revision" // Dubbo 3 metadata revision of an instance
)

// defaultDubboWeight is Dubbo's and SOFARPC's default provider weight.
const defaultDubboWeight = 100

// snapshot is what the watcher mirrored, by role. It is rebuilt into services on every change.
type snapshot struct {
	// dubboProviders[root][iface] = child names under .../providers.
	dubboProviders map[string]map[string][]string
	// dubboConfigurators[root][iface] = child names under .../configurators.
	dubboConfigurators map[string]map[string][]string
	// sofaProviders[root][iface] = child names.
	sofaProviders map[string]map[string][]string
	// appInstances[path of instance] = data.
	appInstances map[string][]byte
	// mappings[iface] = data.
	mappings map[string][]byte
	// stamps[znode path] changes whenever that znode's mirrored content changes.
	stamps map[string]uint64
}

func newSnapshot() *snapshot {
	return &snapshot{
		dubboProviders: map[string]map[string][]string{}, dubboConfigurators: map[string]map[string][]string{},
		sofaProviders: map[string]map[string][]string{}, appInstances: map[string][]byte{}, mappings: map[string][]byte{},
		stamps: map[string]uint64{},
	}
}

func put(m map[string]map[string][]string, root, iface string, children []string) {
	if m[root] == nil {
		m[root] = map[string][]string{}
	}
	m[root][iface] = children
}

// buildCache keeps each interface's built endpoints across rebuilds, keyed by the versions of its
// providers and configurators znodes: a batch usually touches a few interfaces out of thousands,
// and URL parsing dominates a rebuild. Entries not used by a build are dropped.
type buildCache struct {
	gen    uint64
	groups map[string]cachedGroup
}

type cachedGroup struct {
	stamp   [2]uint64
	frags   []fragment
	skipped []string
	gen     uint64
}

// fragment is one interface's contribution to one service.
type fragment struct {
	name, iface string
	proto       model.Protocol
	layout      Layout
	methods     []string
	endpoints   []model.Endpoint
}

func newBuildCache() *buildCache { return &buildCache{groups: map[string]cachedGroup{}} }

// group returns the cached fragments of key if its stamp is unchanged, else computes them. A zero
// stamp (no version known) is never cached.
func (c *buildCache) group(key string, stamp [2]uint64, compute func() ([]fragment, []string)) ([]fragment, []string) {
	if g, ok := c.groups[key]; ok && g.stamp == stamp && stamp != [2]uint64{} {
		g.gen = c.gen
		c.groups[key] = g
		return g.frags, g.skipped
	}
	frags, skipped := compute()
	c.groups[key] = cachedGroup{stamp: stamp, frags: frags, skipped: skipped, gen: c.gen}
	return frags, skipped
}

func (c *buildCache) sweep() {
	for k, g := range c.groups {
		if g.gen != c.gen {
			delete(c.groups, k)
		}
	}
	c.gen++
}

// build turns a snapshot into services. skipped gets one reason per ignored registry entry.
// Endpoint metadata maps may be shared between builds: consumers treat them as read-only.
func build(s *snapshot, cache *buildCache) (svcs []model.Service, skipped []string) {
	if cache == nil {
		cache = newBuildCache()
	}
	defer cache.sweep()
	byName := map[string]*model.Service{}
	get := func(name string, proto model.Protocol, iface string, meta map[string]string) *model.Service {
		svc := byName[name]
		if svc == nil {
			svc = &model.Service{Name: name, Protocol: proto, Metadata: meta}
			if iface != "" {
				svc.Interfaces = []string{iface}
			}
			byName[name] = svc
		}
		return svc
	}
	skip := func(format string, args ...any) { skipped = append(skipped, fmt.Sprintf(format, args...)) }
	merge := func(frags []fragment, reasons []string) {
		skipped = append(skipped, reasons...)
		for _, f := range frags {
			svc := get(f.name, f.proto, f.iface, map[string]string{"interface": f.iface, "layout": string(f.layout)})
			svc.Methods = append(svc.Methods, f.methods...)
			svc.Endpoints = append(svc.Endpoints, f.endpoints...)
		}
	}

	for _, root := range slices.Sorted(maps.Keys(s.dubboProviders)) {
		for _, iface := range slices.Sorted(maps.Keys(s.dubboProviders[root])) {
			dir := root + "/" + iface
			stamp := [2]uint64{s.stamps[dir+"/providers"], s.stamps[dir+"/configurators"]}
			merge(cache.group("d"+dir, stamp, func() ([]fragment, []string) {
				return dubboFragments(root, iface, s.dubboProviders[root][iface], s.dubboConfigurators[root][iface])
			}))
		}
	}
	for _, root := range slices.Sorted(maps.Keys(s.sofaProviders)) {
		for _, iface := range slices.Sorted(maps.Keys(s.sofaProviders[root])) {
			dir := root + "/" + iface
			stamp := [2]uint64{s.stamps[dir+"/providers"], 1}
			merge(cache.group("s"+dir, stamp, func() ([]fragment, []string) {
				return sofaFragments(root, iface, s.sofaProviders[root][iface])
			}))
		}
	}

	// Application-level: interfaces per app from the mappings.
	ifacesOf := map[string][]string{}
	for _, iface := range slices.Sorted(maps.Keys(s.mappings)) {
		for _, app := range strings.Split(string(s.mappings[iface]), ",") {
			if app = strings.TrimSpace(app); app != "" {
				ifacesOf[app] = append(ifacesOf[app], iface)
			}
		}
	}
	for _, p := range slices.Sorted(maps.Keys(s.appInstances)) {
		app := path.Base(path.Dir(p))
		inst, err := parseInstance(s.appInstances[p])
		if err != nil {
			skip("%s: %v", p, err)
			continue
		}
		if !inst.enabled {
			continue
		}
		for _, ep := range inst.endpoints {
			proto, ok := protocolOf(ep.Protocol)
			if !ok {
				skip("%s: protocol %q is not proxied", p, ep.Protocol)
				continue
			}
			svc := get("app:"+app+":"+string(proto), proto, "", map[string]string{"application": app, "layout": string(LayoutDubboApp)})
			if svc.Interfaces == nil {
				svc.Interfaces = slices.Clone(ifacesOf[app])
			}
			svc.Endpoints = append(svc.Endpoints, model.Endpoint{
				Address: inst.addr, Port: uint32(ep.Port), Weight: envoyWeight(inst.weight), Healthy: true,
				Metadata: maps.Clone(inst.meta),
			})
		}
	}

	for _, name := range slices.Sorted(maps.Keys(byName)) {
		svcs = append(svcs, *byName[name])
	}
	return svcs, skipped
}

// protocolOf maps a registry URL scheme / Dubbo endpoint protocol to the model.
func protocolOf(scheme string) (model.Protocol, bool) {
	switch strings.ToLower(scheme) {
	case "dubbo":
		return model.ProtocolDubbo, true
	case "tri", "triple":
		return model.ProtocolTri, true
	case "grpc":
		return model.ProtocolGRPC, true
	case "bolt":
		return model.ProtocolBolt, true
	case "rest", "http":
		return model.ProtocolHTTP, true
	}
	return "", false
}

// envoyWeight maps a Dubbo/SOFA weight (default 100, unbounded) onto the model's 1..128.
// Weights above 128 are capped, so ratios between heavy providers flatten; Dubbo's default (100)
// maps to itself.
func envoyWeight(w int) uint32 {
	switch {
	case w <= 0:
		return 0
	case w > 128:
		return 128
	}
	return uint32(w)
}

// provider is a parsed provider znode name.
type provider struct {
	scheme  string
	addr    string
	port    uint32
	weight  int
	methods []string
	meta    map[string]string
	params  url.Values
}

// parseRegistryURL decodes a url-encoded znode name into a URL with an IP-literal host and a port.
func parseRegistryURL(name string) (*url.URL, string, uint32, error) {
	raw, err := url.QueryUnescape(name)
	if err != nil {
		return nil, "", 0, fmt.Errorf("not a url-encoded URL: %w", err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, "", 0, fmt.Errorf("bad URL: %w", err)
	}
	host := u.Hostname()
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return nil, "", 0, fmt.Errorf("host %q is not an IP literal (sources resolve nothing)", host)
	}
	port, err := strconv.ParseUint(u.Port(), 10, 16)
	if err != nil || port == 0 {
		return nil, "", 0, fmt.Errorf("bad port %q", u.Port())
	}
	return u, ip.Unmap().String(), uint32(port), nil
}

func parseProvider(name string) (provider, error) {
	u, addr, port, err := parseRegistryURL(name)
	if err != nil {
		return provider{}, err
	}
	q := u.Query()
	if c := q.Get("category"); c != "" && c != "providers" {
		return provider{}, fmt.Errorf("category %q is not providers", c)
	}
	weight, err := intParam(q, "weight", defaultDubboWeight)
	if err != nil {
		return provider{}, err
	}
	p := provider{scheme: u.Scheme, addr: addr, port: port, weight: weight, params: q,
		meta: map[string]string{
			model.MetaVersion: q.Get("version"), model.MetaGroup: q.Get("group"),
			model.MetaApplication: q.Get("application"),
		}}
	if s := q.Get("serialization"); s != "" {
		p.meta[MetaSerialization] = s
	}
	for _, m := range strings.Split(q.Get("methods"), ",") {
		if m = strings.TrimSpace(m); m != "" {
			p.methods = append(p.methods, m)
		}
	}
	return p, nil
}

func parseSofaProvider(name string) (provider, error) {
	u, addr, port, err := parseRegistryURL(name)
	if err != nil {
		return provider{}, err
	}
	q := u.Query()
	weight, err := intParam(q, "weight", defaultDubboWeight)
	if err != nil {
		return provider{}, err
	}
	// SOFARPC's uniqueId plays the role of Dubbo's group.
	p := provider{scheme: u.Scheme, addr: addr, port: port, weight: weight, params: q,
		meta: map[string]string{
			model.MetaVersion: q.Get("version"), model.MetaGroup: q.Get("uniqueId"),
			model.MetaApplication: q.Get("appName"),
		}}
	if s := q.Get("serialization"); s != "" {
		p.meta[MetaSerialization] = s
	}
	return p, nil
}

func intParam(q url.Values, key string, def int) (int, error) {
	v := q.Get(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q is not an integer", key, v)
	}
	return n, nil
}

// override is a Dubbo configurator (override://HOST[:PORT]/interface?...).
type override struct {
	anyHost  bool
	addr     string
	port     uint32
	match    map[string]string // application/version/group conditions
	weight   *int
	disabled *bool
	priority int
	name     string
}

func (o override) matches(p provider) bool {
	if !o.anyHost && (o.addr != p.addr || (o.port != 0 && o.port != p.port)) {
		return false
	}
	for k, v := range o.match {
		if v != "" && v != "*" && p.params.Get(k) != v {
			return false
		}
	}
	return true
}

// parseOverrides reads configurator znode names in the order Dubbo applies them: rules for any
// host first, then host-specific ones (so they win), each group by priority.
func parseOverrides(names []string, skip func(string)) []override {
	var out []override
	for _, name := range names {
		raw, err := url.QueryUnescape(name)
		if err != nil {
			skip(fmt.Sprintf("%s: not url-encoded", name))
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "override" {
			skip(fmt.Sprintf("%s: not an override:// URL", raw))
			continue
		}
		q := u.Query()
		if q.Get("enabled") == "false" {
			continue // rule switched off by its owner
		}
		o := override{name: name, match: map[string]string{}}
		host := u.Hostname()
		if host == "0.0.0.0" || host == "" {
			o.anyHost = true
		} else if ip, err := netip.ParseAddr(host); err == nil {
			o.addr = ip.Unmap().String()
			if pt, err := strconv.ParseUint(u.Port(), 10, 16); err == nil {
				o.port = uint32(pt)
			}
		} else {
			skip(fmt.Sprintf("%s: host %q is not an IP literal", raw, host))
			continue
		}
		for _, k := range []string{"application", "version", "group"} {
			o.match[k] = q.Get(k)
		}
		if v := q.Get("weight"); v != "" {
			w, err := strconv.Atoi(v)
			if err != nil {
				skip(fmt.Sprintf("%s: weight=%q is not an integer", raw, v))
				continue
			}
			o.weight = &w
		}
		if v := q.Get("disabled"); v != "" {
			d := v == "true"
			o.disabled = &d
		}
		o.priority, _ = strconv.Atoi(q.Get("priority"))
		out = append(out, o)
	}
	slices.SortStableFunc(out, func(a, b override) int {
		if a.anyHost != b.anyHost {
			if a.anyHost {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(a.priority, b.priority), cmp.Compare(a.name, b.name))
	})
	return out
}

// instance is a parsed Dubbo 3 ServiceInstance (Curator JSON).
type instance struct {
	addr      string
	enabled   bool
	weight    int
	endpoints []instanceEndpoint
	meta      map[string]string
}

type instanceEndpoint struct {
	Port     int    `json:"port"`
	Protocol string `json:"protocol"`
}

func parseInstance(data []byte) (instance, error) {
	var doc struct {
		Name    string `json:"name"`
		ID      string `json:"id"`
		Address string `json:"address"`
		Port    *int   `json:"port"`
		Enabled *bool  `json:"enabled"`
		Payload struct {
			Metadata map[string]string `json:"metadata"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return instance{}, fmt.Errorf("not a ServiceInstance JSON: %w", err)
	}
	ip, err := netip.ParseAddr(doc.Address)
	if err != nil {
		return instance{}, fmt.Errorf("address %q is not an IP literal (sources resolve nothing)", doc.Address)
	}
	md := doc.Payload.Metadata
	inst := instance{addr: ip.Unmap().String(), enabled: doc.Enabled == nil || *doc.Enabled,
		meta: map[string]string{model.MetaApplication: doc.Name}}
	if r := md["dubbo.metadata.revision"]; r != "" {
		inst.meta[MetaRevision] = r
	}
	if w := md["weight"]; w != "" {
		if inst.weight, err = strconv.Atoi(w); err != nil {
			return instance{}, fmt.Errorf("metadata weight=%q is not an integer", w)
		}
	}
	if eps := md["dubbo.endpoints"]; eps != "" {
		if err := json.Unmarshal([]byte(eps), &inst.endpoints); err != nil {
			return instance{}, fmt.Errorf("metadata dubbo.endpoints: %w", err)
		}
	} else if doc.Port != nil {
		// No endpoint list: the instance port speaks Dubbo's default protocol.
		inst.endpoints = []instanceEndpoint{{Port: *doc.Port, Protocol: "dubbo"}}
	}
	if len(inst.endpoints) == 0 {
		return instance{}, fmt.Errorf("no port and no dubbo.endpoints")
	}
	for _, e := range inst.endpoints {
		if e.Port <= 0 || e.Port > 65535 {
			return instance{}, fmt.Errorf("endpoint port %d is not in 1..65535", e.Port)
		}
	}
	return inst, nil
}

// fragmentSet collects one interface's endpoints per protocol.
type fragmentSet struct {
	iface   string
	layout  Layout
	byProto map[model.Protocol]*fragment
	order   []model.Protocol
	skipped []string
}

func (fs *fragmentSet) add(proto model.Protocol, methods []string, ep model.Endpoint) {
	f := fs.byProto[proto]
	if f == nil {
		f = &fragment{name: string(proto) + ":" + fs.iface, iface: fs.iface, proto: proto, layout: fs.layout}
		if fs.byProto == nil {
			fs.byProto = map[model.Protocol]*fragment{}
		}
		fs.byProto[proto] = f
		fs.order = append(fs.order, proto)
	}
	f.methods = append(f.methods, methods...)
	f.endpoints = append(f.endpoints, ep)
}

func (fs *fragmentSet) result() ([]fragment, []string) {
	out := make([]fragment, 0, len(fs.order))
	for _, p := range fs.order {
		f := fs.byProto[p]
		// Canonical order now, once per interface change, so publishing compares without copying.
		f.methods = publish.SortedUnique(f.methods)
		publish.SortEndpoints(f.endpoints)
		out = append(out, *f)
	}
	return out, fs.skipped
}

func (fs *fragmentSet) skip(format string, args ...any) {
	fs.skipped = append(fs.skipped, fmt.Sprintf(format, args...))
}

// dubboFragments builds one Dubbo interface: providers with the configurators applied.
func dubboFragments(root, iface string, providers, configurators []string) ([]fragment, []string) {
	fs := &fragmentSet{iface: iface, layout: LayoutDubbo}
	overrides := parseOverrides(configurators, func(r string) { fs.skip("%s/%s/configurators: %s", root, iface, r) })
	for _, name := range providers {
		p, err := parseProvider(name)
		if err != nil {
			fs.skip("%s/%s/providers/%s: %v", root, iface, name, err)
			continue
		}
		proto, ok := protocolOf(p.scheme)
		if !ok {
			fs.skip("%s/%s/providers: protocol %q of %s:%d is not proxied", root, iface, p.scheme, p.addr, p.port)
			continue
		}
		weight, disabled := p.weight, p.params.Get("disabled") == "true"
		for _, o := range overrides {
			if o.matches(p) {
				if o.weight != nil {
					weight = *o.weight
				}
				if o.disabled != nil {
					disabled = *o.disabled
				}
			}
		}
		if disabled || weight <= 0 {
			// Dubbo consumers send nothing to a disabled or zero-weight provider; an unhealthy
			// host would still get traffic in Envoy's panic mode, so it is left out.
			continue
		}
		fs.add(proto, p.methods, model.Endpoint{Address: p.addr, Port: p.port, Weight: envoyWeight(weight),
			Healthy: true, Metadata: p.meta})
	}
	return fs.result()
}

// sofaFragments builds one SOFARPC interface.
func sofaFragments(root, iface string, providers []string) ([]fragment, []string) {
	fs := &fragmentSet{iface: iface, layout: LayoutSofa}
	for _, name := range providers {
		p, err := parseSofaProvider(name)
		if err != nil {
			fs.skip("%s/%s/providers/%s: %v", root, iface, name, err)
			continue
		}
		proto, ok := protocolOf(p.scheme)
		if !ok {
			fs.skip("%s/%s/providers: protocol %q of %s:%d is not proxied", root, iface, p.scheme, p.addr, p.port)
			continue
		}
		if p.weight <= 0 {
			continue
		}
		fs.add(proto, nil, model.Endpoint{Address: p.addr, Port: p.port, Weight: envoyWeight(p.weight),
			Healthy: true, Metadata: p.meta})
	}
	return fs.result()
}
