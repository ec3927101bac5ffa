package proxy

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/govoy/govoy/filters/rpc/codec"
)

type upState uint8

const (
	upConnecting upState = iota
	upReady
	upClosed
)

// upstream is one multiplexed connection to an endpoint, shared by every session of the proxy.
// Requests get fresh ids from this connection's id space; responses find their call by that id.
type upstream struct {
	p     *Proxy
	codec codec.Codec
	addr  string

	mu      sync.Mutex
	state   upState
	conn    Conn
	queue   []queued // requests written before the connection is ready
	pending map[uint64]*call
	// goingAway: the upstream announced it takes no new requests (codec.GoAwayFrame); counted in
	// its endpointState until the connection ends.
	goingAway bool
	nextID    uint64
	stream    *codec.Stream
	lastIO    time.Time   // last read or write, for idle heartbeats
	hb        *time.Timer // next idle check while ready
}

// queued is a request waiting for the connection: its id on u and its wire bytes.
type queued struct {
	id   uint64
	wire []byte
}

var errUpstreamClosed = errors.New("upstream connection closed")

func newUpstream(p *Proxy, c codec.Codec, addr string) *upstream {
	return &upstream{p: p, codec: c, addr: addr, pending: map[uint64]*call{},
		stream: codec.NewStream(c, codec.FromUpstream, p.maxFrame)}
}

// send assigns c an id on u and writes (or queues) it. ep is counted as active for c.
func (u *upstream) send(c *call, ep *endpointState) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.state == upClosed {
		return errUpstreamClosed
	}
	u.nextID = u.nextID%u.codec.IDSpace() + 1
	id := u.nextID
	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		if !c.oneway {
			ep.active.Add(-1)
		}
		return nil
	}
	c.req.SetID(id)
	wire, err := c.req.AppendWire(nil)
	if err == nil && !c.oneway {
		c.u, c.upID, c.ep = u, id, ep
	}
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("encode request for %s: %w", u.addr, err)
	}
	if !c.oneway {
		u.pending[id] = c
	}
	if u.state == upReady {
		u.conn.Write(wire)
		u.lastIO = time.Now()
	} else {
		u.queue = append(u.queue, queued{id, wire})
	}
	return nil
}

// remove forgets the request with id, which completed without a response (timeout, local
// error). A request still queued for the connect is dropped too: its caller already has an answer,
// so the provider must never run it.
func (u *upstream) remove(id uint64) {
	u.mu.Lock()
	delete(u.pending, id)
	for i, q := range u.queue {
		if q.id == id {
			u.queue = append(u.queue[:i], u.queue[i+1:]...)
			break
		}
	}
	u.mu.Unlock()
}

// close closes the connection (the proxy is going away); OnClose completes what is pending.
func (u *upstream) close() {
	u.mu.Lock()
	conn := u.conn
	if conn == nil {
		u.state = upClosed
	}
	u.mu.Unlock()
	if conn != nil {
		conn.Close()
	} else {
		u.failAll(nil, errUpstreamClosed)
	}
}

func (u *upstream) OnReady(c Conn) {
	u.mu.Lock()
	if u.state == upClosed {
		u.mu.Unlock()
		c.Close()
		return
	}
	u.conn, u.state = c, upReady
	q := u.queue
	u.queue = nil
	for _, r := range q {
		c.Write(r.wire)
	}
	u.lastIO = time.Now()
	u.hb = time.AfterFunc(u.p.hbInterval, u.heartbeat)
	u.mu.Unlock()
}

// heartbeat keeps an idle connection alive: providers close consumers that stay silent.
func (u *upstream) heartbeat() {
	defer func() {
		if r := recover(); r != nil {
			u.p.stats.Panics.Add(1)
			u.p.logger.Error("rpc proxy panic in upstream heartbeat", zap.String("addr", u.addr), zap.Any("panic", r))
		}
	}()
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.state != upReady {
		return
	}
	next := u.p.hbInterval - time.Since(u.lastIO)
	if next <= 0 {
		u.nextID = u.nextID%u.codec.IDSpace() + 1
		if w, err := u.codec.Heartbeat(u.nextID).AppendWire(nil); err == nil {
			u.conn.Write(w)
			u.p.stats.UpstreamPings.Add(1)
		}
		u.lastIO = time.Now()
		next = u.p.hbInterval
	}
	u.hb = time.AfterFunc(next, u.heartbeat)
}

func (u *upstream) OnFailure(err error) {
	u.p.stats.UpstreamFailures.Add(1)
	u.p.logger.Warn("upstream connect failed", zap.String("addr", u.addr), zap.Error(err))
	u.failAll(err, nil)
}

// failAll ends u. With connectErr the requests were never sent and are retried elsewhere;
// otherwise they get a server error.
func (u *upstream) failAll(connectErr, closeErr error) {
	u.mu.Lock()
	u.state = upClosed
	if u.hb != nil {
		u.hb.Stop()
	}
	calls := u.pending
	u.pending = map[uint64]*call{}
	u.queue = nil
	wasGoingAway := u.goingAway
	u.goingAway = false
	u.mu.Unlock()
	u.p.forget(u)
	if wasGoingAway {
		u.p.endpointBack(u.addr)
	}
	for _, c := range calls {
		if connectErr != nil {
			c.retry(u.addr, connectErr)
		} else {
			u.p.stats.UpstreamResets.Add(1)
			c.fail(codec.StatusServerError, fmt.Sprintf("upstream %s: %v", u.addr, closeErr))
		}
	}
}

func (u *upstream) OnClose() {
	u.mu.Lock()
	sent := u.state == upReady
	u.mu.Unlock()
	if sent {
		u.failAll(nil, errUpstreamClosed)
	} else {
		u.failAll(errUpstreamClosed, nil)
	}
}

type reply struct {
	c *call
	f codec.Frame
}

func (u *upstream) OnData(b []byte) {
	defer func() {
		if r := recover(); r != nil {
			u.p.stats.Panics.Add(1)
			u.p.logger.Error("rpc proxy panic on upstream data", zap.String("addr", u.addr), zap.Any("panic", r))
			u.abort(fmt.Errorf("panic: %v", r))
		}
	}()
	var replies []reply
	var bad error
	goAway := false
	u.mu.Lock()
	u.lastIO = time.Now()
	u.stream.Write(b)
	for {
		f, err := u.stream.Next()
		if err != nil {
			bad = err
			break
		}
		if f == nil {
			break
		}
		if f.IsHeartbeat() {
			if f.Kind() == codec.KindRequest && u.conn != nil {
				// Providers (Dubbo's) probe idle consumers: answer for our side of the connection.
				if r, err := u.codec.HeartbeatReply(f); err == nil {
					if w, err := r.AppendWire(nil); err == nil {
						u.conn.Write(w)
					}
				}
			}
			continue
		}
		if f.Kind() != codec.KindResponse {
			if g, ok := f.(codec.GoAwayFrame); ok && g.IsGoAway() && !u.goingAway && u.state == upReady {
				u.goingAway, goAway = true, true
			}
			continue
		}
		c := u.pending[f.ID()]
		if c == nil {
			continue // timed out already
		}
		delete(u.pending, f.ID())
		replies = append(replies, reply{c, f})
	}
	u.mu.Unlock()
	if goAway {
		u.p.endpointLeaving(u.addr)
	}
	for _, r := range replies {
		r.c.complete(r.f, 0, "")
	}
	if bad != nil {
		u.p.stats.Malformed.Add(1)
		u.abort(bad)
	}
}

// abort closes u after garbage from the upstream; pending requests fail now.
func (u *upstream) abort(err error) {
	u.p.logger.Warn("closing upstream connection", zap.String("addr", u.addr), zap.Error(err))
	u.mu.Lock()
	conn := u.conn
	u.mu.Unlock()
	u.failAll(nil, err)
	if conn != nil {
		conn.Close()
	}
}
