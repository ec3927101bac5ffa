package mockhost

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"google.golang.org/protobuf/types/known/structpb"
)

// ErrFilterDestroyed is what the SDK panics with when Go calls into a request Envoy has destroyed
// (Envoy's CAPIFilterIsDestroy), e.g. a late Continue after a timeout.
var ErrFilterDestroyed = errors.New("mockhost: filter has been destroyed (Envoy CAPIFilterIsDestroy)")

// errInvalidPhase and errInvalidScene mirror the SDK's panics for AddData/InjectData misuse.
var (
	errInvalidPhase = errors.New("mockhost: invalid phase (Envoy CAPIInvalidPhase)")
	errInvalidScene = errors.New("mockhost: invalid scene (Envoy CAPIInvalidScene): InjectData must be called from a goroutine")
)

// stream is one request: Envoy's golang Filter, its filter manager and the worker's dispatcher.
type stream struct {
	h      *Host
	req    *Request
	filter api.StreamFilter
	dec    direction
	enc    direction

	inLog     atomic.Bool
	destroyed atomic.Bool

	// the dispatcher: posts from any goroutine, run by the worker (the goroutine in Run)
	postMu  sync.Mutex
	posts   []func()
	postSig chan struct{}

	mu              sync.Mutex // guards the fields below (read by Go from any goroutine)
	logs            []LogLine
	dynMeta         map[string]map[string]any
	filterStateKV   map[string]string
	routeName       string
	routeStale      bool
	routeClears     int
	responseCode    int
	responseDetails string
	attempts        uint32
	upstreamHost    string
	strictHost      bool
	drain           bool
	panics          []string
	running         []string // phases that returned Running
	pendingPanic    string   // the SDK's pInfo: a panic that could not reply yet

	// worker-only fields
	localReply      *LocalReply
	respHeaders     *headerStore // set once the response (upstream or local) starts
	respTrailers    *headerStore
	decodeAborted   bool // a local reply started: stop feeding the decoder
	directReply     *directReply
	reset           bool
	received        *Received
	protocolErrs    []string
	requestHeaders  *headerStore
	requestTrailers *headerStore
}

func newStream(h *Host, req *Request) *stream {
	s := &stream{h: h, req: req, postSig: make(chan struct{}, 1)}
	s.dec = direction{s: s}
	s.enc = direction{s: s, encoding: true}
	s.dynMeta = map[string]map[string]any{}
	for k, v := range req.DynamicMetadata {
		s.dynMeta[k] = cloneAnyMap(v)
	}
	s.filterStateKV = map[string]string{}
	for k, v := range req.FilterState {
		s.filterStateKV[k] = v
	}
	s.routeStale = true
	return s
}

func cloneAnyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// --- dispatcher ---

func (s *stream) post(f func()) {
	s.postMu.Lock()
	s.posts = append(s.posts, f)
	s.postMu.Unlock()
	select {
	case s.postSig <- struct{}{}:
	default:
	}
}

// runPosted runs what is queued now; it reports whether anything ran.
func (s *stream) runPosted() bool {
	ran := false
	for {
		s.postMu.Lock()
		q := s.posts
		s.posts = nil
		s.postMu.Unlock()
		if len(q) == 0 {
			return ran
		}
		for _, f := range q {
			if !s.destroyed.Load() {
				f()
			}
		}
		ran = true
	}
}

// waitPosted blocks until a post arrives and runs it, or the timeout passes.
func (s *stream) waitPosted(timeout time.Duration) bool {
	if s.runPosted() {
		return true
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-s.postSig:
		s.runPosted()
		return true
	case <-t.C:
		return s.runPosted()
	}
}

// --- logging and errors ---

func (s *stream) logf(level api.LogType, format string, args ...any) {
	s.log(level, fmt.Sprintf(format, args...))
}

func (s *stream) log(level api.LogType, msg string) {
	if level < s.h.opts.logLevel {
		return
	}
	s.mu.Lock()
	s.logs = append(s.logs, LogLine{Level: level, Msg: msg})
	s.mu.Unlock()
}

// protocolError records a misuse Envoy only logs ("unexpected status"): tests see it in Result.Err.
func (s *stream) protocolError(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.log(api.Error, "golang filter: "+msg)
	s.protocolErrs = append(s.protocolErrs, msg)
}

// --- calls into Go ---

// callGo runs one phase of the filter on the worker, with the SDK's RecoverPanic around it.
func (s *stream) callGo(d *direction, f func() api.StatusType) (status api.StatusType) {
	s.mu.Lock()
	pending := s.pendingPanic
	s.pendingPanic = ""
	s.mu.Unlock()
	if pending != "" {
		// The SDK replies for a goroutine panic that could not reply, on the next entry into Go.
		s.sendPanicReply(d, pending)
		return api.LocalReply
	}
	d.syncCall.Store(true)
	defer d.syncCall.Store(false)
	defer func() {
		if e := recover(); e != nil {
			s.handlePanic(d, e)
			status = api.LocalReply
		}
		if status == api.Running {
			s.mu.Lock()
			s.running = append(s.running, d.phaseName())
			s.mu.Unlock()
		}
	}()
	return f()
}

// handlePanic is processState.RecoverPanic of the SDK.
func (s *stream) handlePanic(d *direction, e any) {
	stack := string(debug.Stack())
	s.mu.Lock()
	s.panics = append(s.panics, fmt.Sprint(e))
	s.mu.Unlock()
	err, _ := e.(error)
	switch {
	case errors.Is(err, ErrFilterDestroyed):
		s.logf(api.Info, "http: panic serving: %v (Client may cancel the request prematurely)\n%s", e, stack)
	case errors.Is(err, ErrNotInGo):
		s.logf(api.Error, "http: panic serving: %v\n%s", e, stack)
		s.mu.Lock()
		s.pendingPanic = fmt.Sprint(e)
		s.mu.Unlock()
	default:
		s.logf(api.Error, "http: panic serving: %v\n%s", e, stack)
		s.sendPanicReply(d, fmt.Sprint(e))
	}
}

// sendPanicReply is Filter::sendPanicReply: a 500 that does not leak the panic.
func (s *stream) sendPanicReply(d *direction, details string) {
	if s.destroyed.Load() || !d.processing() {
		s.mu.Lock()
		s.pendingPanic = details
		s.mu.Unlock()
		return
	}
	s.h.panicCount.Add(1)
	s.logf(api.Error, "[go_plugin_http] filter paniced with error details: %s", details)
	d.resumed.Store(true)
	// Envoy passes gRPC status Ok (0) for panic replies.
	s.post(func() { s.sendLocalReplyInternal(d, &LocalReply{Status: 500, Body: "error happened in filter\r\n"}) })
}

func (s *stream) view(d *direction, store *headerStore) headerView {
	return headerView{store: store, inGo: d.inGo}
}

func (s *stream) goHeaders(d *direction, end bool) api.StatusType {
	st := s.callGo(d, func() api.StatusType {
		var st api.StatusType
		if d.encoding {
			st = s.filter.EncodeHeaders(&responseHeaders{s.view(d, d.headers)}, end)
		} else {
			st = s.filter.DecodeHeaders(&requestHeaders{s.view(d, d.headers)}, end)
		}
		if end && (st == api.StopAndBuffer || st == api.StopAndBufferWatermark) {
			panic("received wait data status when there is no data, please fix the returned status")
		}
		return st
	})
	return st
}

func (s *stream) goData(d *direction, buf *Buffer, end bool) api.StatusType {
	return s.callGo(d, func() api.StatusType {
		if d.encoding {
			return s.filter.EncodeData(buf, end)
		}
		return s.filter.DecodeData(buf, end)
	})
}

func (s *stream) goTrailers(d *direction) api.StatusType {
	return s.callGo(d, func() api.StatusType {
		if d.encoding {
			return s.filter.EncodeTrailers(&responseTrailers{s.view(d, d.trailers)})
		}
		return s.filter.DecodeTrailers(&requestTrailers{s.view(d, d.trailers)})
	})
}

// --- golang_filter.cc, per direction ---

func (s *stream) doHeaders(d *direction, headers *headerStore, end bool) bool {
	d.headers = headers
	d.setState(processingHeader)
	d.doEndStream = end
	done := d.handleHeaderStatus(s.goHeaders(d, end))
	return done
}

func (s *stream) doDataGo(d *direction, data []byte, end bool) bool {
	d.setState(processingData)
	d.doEndStream = end
	buf := &Buffer{data: data, inGo: d.inGo}
	d.doDataList = append(d.doDataList, buf)
	return d.handleDataStatus(s.goData(d, buf, end))
}

// doData is Filter::doData; when it reports done, the caller passes moveOut() on.
func (s *stream) doData(d *direction, data []byte, end bool) bool {
	switch d.st() {
	case waitingData:
		return s.doDataGo(d, data, end)
	case waitingAllData:
		if end {
			if !d.bufferEmpty() {
				d.addBufferData(data)
				data = d.takeBuffer()
			}
			if d.st() == waitingAllData && !s.replyStartedFor(d) {
				return s.doDataGo(d, data, end)
			}
			return false
		}
		d.addBufferData(data)
	case processingHeader, processingData:
		d.addBufferData(data)
	default:
		s.protocolError("%s data arrived in unexpected state %s", d.name(), d.st())
	}
	return false
}

func (s *stream) doTrailerGo(d *direction) bool {
	d.setState(processingTrailer)
	d.doEndStream = true
	return d.handleTrailerStatus(s.goTrailers(d))
}

func (s *stream) doTrailer(d *direction, trailers *headerStore) bool {
	d.trailers = trailers
	switch d.st() {
	case waitingTrailer, waitingData:
		return s.doTrailerGo(d)
	case waitingAllData:
		if !d.bufferEmpty() {
			done := s.doDataGo(d, d.takeBuffer(), false)
			if d.st() == waitingTrailer {
				s.continueDoData(d)
				done = s.doTrailerGo(d)
			}
			return done
		}
		s.continueDoData(d)
		return s.doTrailerGo(d)
	case processingHeader, processingData:
		// wait for the running phase
	default:
		s.protocolError("%s trailers arrived in unexpected state %s", d.name(), d.st())
	}
	return false
}

// continueStatusInternal is Filter::continueStatusInternal, run on the worker after a posted Continue.
func (s *stream) continueStatusInternal(d *direction, status api.StatusType) {
	saved := d.st()
	if d.handleStatus(status) {
		switch saved {
		case processingHeader:
			if d.doEndStream || !d.isStreamEnd() {
				s.continueProcessing(d, false)
			}
		case processingData:
			s.continueDoData(d)
		case processingTrailer:
			s.continueDoData(d)
			s.continueProcessing(d, true)
		}
	}
	cur := d.st()
	if (cur == waitingData && (!d.bufferEmpty() || d.endStream)) || (cur == waitingAllData && d.isStreamEnd()) {
		if s.doDataGo(d, d.takeBuffer(), d.endStream) {
			s.continueDoData(d)
		} else {
			return
		}
	}
	if d.st() == waitingTrailer && d.trailers != nil {
		if s.doTrailerGo(d) {
			s.continueProcessing(d, true)
		}
	}
}

func (s *stream) continueDoData(d *direction) {
	if !d.endStream && len(d.doDataList) == 0 {
		return
	}
	s.emitData(d, d.moveOut(), d.doEndStream)
}

// continueProcessing is continueDecoding/continueEncoding: the filter manager resumes iteration.
func (s *stream) continueProcessing(d *direction, trailersDone bool) {
	if !d.out.headers {
		s.emitHeaders(d, d.doEndStream && d.trailers == nil)
	}
	if trailersDone {
		s.emitTrailers(d)
	}
}

// --- what passes on to the next filter ---

func (s *stream) emitHeaders(d *direction, end bool) {
	if d.out.headers {
		return
	}
	d.out.headers = true
	if end && len(d.added) > 0 {
		// AddData turned a headers-only message into one with a body.
		s.emitData(d, nil, true)
		return
	}
	if end {
		d.out.end = true
	}
}

func (s *stream) emitData(d *direction, data []byte, end bool) {
	s.emitHeaders(d, false)
	if len(d.added) > 0 {
		d.out.body = append(d.out.body, d.added...)
		d.added = nil
	}
	d.out.body = append(d.out.body, data...)
	if end {
		d.out.end = true
	}
}

func (s *stream) emitTrailers(d *direction) {
	s.emitData(d, nil, false)
	d.out.trailers = true
	d.out.end = true
}

// --- local replies ---

func (s *stream) replyStartedFor(d *direction) bool {
	if d.encoding {
		return s.directReply != nil || s.reset
	}
	return s.decodeAborted
}

// sendLocalReplyInternal is Filter::sendLocalReplyInternal + ProcessorState::sendLocalReply.
func (s *stream) sendLocalReplyInternal(d *direction, lr *LocalReply) {
	d.doDataList = nil
	d.buffer = nil
	if !d.encoding {
		d.setState(waitingHeader)
	}
	s.envoySendLocalReply(lr)
}

// envoyLocalReply is a reply sent by Envoy itself (buffer limits), not through the Go SDK.
func (s *stream) envoyLocalReply(d *direction, status int, body, details string) {
	lr := &LocalReply{Status: status, Body: body, Details: details, envoy: true}
	if d.encoding {
		// The response has started: Envoy answers directly to the client, right away.
		s.envoySendLocalReply(lr)
		return
	}
	// While decoding, Envoy prepares the reply and sends it once the current filter call returns.
	s.decodeAborted = true
	s.post(func() { s.envoySendLocalReply(lr) })
}

// envoySendLocalReply is DownstreamFilterManager::sendLocalReply.
func (s *stream) envoySendLocalReply(lr *LocalReply) {
	s.decodeAborted = true
	h, body := s.localReplyMessage(lr)
	if s.respHeaders == nil {
		// The response has not started: it runs through the filter chain, this filter's encoder included.
		s.localReply = lr
		s.startResponse(h, lr.Details)
		end := body == ""
		if s.doHeaders(&s.enc, s.respHeaders, end) {
			s.emitHeaders(&s.enc, end)
		}
		if !end && !s.replyStartedFor(&s.enc) {
			s.enc.endStream = true
			if s.doData(&s.enc, []byte(body), true) {
				s.emitData(&s.enc, s.enc.moveOut(), true)
			}
		}
		return
	}
	if !s.enc.out.headers {
		// The response started through the filters but nothing reached the client: bypass the filters.
		s.localReply = lr
		s.directReply = &directReply{headers: h, body: body}
		code, _ := strconv.Atoi(h.Get(":status"))
		s.mu.Lock()
		s.responseCode, s.responseDetails = code, lr.Details
		s.mu.Unlock()
		return
	}
	// Headers already went to the client: all Envoy can do is reset the stream.
	s.reset = true
}

type directReply struct {
	headers Header
	body    string
}

// localReplyMessage is Http::Utility::prepareLocalReply: the headers and body the client gets.
func (s *stream) localReplyMessage(lr *LocalReply) (Header, string) {
	h := Header{":status": {strconv.Itoa(lr.Status)}}
	for k, vs := range normalize(lr.Headers) {
		for _, v := range vs {
			if v != "" { // the golang filter skips empty values
				h[k] = append(h[k], v)
			}
		}
	}
	body := lr.Body
	head := s.req.Method == "HEAD"
	if ct := s.requestHeaders.snapshot().Get("content-type"); strings.HasPrefix(ct, "application/grpc") {
		// A trailers-only gRPC response. Envoy writes the status the filter passed as is (the SDK's
		// -1 "no status" included); only Envoy's own replies map the HTTP code.
		h[":status"] = []string{"200"}
		h["content-type"] = []string{"application/grpc"}
		if len(h["grpc-status"]) == 0 {
			st := lr.GrpcStatus
			if lr.envoy {
				st = httpToGrpcStatus(lr.Status)
			}
			h["grpc-status"] = []string{strconv.FormatInt(st, 10)}
		}
		if body != "" && !head {
			h["grpc-message"] = []string{percentEncode(body)}
		}
		delete(h, "content-length")
		return h, ""
	}
	if body != "" {
		h["content-length"] = []string{strconv.Itoa(len(body))}
		if len(h["content-type"]) == 0 {
			h["content-type"] = []string{"text/plain"}
		}
	} else {
		delete(h, "content-length")
		delete(h, "content-type")
	}
	if head {
		body = ""
	}
	return h, body
}

// httpToGrpcStatus is Grpc::Utility::httpToGrpcStatus.
func httpToGrpcStatus(code int) int64 {
	switch code {
	case 400:
		return 13
	case 401:
		return 16
	case 403:
		return 7
	case 404:
		return 12
	case 429, 502, 503, 504:
		return 14
	}
	return 2
}

// percentEncode is Envoy's PercentEncoding::encode for grpc-message.
func percentEncode(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < ' ' || c > '~' || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func (s *stream) startResponse(h Header, details string) {
	s.respHeaders = newHeaderStore(h)
	code, _ := strconv.Atoi(h.Get(":status"))
	s.mu.Lock()
	s.responseCode, s.responseDetails = code, details
	s.mu.Unlock()
}

// --- api.FilterCallbackHandler ---

type callbacks struct{ s *stream }

var _ api.FilterCallbackHandler = callbacks{}

func (c callbacks) StreamInfo() api.StreamInfo { return streamInfo{c.s} }

func (c callbacks) ClearRouteCache() {
	c.s.mu.Lock()
	c.s.routeClears++
	c.s.routeStale = true
	c.s.mu.Unlock()
}

func (c callbacks) RefreshRouteCache() { c.ClearRouteCache() }

func (c callbacks) Log(level api.LogType, msg string) { c.s.log(level, msg) }

func (c callbacks) LogLevel() api.LogType { return c.s.h.opts.logLevel }

func (c callbacks) GetProperty(key string) (string, error) { return c.s.property(key) }

func (c callbacks) SecretManager() api.SecretManager { return secrets(c.s.h.opts.secrets) }

func (c callbacks) DecoderFilterCallbacks() api.DecoderFilterCallbacks {
	return &decoderCallbacks{procCallbacks{c.s, &c.s.dec}}
}

func (c callbacks) EncoderFilterCallbacks() api.EncoderFilterCallbacks {
	return &procCallbacks{c.s, &c.s.enc}
}

type secrets map[string]string

func (m secrets) GetGenericSecret(name string) (string, bool) { v, ok := m[name]; return v, ok }

// procCallbacks is the SDK's processState for one direction.
type procCallbacks struct {
	s *stream
	d *direction
}

// checkResume is what Envoy checks when Go resumes a phase: destroyed, then processing in Go.
func (p *procCallbacks) checkResume() {
	if p.s.destroyed.Load() {
		panic(ErrFilterDestroyed)
	}
	if !p.d.processing() || p.d.resumed.Load() {
		panic(ErrNotInGo)
	}
}

func (p *procCallbacks) Continue(status api.StatusType) {
	if status == api.LocalReply {
		p.s.log(api.Warn, "warning: LocalReply status is useless after sendLocalReply, ignoring")
		return
	}
	p.checkResume()
	p.d.resumed.Store(true)
	p.s.post(func() { p.s.continueStatusInternal(p.d, status) })
}

func (p *procCallbacks) SendLocalReply(code int, body string, headers map[string][]string, grpcStatus int64, details string) {
	p.checkResume()
	p.d.resumed.Store(true)
	lr := &LocalReply{Status: code, Body: body, Headers: normalize(headers), GrpcStatus: grpcStatus, Details: details}
	p.s.post(func() { p.s.sendLocalReplyInternal(p.d, lr) })
}

// RecoverPanic must be deferred directly (recover only works there), as with the SDK.
func (p *procCallbacks) RecoverPanic() {
	if e := recover(); e != nil {
		p.s.handlePanic(p.d, e)
	}
}

func (p *procCallbacks) AddData(data []byte, isStreaming bool) {
	if p.d.st() == processingData {
		panic(errInvalidPhase)
	}
	p.checkResume()
	data = append([]byte(nil), data...)
	if p.d.syncCall.Load() {
		p.d.added = append(p.d.added, data...)
		return
	}
	p.s.post(func() { p.d.added = append(p.d.added, data...) })
}

func (p *procCallbacks) InjectData(data []byte) {
	p.checkResume()
	if p.d.st() != processingData {
		panic(errInvalidPhase)
	}
	if p.d.syncCall.Load() {
		panic(errInvalidScene)
	}
	data = append([]byte(nil), data...)
	p.s.post(func() { p.s.emitData(p.d, data, false) })
}

type decoderCallbacks struct{ procCallbacks }

func (p *decoderCallbacks) SetUpstreamOverrideHost(host string, strict bool) error {
	hostPart, _, err := net.SplitHostPort(host)
	if err != nil {
		return api.ErrInvalidIPAddress
	}
	if _, err := netip.ParseAddr(hostPart); err != nil {
		return api.ErrInvalidIPAddress
	}
	p.s.mu.Lock()
	p.s.upstreamHost, p.s.strictHost = host, strict
	p.s.mu.Unlock()
	return nil
}

// --- dynamic metadata and filter state ---

type dynamicMetadata struct{ s *stream }

func (m dynamicMetadata) Get(filterName string) map[string]any {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	v, ok := m.s.dynMeta[filterName]
	if !ok {
		return nil
	}
	return cloneAnyMap(v)
}

// Set stores value as Envoy does: converted to a protobuf Value (the SDK panics on other types).
func (m dynamicMetadata) Set(filterName, key string, value any) {
	v, err := structpb.NewValue(value)
	if err != nil {
		panic(fmt.Errorf("dynamic metadata %s.%s: %w", filterName, key, err))
	}
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	if m.s.dynMeta[filterName] == nil {
		m.s.dynMeta[filterName] = map[string]any{}
	}
	m.s.dynMeta[filterName][key] = v.AsInterface()
}

type filterStateStore struct{ s *stream }

func (f filterStateStore) SetString(key, value string, _ api.StateType, _ api.LifeSpan, _ api.StreamSharing) {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	f.s.filterStateKV[key] = value
}

func (f filterStateStore) GetString(key string) string {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	return f.s.filterStateKV[key]
}
