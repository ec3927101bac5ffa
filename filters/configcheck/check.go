// Package configcheck validates Envoy bootstraps that use Govoy without running Envoy: it parses the
// bootstrap with go-control-plane's types, runs their protoc-gen-validate rules (also inside every
// typed_config), and parses each Govoy config with the same code the .so runs: plugin chains
// (plugin.ParseChain), the govoy-rpc network filter (proxy.ParseAny, proxy.Check), the
// govoy-bridge upstream (bridge.ParseAny) and the cluster specifier (cluster.ParseAny).
//
// Only message types linked into the binary can be resolved: the caller blank-imports the Envoy extension
// packages, govoy plugins and RPC codecs it supports (filters/cmd/govoy-validate does: filters/http/all
// and filters/rpc/codec/all, as govoy.so).
package configcheck

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	udpatypev1 "github.com/cncf/xds/go/udpa/type/v1"
	xdstypev3 "github.com/cncf/xds/go/xds/type/v3"
	golangv3alpha "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/filters/http/golang/v3alpha"
	netgolangv3alpha "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/filters/network/golang/v3alpha"
	csgolangv3alpha "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/router/cluster_specifier/golang/v3alpha"
	tcpgolangv3alpha "github.com/envoyproxy/go-control-plane/contrib/envoy/extensions/upstreams/http/tcp/golang/v3alpha"
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"sigs.k8s.io/yaml"

	"github.com/govoy/govoy/filters/bridge"
	"github.com/govoy/govoy/filters/cluster"
	"github.com/govoy/govoy/filters/plugin"
	"github.com/govoy/govoy/filters/rpc/proxy"
)

// Problem is one finding: where in which file, and what is wrong.
type Problem struct {
	File string
	// Location is the path of the offending element in the bootstrap, with list elements named by their
	// `name` field when they have one, e.g. static_resources.listeners["ingress"].filter_chains[0]...
	Location string
	Message  string
}

func (p Problem) String() string {
	if p.Location == "" {
		return p.File + ": " + p.Message
	}
	return p.File + ": " + p.Location + ": " + p.Message
}

// CheckFile reads a bootstrap (YAML or JSON) and checks it. A read error is returned as a problem too.
func CheckFile(path string) []Problem {
	data, err := os.ReadFile(path)
	if err != nil {
		return []Problem{{File: path, Message: fmt.Sprintf("read: %v", err)}}
	}
	return Check(path, data)
}

// Check checks one bootstrap; name only labels the problems.
func Check(name string, data []byte) []Problem {
	c := &checker{file: name}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		c.add("", "not YAML/JSON: %v", err)
		return c.problems
	}
	var bs bootstrapv3.Bootstrap
	if err := (protojson.UnmarshalOptions{Resolver: protoregistry.GlobalTypes}).Unmarshal(js, &bs); err != nil {
		msg := err.Error()
		loc := locateJSONError(js, msg)
		if loc != "" {
			msg = strings.Join(strings.Fields(jsonPos.ReplaceAllString(msg, "")), " ")
		}
		c.add(loc, "invalid envoy.config.bootstrap.v3.Bootstrap: %s", msg)
		return c.problems
	}
	c.validate("", &bs)
	c.walk(bs.ProtoReflect(), "")
	return c.problems
}

type checker struct {
	file     string
	problems []Problem
	// golangFilters names the golang HTTP filters of the HttpConnectionManager being walked (nil outside
	// one), and perFilterKey the typed_per_filter_config key being walked: a per-route golang config under
	// a key that names none of them is silently ignored by Envoy.
	golangFilters map[string]bool
	perFilterKey  string
}

func (c *checker) add(loc, format string, args ...any) {
	c.problems = append(c.problems, Problem{File: c.file, Location: loc, Message: fmt.Sprintf(format, args...)})
}

// validate runs the message's protoc-gen-validate rules. They cover embedded messages but stop at Any
// fields, which is why walk unpacks every Any and validates its content separately.
func (c *checker) validate(loc string, m proto.Message) {
	v, ok := m.(interface{ ValidateAll() error })
	if !ok {
		return
	}
	if err := v.ValidateAll(); err != nil {
		var multi interface{ AllErrors() []error }
		if errors.As(err, &multi) {
			for _, e := range multi.AllErrors() {
				c.add(loc, "%v", e)
			}
			return
		}
		c.add(loc, "%v", err)
	}
}

// walk visits every message field of m (lists and maps included) in a stable order.
func (c *checker) walk(m protoreflect.Message, loc string) {
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if !m.Has(fd) || fd.Message() == nil {
			continue
		}
		at := join(loc, string(fd.Name()))
		v := m.Get(fd)
		switch {
		case fd.IsList():
			l := v.List()
			for j := 0; j < l.Len(); j++ {
				el := l.Get(j).Message()
				c.visit(el, at+"["+elementKey(el, j)+"]")
			}
		case fd.IsMap():
			if fd.MapValue().Message() == nil {
				continue
			}
			mp := v.Map()
			keys := make([]string, 0, mp.Len())
			byKey := map[string]protoreflect.Message{}
			mp.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
				keys = append(keys, k.String())
				byKey[k.String()] = v.Message()
				return true
			})
			sort.Strings(keys)
			for _, k := range keys {
				if fd.Name() == "typed_per_filter_config" {
					c.perFilterKey = k
				}
				c.visit(byKey[k], at+"["+strconv.Quote(k)+"]")
			}
		default:
			c.visit(v.Message(), at)
		}
	}
}

func (c *checker) visit(m protoreflect.Message, loc string) {
	switch msg := m.Interface().(type) {
	case *anypb.Any:
		c.visitAny(msg, loc)
	case *golangv3alpha.Config:
		c.golangFilter(msg, loc)
	case *golangv3alpha.ConfigsPerRoute:
		c.golangPerRoute(msg, loc)
	case *csgolangv3alpha.Config:
		c.clusterSpecifier(msg, loc)
	case *netgolangv3alpha.Config:
		if msg.GetPluginName() != proxy.PluginName {
			c.walk(m, loc)
			return
		}
		c.rpcProxy(msg, loc)
	case *tcpgolangv3alpha.Config:
		if msg.GetPluginName() != bridge.PluginName {
			c.walk(m, loc)
			return
		}
		if _, err := bridge.ParseAny(msg.GetPluginConfig()); err != nil {
			c.add(join(loc, "plugin_config"), "%v", err)
		}
	case *hcmv3.HttpConnectionManager:
		saved := c.golangFilters
		c.golangFilters = map[string]bool{}
		for _, f := range msg.GetHttpFilters() {
			if f.GetTypedConfig().GetTypeUrl() == golangConfigURL || slices.Contains(f.GetConfigDiscovery().GetTypeUrls(), golangConfigURL) {
				c.golangFilters[f.GetName()] = true
			}
		}
		c.walk(m, loc)
		c.golangFilters = saved
	default:
		c.walk(m, loc)
	}
}

// visitAny unpacks a typed_config (TypedStruct included), validates the content and walks into it.
func (c *checker) visitAny(a *anypb.Any, loc string) {
	msg, err := a.UnmarshalNew()
	if err != nil {
		c.add(loc, "cannot decode %s: %v", a.GetTypeUrl(), err)
		return
	}
	switch ts := msg.(type) {
	case *xdstypev3.TypedStruct:
		msg, err = fromStruct(ts.GetTypeUrl(), ts.GetValue())
	case *udpatypev1.TypedStruct:
		msg, err = fromStruct(ts.GetTypeUrl(), ts.GetValue())
	}
	if err != nil {
		c.add(loc, "%v", err)
		return
	}
	c.validate(loc, msg)
	c.visit(msg.ProtoReflect(), loc)
}

// fromStruct turns a TypedStruct's content into the message its type_url names, as Envoy does.
func fromStruct(typeURL string, value *structpb.Struct) (proto.Message, error) {
	mt, err := protoregistry.GlobalTypes.FindMessageByURL(typeURL)
	if err != nil {
		return nil, fmt.Errorf("TypedStruct type_url %q: unknown message type", typeURL)
	}
	js, err := protojson.Marshal(value)
	if err != nil {
		return nil, fmt.Errorf("TypedStruct %q: value: %w", typeURL, err)
	}
	msg := mt.New().Interface()
	if err := protojson.Unmarshal(js, msg); err != nil {
		return nil, fmt.Errorf("TypedStruct %q: value: %w", typeURL, err)
	}
	return msg, nil
}

const golangConfigURL = "type.googleapis.com/envoy.extensions.filters.http.golang.v3alpha.Config"

// golangFilter checks a golang HTTP filter config. Its plugin_config is opaque to Envoy; for the govoy
// plugin it is a plugin chain, checked by the chain parser the .so uses.
func (c *checker) golangFilter(cfg *golangv3alpha.Config, loc string) {
	if cfg.GetPluginName() != plugin.FilterName {
		return
	}
	if cfg.GetPluginConfig() == nil {
		c.add(join(loc, "plugin_config"), "missing: the %q plugin needs a govoy.plugin.v1.Chain", plugin.FilterName)
		return
	}
	c.chain(cfg.GetPluginConfig(), join(loc, "plugin_config"))
}

// golangPerRoute checks the route-level configs of golang filters; plugins_config["govoy"] is a chain.
func (c *checker) golangPerRoute(cfg *golangv3alpha.ConfigsPerRoute, loc string) {
	if c.golangFilters != nil && !c.golangFilters[c.perFilterKey] {
		names := slices.Sorted(maps.Keys(c.golangFilters))
		c.add(loc, "no golang HTTP filter named %q in this HttpConnectionManager (golang filters: %q): Envoy would ignore this per-route config",
			c.perFilterKey, names)
	}
	rp, ok := cfg.GetPluginsConfig()[plugin.FilterName]
	if !ok || rp.GetConfig() == nil {
		return // absent, or {disabled: true}: nothing to parse
	}
	c.chain(rp.GetConfig(), join(loc, "plugins_config["+strconv.Quote(plugin.FilterName)+"].config"))
}

// clusterSpecifier checks a golang cluster specifier whose config is Govoy's, with the parser the .so
// runs (which cannot refuse a config inside Envoy: an invalid one sends everything to default_cluster).
// Another library's config is left to the generic walk, unless the library is govoy.so.
func (c *checker) clusterSpecifier(cfg *csgolangv3alpha.Config, loc string) {
	if !cluster.IsConfig(cfg.GetConfig()) {
		if path.Base(cfg.GetLibraryPath()) == "govoy.so" {
			c.add(join(loc, "config"), "govoy.so's cluster specifier needs a %s (or a TypedStruct naming it), got %q",
				cluster.ConfigTypeName, cfg.GetConfig().GetTypeUrl())
		}
		c.walk(cfg.ProtoReflect(), loc)
		return
	}
	if _, err := cluster.ParseAny(cfg.GetConfig()); err != nil {
		c.add(join(loc, "config"), "%v", err)
	}
}

// rpcProxy checks a govoy-rpc network filter with the parser and the checks the .so runs; the .so
// would log the error and close every connection of the listener.
func (c *checker) rpcProxy(cfg *netgolangv3alpha.Config, loc string) {
	if !cfg.GetIsTerminalFilter() {
		c.add(join(loc, "is_terminal_filter"), "must be true: %s answers every request itself and passes no bytes on", proxy.PluginName)
	}
	p, err := proxy.ParseAny(cfg.GetPluginConfig())
	if err == nil {
		err = proxy.Check(p)
	}
	if err != nil {
		c.add(join(loc, "plugin_config"), "%v", err)
	}
}

func (c *checker) chain(a *anypb.Any, loc string) {
	if _, err := plugin.ParseChain(a); err != nil {
		c.add(loc, "%v", err)
	}
}

// elementKey names a list element by its non-empty `name` field (listeners, clusters, filters,
// virtual hosts, routes), else by its index.
func elementKey(m protoreflect.Message, index int) string {
	if fd := m.Descriptor().Fields().ByName("name"); fd != nil && fd.Kind() == protoreflect.StringKind && !fd.IsList() {
		if name := m.Get(fd).String(); name != "" {
			return strconv.Quote(name)
		}
	}
	return strconv.Itoa(index)
}

func join(loc, field string) string {
	if loc == "" {
		return field
	}
	return loc + "." + field
}

// Summary formats problems one per line (for the command and tests).
func Summary(ps []Problem) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.String())
		b.WriteByte('\n')
	}
	return b.String()
}
