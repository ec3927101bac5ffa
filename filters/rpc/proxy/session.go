package proxy

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/govoy/govoy/filters/rpc/codec"
)

// Session is one downstream connection. OnData and OnClose come from the connection's thread;
// responses are written from whichever goroutine completes a request.
type Session struct {
	p    *Proxy
	down Conn

	rmu    sync.Mutex // decoding side
	sniff  []byte
	codec  codec.Codec
	stream *codec.Stream

	wmu    sync.Mutex // writing side
	closed atomic.Bool

	counted bool        // in p.sessions until ended
	ended   atomic.Bool // OnClose or close happened
}

// NewSession starts a session writing to down. On a closed proxy the session still exists but
// its requests fail; Accept says so instead.
func (p *Proxy) NewSession(down Conn) *Session {
	if s, err := p.Accept(down); err == nil {
		return s
	}
	p.stats.Connections.Add(1)
	return &Session{p: p, down: down}
}

// OnData feeds bytes received from the downstream. It never panics.
func (s *Session) OnData(b []byte) {
	defer s.recover("downstream data")
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if s.closed.Load() {
		return
	}
	if s.stream == nil {
		s.sniff = append(s.sniff, b...)
		c, m := s.p.sniffer.Sniff(s.sniff)
		switch m {
		case codec.MatchMore:
			if len(s.sniff) > 64 {
				s.malformed(fmt.Errorf("no protocol recognised in the first %d bytes", len(s.sniff)))
			}
			return
		case codec.MatchNo:
			s.malformed(fmt.Errorf("no configured protocol matches the first bytes %x", s.sniff[:min(len(s.sniff), 8)]))
			return
		}
		s.codec = c
		s.stream = codec.NewStream(c, codec.FromDownstream, s.p.maxFrame)
		b, s.sniff = s.sniff, nil
	}
	s.stream.Write(b)
	for !s.closed.Load() {
		f, err := s.stream.Next()
		if err != nil {
			s.malformed(err)
			return
		}
		if f == nil {
			return
		}
		s.handle(f)
	}
}

// OnClose is called once the downstream connection is closed; late responses are dropped.
func (s *Session) OnClose() {
	s.closed.Store(true)
	s.end()
}

// end takes the session out of the proxy's open sessions, once.
func (s *Session) end() {
	if s.counted && s.ended.CompareAndSwap(false, true) {
		s.p.sessionEnded()
	}
}

func (s *Session) recover(where string) {
	if r := recover(); r != nil {
		s.p.stats.Panics.Add(1)
		s.p.logger.Error("rpc proxy panic, closing connection", zap.String("in", where), zap.Any("panic", r))
		s.close()
	}
}

func (s *Session) malformed(err error) {
	s.p.stats.Malformed.Add(1)
	s.p.logger.Warn("closing downstream connection on a malformed frame", zap.Error(err))
	s.close()
}

func (s *Session) close() {
	if s.closed.CompareAndSwap(false, true) {
		s.down.Close()
	}
	s.end()
}

func (s *Session) write(b []byte) {
	if len(b) == 0 {
		return
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed.Load() {
		return
	}
	s.down.Write(b)
}

func (s *Session) writeFrame(f codec.Frame) {
	b, err := f.AppendWire(nil)
	if err != nil {
		s.p.logger.Error("encode frame for downstream", zap.Error(err))
		return
	}
	s.write(b)
}

// rejectCounted answers req locally with st and counts it in sr.
func (s *Session) rejectCounted(req codec.Frame, sr *series, st codec.Status, msg string, start time.Time) {
	sr.count(resultOf(st))
	if req.Kind() == codec.KindRequest {
		sr.observe(time.Since(start))
	}
	s.reject(req, st, msg)
}

// reject answers req locally with st.
func (s *Session) reject(req codec.Frame, st codec.Status, msg string) {
	if req.Kind() != codec.KindRequest {
		return // oneway: nobody listens
	}
	h, err := s.codec.Hijack(req, st, "govoy: "+msg)
	if err != nil {
		s.p.logger.Error("build error response", zap.Stringer("status", st), zap.Error(err))
		return
	}
	s.writeFrame(h)
}

func (s *Session) handle(f codec.Frame) {
	p := s.p
	if f.Kind() == codec.KindResponse {
		return // a client answering our nothing: drop
	}
	if f.IsHeartbeat() {
		p.stats.Heartbeats.Add(1)
		if f.Kind() == codec.KindRequest {
			if r, err := s.codec.HeartbeatReply(f); err == nil {
				s.writeFrame(r)
			}
		}
		return
	}
	if g, ok := f.(codec.GoAwayFrame); ok && g.IsGoAway() {
		return // a server's shutdown notice: meaningless from a client, and not a request
	}
	start := time.Now()
	if f.Kind() == codec.KindOnewayRequest {
		p.stats.Oneway.Add(1)
	} else {
		p.stats.Requests.Add(1)
	}
	if err := f.Err(); err != nil {
		s.rejectCounted(f, p.prefix.other, codec.StatusBadRequest, err.Error(), start)
		return
	}
	rf := f.Route()
	sr := p.prefix.seriesFor(metrics, rf.Service, rf.Method)
	rt := p.routeFor(f)
	if rt == nil {
		p.stats.NoRoute.Add(1)
		s.rejectCounted(f, sr, codec.StatusNoRoute, fmt.Sprintf("no route for %s:%s:%s.%s", rf.Group, rf.Service, rf.Version, rf.Method), start)
		return
	}
	if !rt.allow(rf.Method) {
		p.stats.RateLimited.Add(1)
		s.rejectCounted(f, sr, codec.StatusRateLimited, "rate limited: "+rf.Service+"."+rf.Method, start)
		return
	}
	svc := p.serviceFor(rt.service)
	if svc == nil || len(svc.endpoints) == 0 {
		p.stats.NoProvider.Add(1)
		s.rejectCounted(f, sr, codec.StatusNoProvider, "no provider for service "+rt.service, start)
		return
	}
	c := &call{s: s, req: f, origID: f.ID(), route: rt, svc: svc, oneway: f.Kind() == codec.KindOnewayRequest,
		series: sr, start: start}
	if !c.oneway {
		if svc.maxPending > 0 && svc.pending.Add(1) > svc.maxPending {
			svc.pending.Add(-1)
			p.stats.CircuitOpen.Add(1)
			s.rejectCounted(f, sr, codec.StatusCircuitOpen, "too many pending requests for "+svc.name, start)
			return
		}
		c.countedPending = svc.maxPending > 0
		p.inflight.Add(1)
		timeout := rt.timeout
		if timeout == 0 {
			timeout = rf.Timeout
		}
		if timeout <= 0 {
			timeout = p.defTimeout
		}
		c.timeout = timeout
		c.mu.Lock() // the timer may fire before AfterFunc returns
		c.timer = time.AfterFunc(timeout, c.expire)
		c.mu.Unlock()
	}
	s.dispatch(c)
}

// dispatch sends c to an endpoint it has not tried yet.
func (s *Session) dispatch(c *call) {
	p := s.p
	ep := c.svc.pick(p, c.req, c.tried)
	if ep == nil {
		p.stats.NoProvider.Add(1)
		c.fail(codec.StatusNoProvider, "no reachable provider for "+c.svc.name)
		return
	}
	st := p.endpointState(ep.addr)
	if !c.oneway {
		if c.svc.maxPerEP > 0 && st.active.Load() >= c.svc.maxPerEP {
			p.stats.CircuitOpen.Add(1)
			c.fail(codec.StatusCircuitOpen, "too many requests on "+ep.addr)
			return
		}
		st.active.Add(1)
	}
	u, fresh, err := p.upstreamFor(s.codec, ep.addr)
	if err == nil {
		err = u.send(c, st)
	}
	if err == nil && c.oneway {
		c.series.count(resOneway) // forwarded; nothing completes a oneway call
	}
	if fresh {
		p.connect(u)
	}
	if err != nil {
		if !c.oneway {
			st.active.Add(-1)
		}
		if errors.Is(err, errUpstreamClosed) {
			// It failed between the lookup and the send: as good as a connect failure.
			c.retry(ep.addr, err)
			return
		}
		c.fail(codec.StatusServerError, err.Error())
	}
}

// call is one forwarded request until it completes (response, local error, timeout).
type call struct {
	s              *Session
	route          *route
	svc            *service
	oneway         bool
	countedPending bool
	timeout        time.Duration
	origID         uint64
	series         *series
	start          time.Time

	mu    sync.Mutex // guards what follows and mutation of req
	timer *time.Timer
	req   codec.Frame
	done  bool
	u     *upstream
	upID  uint64
	ep    *endpointState
	tried []string
}

func (c *call) expire() {
	defer c.s.recover("request timeout") // a timer goroutine: a panic here would end the process
	c.s.p.stats.Timeouts.Add(1)
	c.fail(codec.StatusTimeout, fmt.Sprintf("no response within %s", c.timeout))
}

// fail completes c with a local error response.
func (c *call) fail(st codec.Status, msg string) { c.complete(nil, st, msg) }

// complete answers the downstream once, with rsp or a hijack of st.
func (c *call) complete(rsp codec.Frame, st codec.Status, msg string) {
	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		return
	}
	c.done = true
	u, id, ep, timer := c.u, c.upID, c.ep, c.timer
	c.u, c.ep = nil, nil
	var out codec.Frame
	if rsp != nil {
		rsp.SetID(c.origID)
		out = rsp
	} else if !c.oneway {
		c.req.SetID(c.origID)
		h, err := c.s.codec.Hijack(c.req, st, "govoy: "+msg)
		if err != nil {
			c.s.p.logger.Error("build error response", zap.Stringer("status", st), zap.Error(err))
		}
		out = h
	}
	c.mu.Unlock()
	if timer != nil {
		timer.Stop()
	}
	if c.countedPending {
		c.svc.pending.Add(-1)
	}
	if ep != nil {
		ep.active.Add(-1)
	}
	if u != nil && rsp == nil {
		u.remove(id)
	}
	if rsp != nil {
		c.s.p.stats.Responses.Add(1)
		if rsp.Status() == codec.StatusOK {
			c.series.count(resOK)
		} else {
			c.series.count(resError)
		}
	} else {
		c.series.count(resultOf(st))
	}
	if !c.oneway {
		// Before the write: whoever reads the answer sees the request accounted for.
		c.series.observe(time.Since(c.start))
		c.s.p.callEnded()
	}
	if out != nil {
		c.s.writeFrame(out)
	}
}

// retry moves c to another endpoint after its upstream failed to connect.
func (c *call) retry(addr string, cause error) {
	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		return
	}
	c.tried = append(c.tried, addr)
	attempts := len(c.tried)
	ep := c.ep
	c.u, c.ep = nil, nil
	c.mu.Unlock()
	if ep != nil {
		ep.active.Add(-1)
	}
	if attempts > c.route.retries {
		c.fail(codec.StatusNoProvider, fmt.Sprintf("upstream %s: %v", addr, cause))
		return
	}
	c.s.p.stats.Retries.Add(1)
	c.s.dispatch(c)
}
