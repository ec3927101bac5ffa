package proxy

import (
	"errors"
	"time"

	"go.uber.org/zap"
)

// Lifecycle. Envoy's golang network filter SDK never says that a config is gone: its Go shim keeps
// every parsed config by id for the process lifetime, and the C++ FilterConfig is released without
// calling into Go (envoy@v1.39.0 contrib/golang/filters/network/source/config.cc and
// go/pkg/network/shim.go; the HTTP filter has envoyGoFilterDestroyHttpPluginConfig, the network
// filter has no counterpart). So the adapter decides when a proxy is superseded and calls Retire:
// the proxy then refuses new sessions, lets the open ones and their requests finish (or time out),
// and closes itself (upstream connections, heartbeat timers, xDS client).

// ErrClosed is returned by Accept once the proxy is closed or closing.
var ErrClosed = errors.New("rpc proxy: closed")

// Accept starts a session writing to down, unless the proxy is closed or closing.
func (p *Proxy) Accept(down Conn) (*Session, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrClosed
	}
	p.sessions.Add(1)
	p.stats.Connections.Add(1)
	if p.idle != nil {
		p.idle.Stop()
		p.idle = nil
	}
	return &Session{p: p, down: down, counted: true}, nil
}

// Retire marks p superseded: it closes itself once no session is open and no request is in
// flight (at once if that is already so). Sessions still accepted meanwhile keep it open.
func (p *Proxy) Retire() {
	p.mu.Lock()
	first := !p.draining
	p.draining = true
	p.mu.Unlock()
	if first {
		p.logger.Info("rpc proxy superseded; draining", zap.String("stat_prefix", p.prefix.name))
	}
	p.maybeRelease()
}

// Draining reports whether Retire was called.
func (p *Proxy) Draining() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.draining
}

// Done is closed once Close has finished.
func (p *Proxy) Done() <-chan struct{} { return p.done }

// maybeRelease closes a retired proxy that has nothing left to do. The close runs on its own
// goroutine: callers hold session locks, and stopping the xDS client waits for its goroutine.
func (p *Proxy) maybeRelease() {
	p.mu.Lock()
	if !p.draining || p.closed || p.sessions.Load() != 0 || p.inflight.Load() != 0 {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	go func() {
		defer func() {
			if r := recover(); r != nil {
				p.stats.Panics.Add(1)
				p.logger.Error("rpc proxy panic while closing", zap.Any("panic", r))
			}
		}()
		p.finish()
		p.logger.Info("rpc proxy drained and closed", zap.String("stat_prefix", p.prefix.name))
	}()
}

type gauges struct {
	sessions, inflight int64
	upstreams          int
	draining           bool
}

func (p *Proxy) gauges() gauges {
	p.mu.Lock()
	defer p.mu.Unlock()
	return gauges{sessions: p.sessions.Load(), inflight: p.inflight.Load(), upstreams: len(p.upstreams), draining: p.draining}
}

// sessionEnded is called once per accepted session.
func (p *Proxy) sessionEnded() {
	if p.sessions.Add(-1) == 0 {
		p.armIdle()
		p.maybeRelease()
	}
}

// armIdle starts the idle clock when the last session ended: a listener Envoy removed (no
// successor, so never retired) leaves its proxy without sessions, and the timer then closes its
// upstream connections and their heartbeats.
func (p *Proxy) armIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.sessions.Load() != 0 {
		return
	}
	if p.idle != nil {
		p.idle.Stop()
	}
	p.idleGen++
	gen := p.idleGen
	p.idle = time.AfterFunc(p.idleUp, func() { p.closeIdleUpstreams(gen) })
}

// closeIdleUpstreams closes the upstream connections without pending requests if still no
// session was opened since timer gen was armed. Sessions open under p.mu, so none can pick one of
// these connections after the check.
func (p *Proxy) closeIdleUpstreams(gen uint64) {
	defer func() {
		if r := recover(); r != nil {
			p.stats.Panics.Add(1)
			p.logger.Error("rpc proxy panic closing idle upstreams", zap.Any("panic", r))
		}
	}()
	p.mu.Lock()
	if p.idle == nil || p.idleGen != gen || p.closed || p.sessions.Load() != 0 {
		p.mu.Unlock()
		return
	}
	p.idle = nil
	var idle []*upstream
	for k, u := range p.upstreams {
		u.mu.Lock()
		free := len(u.pending) == 0 && len(u.queue) == 0
		u.mu.Unlock()
		if free {
			idle = append(idle, u)
			delete(p.upstreams, k)
		}
	}
	p.mu.Unlock()
	for _, u := range idle {
		u.close()
	}
	if len(idle) > 0 {
		p.logger.Info("closed idle upstream connections: no downstream connection",
			zap.String("stat_prefix", p.prefix.name), zap.Int("closed", len(idle)), zap.Duration("idle", p.idleUp))
	}
}

// callEnded is called once per two-way request counted in flight.
func (p *Proxy) callEnded() {
	if p.inflight.Add(-1) == 0 {
		p.maybeRelease()
	}
}
