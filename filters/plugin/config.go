package plugin

import (
	"errors"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/govoy/govoy/filters/internal/typedconfig"
	"github.com/govoy/govoy/filters/plugin/chainpb"
)

// ChainConfig is a parsed plugin chain: what ConfigParser.Parse and Merge return and FilterFactory
// runs. It is immutable once built, so many requests share it.
type ChainConfig struct {
	// entries are sorted by Order, then name. In a filter-level or merged chain all are enabled; a
	// route-level chain also keeps its `disabled` entries, which Merge applies.
	entries []*entry
	// metrics belong to the filter-level config; merged chains share their root's.
	metrics *metricSet
	// lazy are the route-level metric handles, bound to the parent's metrics at Merge.
	lazy []*lazyMetric
	// err is set on a route-level chain that failed to parse (Envoy cannot reject those without
	// crashing, see parser.go); requests that use it get a 500.
	err error
	// routeLevel marks a chain parsed without config callbacks.
	routeLevel bool
	// disableAll marks a route-level config with an empty Any: the golang filter's RouterPlugin
	// `disabled: true`, which Envoy's C++ side does not act on (it passes the empty config on).
	disableAll bool
	// run is what a request runs: the enabled entries, in order.
	run []*entry
	// async is the union of run's async phases: a phase outside it never looks at the entries.
	async Phase
	// rawHeaders: no plugin of run copies the request headers (see RequestHeader), so one-key
	// lookups in Envoy's map are cheaper than the copy.
	rawHeaders bool
}

// prepare sorts the entries and computes what requests need.
func (c *ChainConfig) prepare() {
	sortEntries(c.entries)
	c.run = make([]*entry, 0, len(c.entries))
	c.async = 0
	c.rawHeaders = true
	for _, e := range c.entries {
		if !e.disabled {
			c.run = append(c.run, e)
			c.async |= e.async
			if hc, ok := e.config.(HeaderCopier); ok && hc.CopiesRequestHeaders() {
				c.rawHeaders = false
			}
		}
	}
}

type entry struct {
	name   string
	plugin Plugin
	config any
	// async are the phases run on a goroutine: the parsed config's AsyncPhases if it has one, else
	// the plugin kind's (AsyncPlugin). Read once here, never per request.
	async    Phase
	disabled bool
}

// asyncPhases is what a parsed config implements to choose its own async phases (see AsyncPlugin).
type asyncPhases interface{ AsyncPhases() Phase }

// Plugins lists the enabled plugin names in chain (decode) order.
func (c *ChainConfig) Plugins() []string {
	out := make([]string, 0, len(c.entries))
	for _, e := range c.entries {
		if !e.disabled {
			out = append(out, e.name)
		}
	}
	return out
}

// Disabled lists the plugins a route-level chain turns off.
func (c *ChainConfig) Disabled() []string {
	var out []string
	for _, e := range c.entries {
		if e.disabled {
			out = append(out, e.name)
		}
	}
	return out
}

// PluginConfig returns what the named plugin's Parse returned, if the plugin is in the chain.
func (c *ChainConfig) PluginConfig(name string) (any, bool) {
	for _, e := range c.entries {
		if e.name == name && !e.disabled {
			return e.config, true
		}
	}
	return nil, false
}

// Err is the parse error of an invalid route-level chain (and of every chain merged from it).
func (c *ChainConfig) Err() error { return c.err }

// chainTypeURL names the chain message in a TypedStruct.
const chainTypeURL = "type.googleapis.com/govoy.plugin.v1.Chain"

// ParseChain parses a chain config offline: the golang filter's plugin_config, or the govoy entry of a
// route's ConfigsPerRoute. It runs exactly what the .so runs, with inert metrics, so a config
// validator and the xDS bridge can reject bad configs before Envoy sees them.
func ParseChain(a *anypb.Any) (*ChainConfig, error) {
	return parseChain(a, nopMetrics{})
}

// metricFactory is how Parse contexts obtain metrics: real (filter level), lazy (route level) or
// no-op (offline).
type metricFactory interface {
	counter(name string) metricHandle
	gauge(name string) metricHandle
}

func parseChain(a *anypb.Any, mf metricFactory) (*ChainConfig, error) {
	msg, err := decodeChain(a)
	if err != nil {
		return nil, err
	}
	if err := msg.ValidateAll(); err != nil {
		return nil, fmt.Errorf("invalid govoy.plugin.v1.Chain: %w", err)
	}
	cfg := &ChainConfig{entries: make([]*entry, 0, len(msg.GetPlugins()))}
	seen := make(map[string]int, len(msg.GetPlugins()))
	for i, pc := range msg.GetPlugins() {
		if j, dup := seen[pc.GetName()]; dup {
			return nil, fmt.Errorf("plugins[%d]: plugin %q is already listed at plugins[%d]", i, pc.GetName(), j)
		}
		seen[pc.GetName()] = i
		e, err := parseEntry(pc, mf)
		if err != nil {
			return nil, err
		}
		cfg.entries = append(cfg.entries, e)
	}
	cfg.prepare()
	return cfg, nil
}

// decodeChain accepts a packed Chain (control planes) or a TypedStruct naming it (YAML users).
func decodeChain(a *anypb.Any) (*chainpb.Chain, error) {
	msg := &chainpb.Chain{}
	if a == nil || a.GetTypeUrl() == "" {
		if len(a.GetValue()) != 0 {
			return nil, errors.New("plugin_config: value without type_url")
		}
		return msg, nil // no plugin_config: an empty chain, routes may add plugins
	}
	if err := typedconfig.Unpack(a, msg); err != nil {
		return nil, fmt.Errorf("plugin_config: %w", err)
	}
	return msg, nil
}

func typeName(url string) string {
	if i := strings.LastIndexByte(url, '/'); i >= 0 {
		return url[i+1:]
	}
	return url
}

func parseEntry(pc *chainpb.PluginConfig, mf metricFactory) (e *entry, err error) {
	name := pc.GetName()
	p, ok := Lookup(name)
	if !ok {
		return nil, fmt.Errorf("plugin %q: unknown plugin (registered: %s)", name, strings.Join(registeredNames(), ", "))
	}
	e = &entry{name: name, plugin: p, disabled: pc.GetDisabled()}
	// A plugin's Parse must not take Envoy down: Parse runs inside a cgo call without recovery.
	defer func() {
		if r := recover(); r != nil {
			e, err = nil, fmt.Errorf("plugin %q: invalid config: Parse panicked: %v\n%s", name, r, debug.Stack())
		}
	}()
	msg, err := pluginMessage(p, pc)
	if err != nil {
		return nil, fmt.Errorf("plugin %q: invalid config: %w", name, err)
	}
	if e.disabled && pc.GetConfigType() == nil {
		return e, nil // turning a plugin off needs no config
	}
	if v, ok := msg.(interface{ ValidateAll() error }); ok {
		if err := v.ValidateAll(); err != nil {
			return nil, fmt.Errorf("plugin %q: invalid config: %w", name, err)
		}
	}
	cfg, err := p.Parse(msg, &parseContext{plugin: name, mf: mf})
	if err != nil {
		return nil, fmt.Errorf("plugin %q: invalid config: %w", name, err)
	}
	if !e.disabled {
		e.config = cfg
		e.async = entryAsync(p, cfg)
	}
	return e, nil
}

// entryAsync picks the async phases of one parsed entry: the config narrows (or sets) what the
// plugin kind declares.
func entryAsync(p Plugin, cfg any) Phase {
	if ac, ok := cfg.(asyncPhases); ok {
		return ac.AsyncPhases()
	}
	if ap, ok := p.(AsyncPlugin); ok {
		return ap.AsyncPhases()
	}
	return 0
}

// pluginMessage decodes the entry's config or typed_config into the plugin's config message.
func pluginMessage(p Plugin, pc *chainpb.PluginConfig) (proto.Message, error) {
	msg := p.ConfigProto()
	if msg == nil {
		return nil, errors.New("plugin returned a nil ConfigProto")
	}
	switch c := pc.GetConfigType().(type) {
	case *chainpb.PluginConfig_Config:
		js, err := protojson.Marshal(c.Config)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		// DiscardUnknown stays false: a misspelt field is an error, not a silently ignored setting.
		if err := (protojson.UnmarshalOptions{}).Unmarshal(js, msg); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	case *chainpb.PluginConfig_TypedConfig:
		want := string(msg.ProtoReflect().Descriptor().FullName())
		if typeName(c.TypedConfig.GetTypeUrl()) != want {
			return nil, fmt.Errorf("typed_config: type %q, want %q", c.TypedConfig.GetTypeUrl(), "type.googleapis.com/"+want)
		}
		if err := proto.Unmarshal(c.TypedConfig.GetValue(), msg); err != nil {
			return nil, fmt.Errorf("typed_config: decode %s: %w", want, err)
		}
	}
	return msg, nil
}

func registeredNames() []string {
	ps := Registered()
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name()
	}
	sort.Strings(out)
	return out
}

func sortEntries(es []*entry) {
	sort.SliceStable(es, func(i, j int) bool {
		oi, oj := es[i].plugin.Order(), es[j].plugin.Order()
		if oi != oj {
			return oi < oj
		}
		return es[i].name < es[j].name
	})
}

// parseContext is the ParseContext of one plugin entry.
type parseContext struct {
	plugin string
	mf     metricFactory
}

func (c *parseContext) Counter(name string) api.CounterMetric {
	return c.mf.counter(c.plugin + "." + name)
}

func (c *parseContext) Gauge(name string) api.GaugeMetric { return c.mf.gauge(c.plugin + "." + name) }
