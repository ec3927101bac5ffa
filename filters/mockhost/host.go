package mockhost

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// EnvoyVersion is the Envoy release whose golang filter this host plays (golang_filter.cc,
// processor_state.cc and the Go SDK of that tag). TestEnvoyVersionMatchesGoMod keeps it in step with go.mod.
const EnvoyVersion = "v1.39.0"

// DefaultBufferLimit is Envoy's default per-connection buffer limit (1 MiB), which bounds what
// StopAndBuffer may hold.
const DefaultBufferLimit = 1 << 20

// Host plays Envoy for one golang HTTP filter (a factory and its config parser).
type Host struct {
	factory    api.StreamFilterFactory
	parser     api.StreamFilterConfigParser
	opts       options
	metrics    metrics
	panicCount atomic.Uint64
}

type options struct {
	bufferLimit  int
	asyncTimeout time.Duration
	logLevel     api.LogType
	secrets      map[string]string
}

// Option configures a Host.
type Option func(*options)

// WithBufferLimit sets the stream buffer limit (Envoy's per_connection_buffer_limit_bytes).
func WithBufferLimit(n int) Option { return func(o *options) { o.bufferLimit = n } }

// WithAsyncTimeout bounds how long the host waits for Continue or SendLocalReply after a phase
// returned Running (default 5s). Exceeding it is a test failure, not a wait that hides a bug.
func WithAsyncTimeout(d time.Duration) Option { return func(o *options) { o.asyncTimeout = d } }

// WithLogLevel sets the level LogLevel reports; lines below it are not captured (default Info,
// Envoy's default).
func WithLogLevel(l api.LogType) Option { return func(o *options) { o.logLevel = l } }

// WithSecrets sets the generic secrets the SecretManager returns.
func WithSecrets(s map[string]string) Option { return func(o *options) { o.secrets = s } }

// New returns a host that runs filters made by factory with configs parsed by parser.
func New(factory api.StreamFilterFactory, parser api.StreamFilterConfigParser, opts ...Option) *Host {
	installGlobalLogger()
	h := &Host{factory: factory, parser: parser, opts: options{
		bufferLimit: DefaultBufferLimit, asyncTimeout: 5 * time.Second, logLevel: api.Info,
	}}
	for _, o := range opts {
		o(&h.opts)
	}
	return h
}

func toAny(msg proto.Message) (*anypb.Any, error) {
	if msg == nil {
		return &anypb.Any{}, nil
	}
	if a, ok := msg.(*anypb.Any); ok {
		return a, nil
	}
	a, err := anypb.New(msg)
	if err != nil {
		return nil, fmt.Errorf("mockhost: pack config into Any: %w", err)
	}
	return a, nil
}

// ParseFilterConfig parses a filter-level plugin_config (msg, packed into an Any unless it is one)
// with metric callbacks, like Envoy does when the listener's golang filter config arrives.
func (h *Host) ParseFilterConfig(msg proto.Message) (any, error) {
	a, err := toAny(msg)
	if err != nil {
		return nil, err
	}
	return h.parser.Parse(a, configCallbacks{&h.metrics})
}

// ParseRouteConfig parses a per-route config; as in Envoy, the parser gets nil callbacks.
func (h *Host) ParseRouteConfig(msg proto.Message) (any, error) {
	a, err := toAny(msg)
	if err != nil {
		return nil, err
	}
	return h.parser.Parse(a, nil)
}

// Merge merges a parent (filter or virtual host level) config with a route-level one.
func (h *Host) Merge(parent, child any) any { return h.parser.Merge(parent, child) }

// Counter returns the value of the counter name (0 if it was never defined).
func (h *Host) Counter(name string) uint64 { v, _ := h.metrics.value(name, false); return v }

// Gauge returns the value of the gauge name (0 if it was never defined).
func (h *Host) Gauge(name string) uint64 { v, _ := h.metrics.value(name, true); return v }

// Counters returns every defined counter by name.
func (h *Host) Counters() map[string]uint64 { return h.metrics.all(false) }

// Gauges returns every defined gauge by name.
func (h *Host) Gauges() map[string]uint64 { return h.metrics.all(true) }

// PanicErrors is Envoy's golang filter "panic_error" stat: panics turned into 500s.
func (h *Host) PanicErrors() uint64 { return h.panicCount.Load() }

// Request is what the client sends. Zero fields get defaults: GET / on host example.com over
// HTTP/1.1 from 127.0.0.1:50000 to 127.0.0.1:10000.
type Request struct {
	Method, Path, Host, Scheme string
	Headers                    map[string][]string // any case; Envoy lower-cases keys
	// Body is sent as one chunk; Chunks, when set, instead sends each element as a separate
	// DATA frame in order.
	Body     string
	Chunks   []string
	Trailers map[string][]string

	RemoteAddr, LocalAddr string
	Protocol              string // "HTTP/1.1" (default), "HTTP/2.0", ...
	// RouteName is the matched route's name. Route, when set, computes it from the request
	// headers instead, and is asked again after the filter clears the route cache.
	RouteName       string
	Route           func(h Header) string
	Cluster         string // upstream cluster name reported by StreamInfo
	VirtualCluster  string
	FilterChainName string
	WorkerID        uint32
	UpstreamAddr    string // default 127.0.0.1:8080
	// UpstreamLocalAddr is the local side of the upstream connection (default 127.0.0.1:40000).
	UpstreamLocalAddr string
	TLS               api.SslConnection
	DynamicMetadata   map[string]map[string]any
	FilterState       map[string]string
	Properties        map[string]string // extra or overriding GetProperty answers

	start time.Time
}

func (r *Request) defaults() {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&r.Method, "GET")
	def(&r.Path, "/")
	def(&r.Host, "example.com")
	def(&r.Scheme, "http")
	def(&r.RemoteAddr, "127.0.0.1:50000")
	def(&r.LocalAddr, "127.0.0.1:10000")
	def(&r.Protocol, "HTTP/1.1")
	def(&r.UpstreamAddr, "127.0.0.1:8080")
	def(&r.UpstreamLocalAddr, "127.0.0.1:40000")
	r.start = time.Now()
}

func (r *Request) chunks() []string {
	if r.Chunks != nil {
		return r.Chunks
	}
	if r.Body != "" {
		return []string{r.Body}
	}
	return nil
}

// Received is what the upstream got after the filter ran.
type Received struct {
	Method, Path, Host string
	Headers            Header // including pseudo headers
	Body               []byte
	Trailers           Header // nil when none were sent
	RouteName          string // the route Envoy would use (re-resolved after ClearRouteCache)
	// OverrideHost and StrictOverride are what SetUpstreamOverrideHost set.
	OverrideHost   string
	StrictOverride bool
}

// Response is what the upstream answers.
type Response struct {
	Status   int // default 200
	Headers  map[string][]string
	Body     string
	Chunks   []string // when set, sent as separate chunks instead of Body
	Trailers map[string][]string
}

// Upstream plays the upstream cluster; nil answers 200 with no body.
type Upstream func(req *Received) Response

// LocalReply is a response generated without the upstream (by the filter or by Envoy).
type LocalReply struct {
	Status     int
	Body       string
	Headers    Header
	GrpcStatus int64
	Details    string
	envoy      bool // sent by Envoy itself (buffer limits), not by the filter
}

// LogLine is one line logged through the callbacks.
type LogLine struct {
	Level api.LogType
	Msg   string
}

// Result is what the client got, and what happened on the way.
type Result struct {
	Status   int
	Headers  Header // including :status
	Body     []byte
	Trailers Header
	// LocalReply is set when the response was a local reply (the last one when there were several).
	LocalReply *LocalReply
	// Upstream is what the upstream received; nil when the request never reached it.
	Upstream            *Received
	ResponseCodeDetails string
	Logs                []LogLine
	DynamicMetadata     map[string]map[string]any
	FilterState         map[string]string
	RouteName           string
	RouteCacheClears    int
	DrainConnection     bool
	// Reset is set when Envoy had to reset the stream (local reply after response headers left).
	Reset bool
	// Panics lists the panics recovered from the filter.
	Panics []string
	// Running lists the phases that returned Running (went async), e.g. "DecodeHeader".
	Running       []string
	DestroyReason api.DestroyReason
	// Err reports a timeout waiting for Continue or a status Envoy would reject.
	Err error
}

// Logged reports whether a captured log line contains substr.
func (r *Result) Logged(substr string) bool {
	for _, l := range r.Logs {
		if strings.Contains(l.Msg, substr) {
			return true
		}
	}
	return false
}

// Do runs req through the filter with config cfg and returns what the client got. A timeout or
// protocol error is reported with t.Errorf (safe from any goroutine) and in Result.Err.
func (h *Host) Do(t testing.TB, cfg any, req Request, upstream Upstream) *Result {
	t.Helper()
	res := h.Run(cfg, req, upstream)
	if res.Err != nil {
		t.Errorf("mockhost: %s %s: %v", req.Method, req.Path, res.Err)
	}
	return res
}

// Run is Do without a testing.TB, for benchmarks and examples.
func (h *Host) Run(cfg any, req Request, upstream Upstream) *Result {
	req.defaults()
	s := newStream(h, &req)
	return s.run(cfg, upstream)
}

func (s *stream) run(cfg any, upstream Upstream) *Result {
	req := s.req
	hdr := normalize(req.Headers)
	hdr[":method"] = []string{req.Method}
	hdr[":path"] = []string{req.Path}
	hdr[":authority"] = []string{req.Host}
	hdr[":scheme"] = []string{req.Scheme}
	s.requestHeaders = newHeaderStore(hdr)
	chunks := req.chunks()
	hasTrailers := len(req.Trailers) > 0

	var err error
	func() {
		defer func() {
			// A panicking factory is a filter panic at the first entry into Go.
			if e := recover(); e != nil {
				err = fmt.Errorf("filter factory panicked: %v", e)
			}
		}()
		s.filter = s.h.factory(cfg, callbacks{s})
	}()
	if err != nil {
		return &Result{Err: err}
	}

	// Decode: the client sends everything at once, so data and trailers may arrive while Go is
	// still busy with an earlier phase, as on a fast connection.
	d := &s.dec
	end := len(chunks) == 0 && !hasTrailers
	d.endStream = end
	if s.doHeaders(d, s.requestHeaders, end) {
		s.emitHeaders(d, end)
	}
	s.runPosted()
	for i, c := range chunks {
		if s.decodeAborted {
			break
		}
		end := i == len(chunks)-1 && !hasTrailers
		d.endStream = end
		if s.doData(d, []byte(c), end) {
			s.emitData(d, d.moveOut(), end)
		}
		s.runPosted()
	}
	if hasTrailers && !s.decodeAborted {
		s.requestTrailers = newHeaderStore(normalize(req.Trailers))
		if s.doTrailer(d, s.requestTrailers) {
			s.emitTrailers(d)
		}
		s.runPosted()
	}
	err = s.wait(func() bool { return d.out.end || s.respHeaders != nil }, "decode")

	if err == nil && s.respHeaders == nil {
		s.callUpstream(upstream)
	}
	if err == nil {
		err = s.wait(func() bool { return s.enc.out.end || s.directReply != nil || s.reset }, "encode")
	}
	if len(s.protocolErrs) > 0 {
		err = errors.Join(errors.New(strings.Join(s.protocolErrs, "; ")), err)
	}
	return s.finish(err)
}

// wait runs posted work until cond holds; running out of posts for asyncTimeout is an error.
func (s *stream) wait(cond func() bool, phase string) error {
	for !cond() {
		if !s.waitPosted(s.h.opts.asyncTimeout) {
			return fmt.Errorf("%s: filter is still processing (decoder %s, encoder %s) and neither Continue nor SendLocalReply came within %v",
				phase, s.dec.st(), s.enc.st(), s.h.opts.asyncTimeout)
		}
	}
	return nil
}

func (s *stream) callUpstream(upstream Upstream) {
	s.mu.Lock()
	s.attempts = 1
	host, strict := s.upstreamHost, s.strictHost
	s.mu.Unlock()
	hdr := s.requestHeaders.snapshot()
	rec := &Received{
		Method: hdr.Get(":method"), Path: hdr.Get(":path"), Host: hdr.Get(":authority"),
		Headers: hdr, Body: s.dec.out.body, RouteName: s.currentRoute(),
		OverrideHost: host, StrictOverride: strict,
	}
	if s.dec.out.trailers {
		rec.Trailers = s.requestTrailers.snapshot()
	}
	s.received = rec
	resp := Response{Status: 200}
	if upstream != nil {
		resp = upstream(rec)
	}
	if resp.Status == 0 {
		resp.Status = 200
	}
	rh := normalize(resp.Headers)
	rh[":status"] = []string{fmt.Sprint(resp.Status)}
	s.startResponse(rh, "via_upstream")

	chunks := resp.Chunks
	if chunks == nil && resp.Body != "" {
		chunks = []string{resp.Body}
	}
	hasTrailers := len(resp.Trailers) > 0
	e := &s.enc
	end := len(chunks) == 0 && !hasTrailers
	e.endStream = end
	if s.doHeaders(e, s.respHeaders, end) {
		s.emitHeaders(e, end)
	}
	s.runPosted()
	for i, c := range chunks {
		if s.replyStartedFor(e) {
			return
		}
		end := i == len(chunks)-1 && !hasTrailers
		e.endStream = end
		if s.doData(e, []byte(c), end) {
			s.emitData(e, e.moveOut(), end)
		}
		s.runPosted()
	}
	if hasTrailers && !s.replyStartedFor(e) {
		s.respTrailers = newHeaderStore(normalize(resp.Trailers))
		if s.doTrailer(e, s.respTrailers) {
			s.emitTrailers(e)
		}
		s.runPosted()
	}
}

// finish ends the stream the way ConnectionManagerImpl::doEndStream does: OnStreamComplete, the
// access log (OnLog), then OnDestroy.
func (s *stream) finish(err error) *Result {
	reason := api.Normal
	if s.dec.processing() || s.enc.processing() {
		reason = api.Terminate
	}
	safe := func(name string, f func()) {
		defer func() {
			if e := recover(); e != nil {
				s.mu.Lock()
				s.panics = append(s.panics, fmt.Sprint(e))
				s.mu.Unlock()
				s.logf(api.Error, "http: panic serving %s: %v", name, e)
			}
		}()
		f()
	}
	safe("OnStreamComplete", s.filter.OnStreamComplete)
	safe("OnLog", func() {
		s.inLog.Store(true)
		defer s.inLog.Store(false)
		reqH := &requestHeaders{s.view(&s.dec, s.requestHeaders)}
		var reqT api.RequestTrailerMap
		if s.requestTrailers != nil {
			reqT = &requestTrailers{s.view(&s.dec, s.requestTrailers)}
		}
		var respH api.ResponseHeaderMap
		if s.respHeaders != nil {
			respH = &responseHeaders{s.view(&s.enc, s.respHeaders)}
		}
		var respT api.ResponseTrailerMap
		if s.respTrailers != nil {
			respT = &responseTrailers{s.view(&s.enc, s.respTrailers)}
		}
		s.filter.OnLog(reqH, reqT, respH, respT)
	})
	safe("OnDestroy", func() { s.destroyed.Store(true); s.filter.OnDestroy(reason) })
	s.destroyed.Store(true)

	res := &Result{Err: err, DestroyReason: reason, Upstream: s.received, LocalReply: s.localReply, Reset: s.reset}
	switch {
	case s.directReply != nil:
		res.Headers = s.directReply.headers
		fmt.Sscan(res.Headers.Get(":status"), &res.Status)
		res.Body = []byte(s.directReply.body)
	case s.respHeaders != nil:
		res.Headers = s.respHeaders.snapshot()
		fmt.Sscan(res.Headers.Get(":status"), &res.Status)
		res.Body = s.enc.out.body
		if s.enc.out.trailers {
			res.Trailers = s.respTrailers.snapshot()
		}
	}
	if s.req.Method == "HEAD" {
		res.Body = nil
	}
	res.RouteName = s.currentRoute()
	s.mu.Lock()
	defer s.mu.Unlock()
	res.ResponseCodeDetails = s.responseDetails
	res.Logs = append([]LogLine(nil), s.logs...)
	res.DynamicMetadata = map[string]map[string]any{}
	for k, v := range s.dynMeta {
		res.DynamicMetadata[k] = cloneAnyMap(v)
	}
	res.FilterState = map[string]string{}
	for k, v := range s.filterStateKV {
		res.FilterState[k] = v
	}
	res.RouteCacheClears = s.routeClears
	res.DrainConnection = s.drain
	res.Panics = append([]string(nil), s.panics...)
	res.Running = append([]string(nil), s.running...)
	return res
}

// globalLogs captures api.LogInfof & co., which plugins call without callbacks.
var (
	globalOnce sync.Once
	globalMu   sync.Mutex
	globalLogs []LogLine
)

const maxGlobalLogs = 10000

type globalLogger struct{}

func (globalLogger) Log(level api.LogType, msg string) {
	globalMu.Lock()
	defer globalMu.Unlock()
	if len(globalLogs) >= maxGlobalLogs {
		globalLogs = globalLogs[1:]
	}
	globalLogs = append(globalLogs, LogLine{Level: level, Msg: msg})
}

func (globalLogger) LogLevel() api.LogType { return api.Debug }

func installGlobalLogger() { globalOnce.Do(func() { api.SetCommonCAPI(globalLogger{}) }) }

// GlobalLogs returns the last lines logged through api.Log* (process-wide, all hosts).
func GlobalLogs() []LogLine {
	globalMu.Lock()
	defer globalMu.Unlock()
	return append([]LogLine(nil), globalLogs...)
}
