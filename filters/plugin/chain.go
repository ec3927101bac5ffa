package plugin

import (
	"fmt"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"go.uber.org/zap"

	"github.com/govoy/govoy/filters/log"
)

// FilterFactory is the api.StreamFilterFactory of the "govoy" golang filter: one chain runner per
// request, built from what ConfigParser returned.
var FilterFactory api.StreamFilterFactory = newChainFilter

// MaxAsync bounds the goroutines running async plugin phases, process-wide. A request that would
// exceed it gets a 503 (counted as AsyncRejectedCounter) instead of queueing. Set it before Envoy
// sends traffic (e.g. from an init function).
var MaxAsync int64 = 16384

var asyncRunning atomic.Int64

// asyncRuns counts the async phases started (goroutines), process-wide; tests read it through
// AsyncRuns to prove which chains stay on the worker.
var asyncRuns atomic.Uint64

// AsyncRuns returns how many plugin phases the chain has run on a goroutine since the process
// started.
func AsyncRuns() uint64 { return asyncRuns.Load() }

// Replies of the chain itself. Bodies say nothing about internals; logs and details do.
const (
	panicBody         = "govoy: internal error\n"
	invalidConfigBody = "govoy: route configuration error\n"
	overloadBody      = "govoy: overloaded\n"
)

var chainLog = log.Named("govoy")

// chainFilter runs one request through the chain. Decode state is only touched by the decode side
// (worker, or the one goroutine of an async decode phase), encode state likewise; Envoy may run both
// sides at once (a local reply while an async decode phase runs), so shared fields are atomic.
//
// It is allocated once per request together with the plugins' filter slots (chainFilterN below), so
// it is kept small: bodies and trailers are passed down the phase instead of stored, and the fields
// few requests need (plugin state, route name, client IP) live in a lazily allocated extra.
type chainFilter struct {
	cfg     *ChainConfig
	cb      api.FilterCallbackHandler
	filters []Filter // parallel to cfg.run

	reqHeaders  api.RequestHeaderMap  // decode side
	respHeaders api.ResponseHeaderMap // encode side
	decWait     int32                 // plugin waiting for the request body, -1: none
	decCur      int32                 // plugin decoding now, for panic reports, -1: none
	encWait     int32
	encCur      int32
	reqEnd      bool
	respEnd     bool
	wentAsync   bool // a phase was started on a goroutine (set and read on the worker only)

	// rawHeaders: DecodeHeaders runs on the worker and no plugin copies the request headers, so
	// RequestHeader reads Envoy's map directly. Atomic because an async phase's goroutine reads it.
	rawHeaders atomic.Bool

	// decReached is how many plugins (a prefix of the chain) took part in decoding; only those
	// encode, so a local reply from plugin k is seen by plugins k..0.
	decReached atomic.Int32
	destroyed  atomic.Bool
	consumer   atomic.Pointer[Consumer]
	extra      atomic.Pointer[handleExtra]
}

// handleExtra holds what only some requests use; allocated on first use.
type handleExtra struct {
	mu        sync.Mutex
	state     map[string]any
	routeName string
	routeOK   bool
	clientIP  string
	clientOK  bool
}

// chainFilterN embed the filter slots in the runner's allocation: one allocation per request for the
// chain itself, sized to the chain (size classes 1, 2, 4, 8; longer chains allocate the slice apart).
type (
	chainFilter1 struct {
		chainFilter
		slots [1]Filter
	}
	chainFilter2 struct {
		chainFilter
		slots [2]Filter
	}
	chainFilter4 struct {
		chainFilter
		slots [4]Filter
	}
	chainFilter8 struct {
		chainFilter
		slots [8]Filter
	}
)

// emptyChain serves requests whose chain has no plugins: stateless, so shared and allocation-free.
var emptyChain api.StreamFilter = &api.PassThroughStreamFilter{}

func newChainFilter(config any, cb api.FilterCallbackHandler) api.StreamFilter {
	cfg, ok := config.(*ChainConfig)
	if !ok {
		cfg = &ChainConfig{err: fmt.Errorf("govoy: filter config is %T, not a plugin chain", config)}
	}
	if cfg.err != nil {
		f := &chainFilter{}
		f.init(cfg, cb)
		return f
	}
	var f *chainFilter
	switch n := len(cfg.run); {
	case n == 0:
		return emptyChain
	case n == 1:
		a := &chainFilter1{}
		a.filters = a.slots[:]
		f = &a.chainFilter
	case n == 2:
		a := &chainFilter2{}
		a.filters = a.slots[:]
		f = &a.chainFilter
	case n <= 4:
		a := &chainFilter4{}
		a.filters = a.slots[:n]
		f = &a.chainFilter
	case n <= 8:
		a := &chainFilter8{}
		a.filters = a.slots[:n]
		f = &a.chainFilter
	default:
		f = &chainFilter{filters: make([]Filter, n)}
	}
	f.init(cfg, cb)
	f.newFilters()
	return f
}

// init sets the fields field by field: copying a whole chainFilter value in would cost a bulk write
// barrier (wbMove) while the GC marks.
func (f *chainFilter) init(cfg *ChainConfig, cb api.FilterCallbackHandler) {
	f.cfg, f.cb = cfg, cb
	f.decWait, f.encWait, f.decCur, f.encCur = -1, -1, -1, -1
}

// newFilters creates the plugins' filters; a panic leaves none, and DecodeHeaders answers 500.
// One recover for the whole chain rather than one per plugin.
func (f *chainFilter) newFilters() {
	i := 0
	defer func() {
		if r := recover(); r != nil {
			f.filters = nil
			f.notePanic(f.cfg.run[i].name, "NewFilter", r)
		}
	}()
	for ; i < len(f.filters); i++ {
		e := f.cfg.run[i]
		f.filters[i] = e.plugin.NewFilter(e.config, f)
	}
}

func (f *chainFilter) metrics() *metricSet {
	if f.cfg.metrics != nil {
		return f.cfg.metrics
	}
	return inertMetrics
}

// ---- decode ----

func (f *chainFilter) DecodeHeaders(h api.RequestHeaderMap, end bool) (st api.StatusType) {
	if f.cfg.err != nil {
		f.metrics().invalidRoute.Increment(1)
		chainLog.Error("request on a route whose plugin chain is invalid: answering 500",
			zap.String("route", f.RouteName()), zap.Error(f.cfg.err))
		return f.reply(true, 500, invalidConfigBody, "govoy.invalid_route_config", nil)
	}
	if f.filters == nil { // NewFilter panicked
		return f.reply(true, 500, panicBody, "govoy.panic", nil)
	}
	defer f.recoverPhase(true, &st)
	if f.cfg.rawHeaders {
		defer f.rawHeaders.Store(false)
		f.rawHeaders.Store(true)
	}
	f.reqHeaders, f.reqEnd = h, end
	return f.decode(0, false, end, false, nil, nil)
}

func (f *chainFilter) DecodeData(buf api.BufferInstance, end bool) (st api.StatusType) {
	if f.decWait < 0 {
		return api.Continue
	}
	// Envoy hands Go a WaitingAllData body only once it is complete: at end of stream, or (end=false)
	// right before the trailers, which then reach DecodeTrailers.
	defer f.recoverPhase(true, &st)
	i := int(f.decWait)
	f.decWait = -1
	return f.decode(i, true, true, false, buf, nil)
}

func (f *chainFilter) DecodeTrailers(t api.RequestTrailerMap) (st api.StatusType) {
	if f.decWait < 0 {
		return api.Continue
	}
	// No body, the trailers end the request.
	defer f.recoverPhase(true, &st)
	i := int(f.decWait)
	f.decWait = -1
	return f.decode(i, true, true, false, nil, t)
}

// decode runs plugins from i on. wantBody: plugin i asked for the body and gets DecodeRequest with
// body and trailers. bodyReady: the body is complete (or absent), so WaitAllData is served at once.
// inGo: running on the async goroutine already.
func (f *chainFilter) decode(i int, wantBody, bodyReady, inGo bool, body api.BufferInstance, trailers api.RequestTrailerMap) api.StatusType {
	// On the worker nothing else runs for this request, so decReached is published once when the
	// phase stops (not per plugin); a goroutine publishes per plugin, since the worker may meanwhile
	// encode a reply of Envoy's own (a timeout).
	reached := -1
	async := f.cfg.async
	for i < len(f.filters) {
		phase := PhaseDecodeHeaders
		if wantBody {
			phase = PhaseDecodeRequest
		}
		if !inGo && async&phase != 0 && f.cfg.run[i].async&phase != 0 {
			f.publishReached(reached)
			return f.goDecode(i, wantBody, bodyReady, body, trailers)
		}
		f.decCur = int32(i)
		var r Result
		if wantBody {
			r = f.filters[i].DecodeRequest(f.reqHeaders, body, trailers)
		} else {
			if reached = i + 1; inGo {
				f.decReached.Store(int32(reached))
			}
			r = f.filters[i].DecodeHeaders(f.reqHeaders, f.reqEnd)
		}
		f.decCur = -1
		switch r.kind {
		case resultLocalReply:
			f.publishReached(reached)
			return f.sendReply(true, r.reply)
		case resultWaitAllData:
			if !wantBody {
				if bodyReady {
					wantBody = true
					continue
				}
				f.publishReached(reached)
				f.decWait = int32(i)
				return api.StopAndBuffer
			}
		}
		i++
		wantBody = false
	}
	f.publishReached(reached)
	return api.Continue
}

func (f *chainFilter) publishReached(n int) {
	if n >= 0 {
		f.decReached.Store(int32(n))
	}
}

func (f *chainFilter) goDecode(i int, wantBody, bodyReady bool, body api.BufferInstance, trailers api.RequestTrailerMap) api.StatusType {
	if !acquireAsync() {
		f.metrics().asyncRejected.Increment(1)
		return f.reply(true, 503, overloadBody, "govoy.async_overload", nil)
	}
	asyncRuns.Add(1)
	f.wentAsync = true
	f.rawHeaders.Store(false) // before the goroutine starts
	go func() {
		defer releaseAsync()
		defer f.recoverAsync(true)
		st := f.decode(i, wantBody, bodyReady, true, body, trailers)
		if st != api.LocalReply {
			f.resume(true, st)
		}
	}()
	return api.Running
}

// ---- encode ----

func (f *chainFilter) EncodeHeaders(h api.ResponseHeaderMap, end bool) (st api.StatusType) {
	n := int(f.decReached.Load())
	if n == 0 || f.filters == nil {
		return api.Continue
	}
	defer f.recoverPhase(false, &st)
	f.respHeaders, f.respEnd = h, end
	return f.encode(n-1, false, end, false, nil, nil)
}

func (f *chainFilter) EncodeData(buf api.BufferInstance, end bool) (st api.StatusType) {
	if f.encWait < 0 {
		return api.Continue
	}
	defer f.recoverPhase(false, &st)
	i := int(f.encWait)
	f.encWait = -1
	return f.encode(i, true, true, false, buf, nil)
}

func (f *chainFilter) EncodeTrailers(t api.ResponseTrailerMap) (st api.StatusType) {
	if f.encWait < 0 {
		return api.Continue
	}
	defer f.recoverPhase(false, &st)
	i := int(f.encWait)
	f.encWait = -1
	return f.encode(i, true, true, false, nil, t)
}

// encode is decode's mirror: plugins from i down to 0.
func (f *chainFilter) encode(i int, wantBody, bodyReady, inGo bool, body api.BufferInstance, trailers api.ResponseTrailerMap) api.StatusType {
	async := f.cfg.async
	for i >= 0 {
		phase := PhaseEncodeHeaders
		if wantBody {
			phase = PhaseEncodeResponse
		}
		if !inGo && async&phase != 0 && f.cfg.run[i].async&phase != 0 {
			return f.goEncode(i, wantBody, bodyReady, body, trailers)
		}
		f.encCur = int32(i)
		var r Result
		if wantBody {
			r = f.filters[i].EncodeResponse(f.respHeaders, body, trailers)
		} else {
			r = f.filters[i].EncodeHeaders(f.respHeaders, f.respEnd)
		}
		f.encCur = -1
		switch r.kind {
		case resultLocalReply:
			return f.sendReply(false, r.reply)
		case resultWaitAllData:
			if !wantBody {
				if bodyReady {
					wantBody = true
					continue
				}
				f.encWait = int32(i)
				return api.StopAndBuffer
			}
		}
		i--
		wantBody = false
	}
	return api.Continue
}

func (f *chainFilter) goEncode(i int, wantBody, bodyReady bool, body api.BufferInstance, trailers api.ResponseTrailerMap) api.StatusType {
	if !acquireAsync() {
		f.metrics().asyncRejected.Increment(1)
		return f.reply(false, 503, overloadBody, "govoy.async_overload", nil)
	}
	asyncRuns.Add(1)
	f.wentAsync = true
	go func() {
		defer releaseAsync()
		defer f.recoverAsync(false)
		st := f.encode(i, wantBody, bodyReady, true, body, trailers)
		if st != api.LocalReply {
			f.resume(false, st)
		}
	}()
	return api.Running
}

// ---- log and lifecycle ----

func (f *chainFilter) OnLog(reqH api.RequestHeaderMap, reqT api.RequestTrailerMap, respH api.ResponseHeaderMap, respT api.ResponseTrailerMap) {
	f.logFrom(0, reqH, reqT, respH, respT)
}

// logFrom runs OnLog of plugins i.. under one recover; after a panic it goes on with the next
// plugin, so one panicking OnLog does not skip the others.
func (f *chainFilter) logFrom(i int, reqH api.RequestHeaderMap, reqT api.RequestTrailerMap, respH api.ResponseHeaderMap, respT api.ResponseTrailerMap) {
	defer func() {
		if r := recover(); r != nil {
			f.notePanic(f.cfg.run[i].name, "OnLog", r)
			f.logFrom(i+1, reqH, reqT, respH, respT)
		}
	}()
	for ; i < len(f.filters); i++ {
		if fl := f.filters[i]; fl != nil {
			fl.OnLog(reqH, reqT, respH, respT)
		}
	}
}

func (f *chainFilter) OnLogDownstreamStart(api.RequestHeaderMap) {}
func (f *chainFilter) OnLogDownstreamPeriodic(api.RequestHeaderMap, api.RequestTrailerMap, api.ResponseHeaderMap, api.ResponseTrailerMap) {
}
func (f *chainFilter) OnStreamComplete() {}

// OnDestroy tells goroutines still running an async phase that the request is gone. Without one
// (the common, sync case) there is nobody to tell: goroutines are only started from the worker, and
// OnDestroy is its last call.
func (f *chainFilter) OnDestroy(api.DestroyReason) {
	if f.wentAsync {
		f.destroyed.Store(true)
	}
}

// ---- replies, resumption, panics ----

func (f *chainFilter) sendReply(decoding bool, lr *LocalReply) api.StatusType {
	return f.reply(decoding, lr.Status, lr.Body, lr.Details, lr.Headers)
}

func (f *chainFilter) reply(decoding bool, status int, body, details string, h map[string][]string) api.StatusType {
	if decoding {
		f.cb.DecoderFilterCallbacks().SendLocalReply(status, body, h, -1, details)
	} else {
		f.cb.EncoderFilterCallbacks().SendLocalReply(status, body, h, -1, details)
	}
	return api.LocalReply
}

// resume tells Envoy an async phase is over. The request may be gone by then (client reset,
// timeout): the SDK then panics, which is no plugin's fault.
func (f *chainFilter) resume(decoding bool, st api.StatusType) {
	if f.destroyed.Load() {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			chainLog.Debug("request ended before its async phase", zap.Any("reason", r))
		}
	}()
	if decoding {
		f.cb.DecoderFilterCallbacks().Continue(st)
	} else {
		f.cb.EncoderFilterCallbacks().Continue(st)
	}
}

// recoverPhase turns a panic on the worker into a 500 local reply.
func (f *chainFilter) recoverPhase(decoding bool, st *api.StatusType) {
	r := recover()
	if r == nil {
		return
	}
	f.panicked(decoding, r)
	*st = f.safeReply(decoding)
}

// recoverAsync does the same on an async phase's goroutine, where the reply is the Continue.
func (f *chainFilter) recoverAsync(decoding bool) {
	r := recover()
	if r == nil {
		return
	}
	if f.destroyed.Load() {
		// The SDK panics when Go touches a request Envoy has destroyed (client gone, timeout):
		// no plugin bug, and nobody to answer. Any other panic is still a plugin's.
		if s := fmt.Sprint(r); strings.Contains(s, "has been destroyed") || strings.Contains(s, "has been finished") {
			chainLog.Debug("async phase stopped: request ended", zap.Any("reason", r))
			return
		}
		f.panicked(decoding, r)
		return
	}
	f.panicked(decoding, r)
	f.safeReply(decoding)
}

func (f *chainFilter) panicked(decoding bool, r any) {
	name, phase := "govoy", "encode"
	cur := f.encCur
	if decoding {
		phase, cur = "decode", f.decCur
		// Plugins before the one that panicked took part in decoding; it takes no part in encoding
		// the reply. (A sync phase publishes decReached only when it stops, so set, not lower.)
		if cur >= 0 {
			f.decReached.Store(cur)
		}
	}
	if cur >= 0 {
		name = f.cfg.run[cur].name
	}
	f.notePanic(name, phase, r)
}

func (f *chainFilter) notePanic(name, phase string, r any) {
	f.metrics().panics.Increment(1)
	// The stack goes into the message, not a field, so it keeps its lines in Envoy's log.
	chainLog.Error(fmt.Sprintf("plugin panicked: answering 500: %v\n%s", r, debug.Stack()),
		zap.String("plugin", name), zap.String("phase", phase))
}

func (f *chainFilter) safeReply(decoding bool) (st api.StatusType) {
	defer func() {
		if r := recover(); r != nil {
			chainLog.Debug("could not send the panic reply: request ended", zap.Any("reason", r))
			st = api.LocalReply
		}
	}()
	return f.reply(decoding, 500, panicBody, "govoy.panic", nil)
}

func acquireAsync() bool {
	if asyncRunning.Add(1) > MaxAsync {
		asyncRunning.Add(-1)
		return false
	}
	return true
}

func releaseAsync() { asyncRunning.Add(-1) }

// ---- Handle ----

func (f *chainFilter) Callbacks() api.FilterCallbackHandler { return f.cb }
func (f *chainFilter) Consumer() *Consumer                  { return f.consumer.Load() }
func (f *chainFilter) SetConsumer(c *Consumer)              { f.consumer.Store(c) }

func (f *chainFilter) handleExtra() *handleExtra {
	if x := f.extra.Load(); x != nil {
		return x
	}
	f.extra.CompareAndSwap(nil, &handleExtra{})
	return f.extra.Load()
}

func (f *chainFilter) PluginState() map[string]any {
	x := f.handleExtra()
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.state == nil {
		x.state = make(map[string]any, 4)
	}
	return x.state
}

// RouteName and ClientIP read from Envoy once per request. The lock is not held across the Envoy
// call: from a goroutine that call waits for the worker, which may need the lock meanwhile.
func (f *chainFilter) RouteName() string {
	x := f.handleExtra()
	x.mu.Lock()
	if x.routeOK {
		defer x.mu.Unlock()
		return x.routeName
	}
	x.mu.Unlock()
	name := f.cb.StreamInfo().GetRouteName()
	x.mu.Lock()
	x.routeName, x.routeOK = name, true
	x.mu.Unlock()
	return name
}

func (f *chainFilter) ClientIP() string {
	x := f.handleExtra()
	x.mu.Lock()
	if x.clientOK {
		defer x.mu.Unlock()
		return x.clientIP
	}
	x.mu.Unlock()
	ip := hostOnly(f.cb.StreamInfo().DownstreamRemoteAddress())
	x.mu.Lock()
	x.clientIP, x.clientOK = ip, true
	x.mu.Unlock()
	return ip
}

func hostOnly(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

var (
	_ api.StreamFilter = (*chainFilter)(nil)
	_ Handle           = (*chainFilter)(nil)
)
