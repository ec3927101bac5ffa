// Package plugin is Govoy's HTTP plugin API: what a plugin implements, how it registers, and the
// per-request handle it receives. The chain runner (chain.go) turns an ordered list of plugins into the
// single Envoy golang HTTP filter named "govoy", so Envoy crosses into Go at most once per phase.
package plugin

import (
	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"google.golang.org/protobuf/proto"
)

// FilterName is the plugin_name of the golang HTTP filter that runs the chain.
const FilterName = "govoy"

// Phase is a bit set of request phases; plugins use it to declare which phases do I/O.
type Phase uint32

const (
	PhaseDecodeHeaders Phase = 1 << iota
	PhaseDecodeRequest       // the whole request body (after WaitAllData)
	PhaseEncodeHeaders
	PhaseEncodeResponse // the whole response body (after WaitAllData)
)

// Plugin describes one kind of plugin. Implementations are stateless descriptors registered once
// from an init function; per-config state lives in the value returned by Parse, per-request state in
// the Filter returned by NewFilter.
type Plugin interface {
	// Name is the key users write in the chain config ("local_ratelimit", "key_auth", ...).
	Name() string
	// Order places the plugin in the chain; lower runs first in decode (and last in encode).
	// Use the Order* constants so authentication runs before what depends on consumers.
	Order() int
	// ConfigProto returns a new, empty config message. The chain unmarshals the user's config into
	// it and runs its protoc-gen-validate rules (ValidateAll) before calling Parse.
	ConfigProto() proto.Message
	// Parse turns a validated config message into the plugin's runtime config. It must be pure and
	// fast (no network I/O); an error names the offending field.
	Parse(msg proto.Message, pc ParseContext) (any, error)
	// NewFilter creates the per-request filter. config is what Parse returned.
	NewFilter(config any, h Handle) Filter
}

// AsyncPlugin is implemented by plugins that do blocking I/O in some phases. Only the phases it lists
// are run on a goroutine; all other plugins run synchronously on the Envoy worker thread.
//
// Per config: when the value returned by Parse has a method `AsyncPhases() Phase`, the chain uses
// that value instead of the kind's, so a config that does no I/O (e.g. fault_injection without a
// delay) keeps the plugin on the worker. It is read once, when the config is parsed (and carried
// through per-route Merge), never per request; it may name phases the kind does not (a plugin
// kind need not implement AsyncPlugin for its configs to be async).
type AsyncPlugin interface {
	Plugin
	AsyncPhases() Phase
}

// ParseContext is what Parse may use besides the config message.
type ParseContext interface {
	// Counter returns the Envoy counter "<plugin>.<name>" (a stat without prefix: the golang filter
	// defines metrics in an unprefixed scope). Metrics exist once per filter-level config; route-level
	// configs share the filter-level ones (bound when Envoy merges the route config).
	Counter(name string) api.CounterMetric
	Gauge(name string) api.GaugeMetric
}

// Ordering bands. Plugins pick a value inside a band; ties break by name.
const (
	OrderOuter     = 100 // request tagging, tracing helpers
	OrderAuthn     = 200 // key auth, JWT auth: produce the consumer
	OrderAuthz     = 300 // consumer restriction
	OrderTraffic   = 400 // rate limit, fault injection
	OrderTransform = 500 // header/body rewriting
	OrderInner     = 600
)

// Filter is a plugin's per-request instance. Embed PassThroughFilter and override what you need.
// Decode methods run in chain order, encode methods in reverse.
type Filter interface {
	DecodeHeaders(headers api.RequestHeaderMap, endStream bool) Result
	// DecodeRequest is called with the whole body once DecodeHeaders returned WaitAllData.
	// body is nil for a request without body; trailers may be nil.
	DecodeRequest(headers api.RequestHeaderMap, body api.BufferInstance, trailers api.RequestTrailerMap) Result
	EncodeHeaders(headers api.ResponseHeaderMap, endStream bool) Result
	// EncodeResponse is called with the whole response body once EncodeHeaders returned WaitAllData.
	EncodeResponse(headers api.ResponseHeaderMap, body api.BufferInstance, trailers api.ResponseTrailerMap) Result
	// OnLog runs for every request at its end (access-log time), whatever happened before.
	OnLog(reqHeaders api.RequestHeaderMap, reqTrailers api.RequestTrailerMap, respHeaders api.ResponseHeaderMap, respTrailers api.ResponseTrailerMap)
}

// PassThroughFilter implements Filter by continuing everywhere.
type PassThroughFilter struct{}

func (PassThroughFilter) DecodeHeaders(api.RequestHeaderMap, bool) Result { return Continue }
func (PassThroughFilter) DecodeRequest(api.RequestHeaderMap, api.BufferInstance, api.RequestTrailerMap) Result {
	return Continue
}
func (PassThroughFilter) EncodeHeaders(api.ResponseHeaderMap, bool) Result { return Continue }
func (PassThroughFilter) EncodeResponse(api.ResponseHeaderMap, api.BufferInstance, api.ResponseTrailerMap) Result {
	return Continue
}
func (PassThroughFilter) OnLog(api.RequestHeaderMap, api.RequestTrailerMap, api.ResponseHeaderMap, api.ResponseTrailerMap) {
}

// Result is what a plugin phase asks the chain to do next.
type Result struct {
	kind  resultKind
	reply *LocalReply
}

type resultKind uint8

const (
	resultContinue resultKind = iota
	resultWaitAllData
	resultLocalReply
)

// Continue passes the request to the next plugin.
var Continue = Result{}

// WaitAllData, returned from DecodeHeaders/EncodeHeaders, buffers the whole body (within Envoy's
// buffer limit) and then calls DecodeRequest/EncodeResponse.
var WaitAllData = Result{kind: resultWaitAllData}

// LocalReply is a response generated by Govoy instead of the upstream.
type LocalReply struct {
	Status  int
	Body    string
	Headers map[string][]string
	// Details becomes Envoy's response code details ("govoy.<plugin>.<reason>").
	Details string
}

// Reply stops the chain and answers the client.
func Reply(status int, body string, headers map[string][]string, details string) Result {
	return Result{kind: resultLocalReply, reply: &LocalReply{Status: status, Body: body, Headers: headers, Details: details}}
}

// IsContinue, IsWaitAllData and LocalReply let tests inspect a Result.
func (r Result) IsContinue() bool        { return r.kind == resultContinue }
func (r Result) IsWaitAllData() bool     { return r.kind == resultWaitAllData }
func (r Result) LocalReply() *LocalReply { return r.reply }

// Consumer is the authenticated caller, attached by an authn plugin and read by later plugins.
type Consumer struct {
	Name   string
	Labels map[string]string
}

// Handle is the per-request context a plugin's filter receives.
type Handle interface {
	// Callbacks gives the raw Envoy callbacks (stream info, properties, logging, route cache).
	Callbacks() api.FilterCallbackHandler
	// Consumer is nil until an authn plugin sets it.
	Consumer() *Consumer
	SetConsumer(c *Consumer)
	// PluginState is a small per-request key/value store shared by the plugins of one chain.
	PluginState() map[string]any
	// RouteName is the matched Envoy route's name, cached once per request.
	RouteName() string
	// ClientIP is the downstream remote address without port, cached once per request.
	ClientIP() string
}

// Register adds a plugin kind to the process-wide registry; call it from an init function of the
// plugin's package. A second registration under the same name panics at init time (a programming
// error found before Envoy loads the .so, never across the cgo boundary).
//
//	func init() { plugin.Register(&Plugin{}) }
//
// Implemented in registry.go.
var _ = Register
