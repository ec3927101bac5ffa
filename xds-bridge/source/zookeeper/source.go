// Package zookeeper is a govoy-xds source for services registered in ZooKeeper by Dubbo
// (interface-level and Dubbo 3 application-level) and SOFARPC. It mirrors the relevant znodes with
// child and data watches (re-armed after each event, never polling), rebuilds the service view
// after every batch of changes and hands the difference to the sink. A new session (first connect,
// or after the old one expired) re-reads everything and calls sink.Replace; a lost connection is
// reported with sink.Error while the last view stands.
package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
	"go.uber.org/zap"

	"github.com/govoy/govoy/xds-bridge/model"
	"github.com/govoy/govoy/xds-bridge/source/internal/publish"
)

// role says what a mirrored znode is and how it is read.
type role int

const (
	roleDubboRoot role = iota + 1
	roleDubboProviders
	roleDubboConfigurators
	roleSofaRoot
	roleSofaProviders
	roleAppRoot
	roleApp
	roleAppInstance
	roleMappingRoot
	roleMapping
)

// readsData: these roles mirror a znode's data; all others mirror its children.
func (r role) readsData() bool { return r == roleAppInstance || r == roleMapping }

// node is one mirrored znode.
type node struct {
	role     role
	root     string // the configured root it lies under
	version  uint64 // bumped whenever the mirrored content changes
	exists   bool
	children []string
	data     []byte
}

// Znodes under a Dubbo root that are not interfaces (config center, metadata report, mapping).
var dubboReserved = map[string]bool{"mapping": true, "config": true, "metadata": true}

// Source watches one ZooKeeper ensemble.
type Source struct {
	cfg Config
	log *zap.Logger
}

// New validates cfg and returns the source.
func New(cfg Config) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	if cfg.MappingRoot == "" {
		cfg.MappingRoot = "/dubbo/mapping"
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &Source{cfg: cfg, log: log.With(zap.String("source", cfg.Name))}, nil
}

// Name returns the configured name.
func (s *Source) Name() string { return s.cfg.Name }

// watcher is the state of one Run.
type watcher struct {
	cfg  Config
	log  *zap.Logger
	conn *zk.Conn
	pub  *publish.Publisher

	// Shared with the zk event callback (which runs on the client's receive goroutine and must not
	// call back into the client).
	mu      sync.Mutex
	state   zk.State
	dirty   map[string]struct{}
	armed   map[string]bool // a watch of the kind the path needs is set on the server
	wake    chan struct{}   // 1-buffered: "something changed", coalesced
	everHad bool            // a session was established at least once
	bounced bool            // the connection dropped since the loop last looked

	// Owned by the Run goroutine.
	nodes       map[string]*node
	session     int64
	lastSkipped map[string]bool
	cache       *buildCache
	version     uint64           // last node version handed out
	authed      bool             // digest credentials were accepted once
	failed      map[string]error // znodes whose last read failed for a non-connection reason
	failedMsg   string           // what was last reported about them
}

// Run connects and keeps the sink in sync until ctx ends.
func (s *Source) Run(ctx context.Context, sink model.Sink) error {
	w := &watcher{
		cfg: s.cfg, log: s.log, pub: publish.New(s.cfg.Name, sink),
		dirty: map[string]struct{}{}, armed: map[string]bool{}, wake: make(chan struct{}, 1),
		nodes: map[string]*node{}, lastSkipped: map[string]bool{}, cache: newBuildCache(),
		failed: map[string]error{},
	}
	conn, _, err := zk.Connect(s.cfg.Servers, s.cfg.SessionTimeout,
		zk.WithEventCallback(w.onEvent), zk.WithLogger(zapPrintf{s.log}), zk.WithLogInfo(false))
	if err != nil {
		return fmt.Errorf("zookeeper source %q: connect: %w", s.cfg.Name, err)
	}
	w.conn = conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("zookeeper source panicked", zap.Any("panic", r))
				w.pub.Error(fmt.Errorf("zookeeper source %q: internal error: %v", s.cfg.Name, r))
			}
		}()
		w.loop(ctx)
	}()
	select {
	case <-ctx.Done():
	case <-done:
	}
	// Closing fails pending requests, which ends a loop blocked on one. A request queued while the
	// client was disconnected may never be answered, hence the bound.
	conn.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		s.log.Warn("zookeeper source loop did not stop in time")
	}
	if ctx.Err() == nil {
		return fmt.Errorf("zookeeper source %q: stopped after an internal error", s.cfg.Name)
	}
	return nil
}

// onEvent records what changed and wakes the loop. Node events name the path whose watch fired;
// the watch is gone once fired, so the path is marked unarmed.
func (w *watcher) onEvent(ev zk.Event) {
	w.mu.Lock()
	switch ev.Type {
	case zk.EventSession:
		w.state = ev.State
		if ev.State == zk.StateHasSession {
			w.everHad = true
		}
		if ev.State == zk.StateDisconnected {
			w.bounced = true
		}
	case zk.EventNotWatching:
		// Session expired or client closing: the next session resyncs everything.
	default:
		if ev.Path != "" {
			delete(w.armed, ev.Path)
			w.dirty[ev.Path] = struct{}{}
		}
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *watcher) loop(ctx context.Context) {
	started := time.Now()
	lossReported := false
	needReplace := false
	var retry, retryFailed <-chan time.Time
	for {
		w.mu.Lock()
		state, everHad := w.state, w.everHad
		w.mu.Unlock()

		switch {
		case state != zk.StateHasSession:
			// Keep the last view; say once per outage why it is not moving.
			if !lossReported && (everHad || time.Since(started) >= w.cfg.SessionTimeout) {
				w.log.Warn("zookeeper unreachable, keeping the last view", zap.String("state", state.String()))
				w.pub.Error(fmt.Errorf("zookeeper source %q: %s: no session (state %s); keeping the last view",
					w.cfg.Name, w.conn.Server(), state))
				lossReported = true
			}
			if !everHad && !lossReported {
				retry = time.After(w.cfg.SessionTimeout - time.Since(started))
			}
		default:
			if w.cfg.Username != "" && !w.authed {
				// Before any read, so ACL-protected znodes are never mistaken for empty ones. The
				// client re-sends the credentials on every later connection by itself.
				if err := w.conn.AddAuth("digest", []byte(w.cfg.Username+":"+w.cfg.Password)); err != nil {
					w.log.Warn("zookeeper digest auth failed, will retry", zap.Error(err))
					retry = time.After(time.Second)
					break
				}
				w.authed = true
			}
			if sid := w.conn.SessionID(); sid != w.session {
				if w.session != 0 {
					w.log.Info("new zookeeper session, resyncing everything")
				}
				w.resetMirror(sid)
				needReplace = true
			} else if w.takeBounced() {
				// Same session back after an outage. The client re-registers its watches, but a
				// reconnect that drops again mid-way can lose them; re-reading every mirrored
				// znode with a fresh watch costs one read each and leaves nothing to chance.
				w.rearmAll()
			}
			if err := w.drain(); err != nil {
				w.log.Debug("zookeeper read failed, will retry", zap.Error(err))
				retry = time.After(time.Second)
				break
			}
			w.reportFailed()
			if len(w.failed) > 0 && retryFailed == nil {
				retryFailed = time.After(failedRetry)
			}
			svcs, skipped := build(w.snapshot(), w.cache)
			w.logSkipped(skipped)
			if needReplace {
				w.pub.Replace(svcs)
				needReplace = false
			} else {
				w.pub.Update(svcs)
			}
			lossReported = false
		}

		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-retry:
			retry = nil
		case <-retryFailed:
			retryFailed = nil
			w.mu.Lock()
			for p := range w.failed {
				w.dirty[p] = struct{}{}
			}
			w.mu.Unlock()
		}
	}
}

// resetMirror forgets everything; every root is read again (with fresh watches) in the new session.
func (w *watcher) resetMirror(sid int64) {
	w.session = sid
	w.nodes = map[string]*node{}
	w.lastSkipped = map[string]bool{}
	w.failed, w.failedMsg = map[string]error{}, ""
	w.mu.Lock()
	w.armed = map[string]bool{}
	w.dirty = map[string]struct{}{}
	w.bounced = false
	w.mu.Unlock()
	app := false
	for _, r := range w.cfg.Roots {
		switch r.Layout {
		case LayoutDubbo:
			w.want(r.Path, r.Path, roleDubboRoot)
		case LayoutSofa:
			w.want(r.Path, r.Path, roleSofaRoot)
		case LayoutDubboApp:
			w.want(r.Path, r.Path, roleAppRoot)
			app = true
		}
	}
	if app {
		w.want(w.cfg.MappingRoot, w.cfg.MappingRoot, roleMappingRoot)
	}
}

// failedRetry is how often unreadable (e.g. ACL-protected) znodes are tried again.
const failedRetry = 5 * time.Second

// reportFailed tells the sink about unreadable znodes, once per distinct situation.
func (w *watcher) reportFailed() {
	for p := range w.failed {
		if _, ok := w.nodes[p]; !ok {
			delete(w.failed, p)
		}
	}
	if len(w.failed) == 0 {
		w.failedMsg = ""
		return
	}
	paths := slices.Sorted(maps.Keys(w.failed))
	msg := fmt.Sprintf("zookeeper source %q: cannot read %d znode(s), keeping their last content; first %s: %v",
		w.cfg.Name, len(paths), paths[0], w.failed[paths[0]])
	if msg != w.failedMsg {
		w.failedMsg = msg
		w.pub.Error(errors.New(msg))
	}
}

func (w *watcher) takeBounced() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.bounced
	w.bounced = false
	return b
}

// rearmAll queues every mirrored znode for a read that sets a new watch.
func (w *watcher) rearmAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armed = map[string]bool{}
	for p := range w.nodes {
		w.dirty[p] = struct{}{}
	}
}

// want adds a path to the mirror and queues its first read.
func (w *watcher) want(p, root string, r role) {
	if _, ok := w.nodes[p]; ok {
		return
	}
	w.nodes[p] = &node{role: r, root: root}
	w.mu.Lock()
	w.dirty[p] = struct{}{}
	w.mu.Unlock()
}

// drop removes a path and everything mirrored below it.
func (w *watcher) drop(p string) {
	prefix := p + "/"
	for q := range w.nodes {
		if q == p || len(q) > len(prefix) && q[:len(prefix)] == prefix {
			delete(w.nodes, q)
		}
	}
}

// drain reads dirty paths until none is left. On a connection error the unread paths stay dirty.
func (w *watcher) drain() error {
	for {
		w.mu.Lock()
		var p string
		for p = range w.dirty {
			break
		}
		if p == "" {
			w.mu.Unlock()
			return nil
		}
		delete(w.dirty, p)
		n := w.nodes[p]
		watch := n != nil && !w.armed[p]
		if watch {
			// Armed before the call: an event arriving before the reply is seen clears it again.
			w.armed[p] = true
		}
		w.mu.Unlock()
		if n == nil {
			continue // no longer of interest; a late event
		}
		if err := w.read(p, n, watch); err != nil {
			w.mu.Lock()
			w.dirty[p] = struct{}{}
			if watch {
				delete(w.armed, p)
			}
			w.mu.Unlock()
			return err
		}
	}
}

// connection-class errors are retried; others (ACLs, bad paths) are logged and the node is treated
// as empty until its next event.
func retryable(err error) bool {
	return errors.Is(err, zk.ErrConnectionClosed) || errors.Is(err, zk.ErrNoServer) ||
		errors.Is(err, zk.ErrSessionExpired) || errors.Is(err, zk.ErrSessionMoved) || errors.Is(err, zk.ErrClosing)
}

func (w *watcher) read(p string, n *node, watch bool) error {
	var (
		children []string
		data     []byte
		exists   bool
		err      error
	)
	if n.role.readsData() {
		data, exists, err = w.readData(p, watch)
	} else {
		children, exists, err = w.readChildren(p, watch)
	}
	if err != nil {
		if retryable(err) {
			return fmt.Errorf("read %s: %w", p, err)
		}
		// Not a connection problem (ACL, server-side limit): keep what was last read, tell the
		// sink, and try again later; the rest of the tree carries on.
		if w.failed[p] == nil {
			w.log.Warn("cannot read znode, keeping its last content", zap.String("path", p), zap.Error(err))
		}
		w.failed[p] = err
		w.mu.Lock()
		delete(w.armed, p) // the failed read set no watch
		w.mu.Unlock()
		return nil
	}
	delete(w.failed, p)
	slices.Sort(children)
	old := n.children
	if n.version == 0 || exists != n.exists || !slices.Equal(children, old) || string(data) != string(n.data) {
		w.version++
		n.version = w.version
	}
	n.exists, n.children, n.data = exists, children, data
	// Follow the children: newly listed ones are mirrored, vanished ones forgotten.
	for _, c := range old {
		if _, found := slices.BinarySearch(children, c); !found {
			for _, q := range w.childPaths(p, n, c) {
				w.drop(q)
			}
		}
	}
	for _, c := range children {
		if _, found := slices.BinarySearch(old, c); !found {
			for i, q := range w.childPaths(p, n, c) {
				w.want(q, n.root, w.childRoles(n.role)[i])
			}
		}
	}
	return nil
}

// childPaths lists what to mirror for child c of a node; childRoles gives their roles, same order.
func (w *watcher) childPaths(p string, n *node, c string) []string {
	switch n.role {
	case roleDubboRoot:
		if dubboReserved[c] {
			return nil
		}
		return []string{path.Join(p, c, "providers"), path.Join(p, c, "configurators")}
	case roleSofaRoot:
		return []string{path.Join(p, c, "providers")}
	case roleAppRoot, roleApp, roleMappingRoot:
		return []string{path.Join(p, c)}
	}
	return nil
}

func (w *watcher) childRoles(r role) []role {
	switch r {
	case roleDubboRoot:
		return []role{roleDubboProviders, roleDubboConfigurators}
	case roleSofaRoot:
		return []role{roleSofaProviders}
	case roleAppRoot:
		return []role{roleApp}
	case roleApp:
		return []role{roleAppInstance}
	case roleMappingRoot:
		return []role{roleMapping}
	}
	return nil
}

// readChildren lists p's children, setting a child watch, or an exists watch while p is absent.
func (w *watcher) readChildren(p string, watch bool) ([]string, bool, error) {
	return readWatched(w, p, watch,
		func() ([]string, error) { ch, _, err := w.conn.Children(p); return ch, err },
		func() ([]string, error) { ch, _, _, err := w.conn.ChildrenW(p); return ch, err })
}

// readData gets p's data with a data watch, or an exists watch while p is absent.
func (w *watcher) readData(p string, watch bool) ([]byte, bool, error) {
	return readWatched(w, p, watch,
		func() ([]byte, error) { b, _, err := w.conn.Get(p); return b, err },
		func() ([]byte, error) { b, _, _, err := w.conn.GetW(p); return b, err })
}

// readWatched reads p once (get) or with a watch (getW). An absent node is not an error: it reports
// found=false and, when watching, leaves an exists watch so its creation is seen.
func readWatched[T any](w *watcher, p string, watch bool, get, getW func() (T, error)) (T, bool, error) {
	var zero T
	if !watch {
		v, err := get()
		if errors.Is(err, zk.ErrNoNode) {
			return zero, false, nil
		}
		return v, err == nil, err
	}
	for range 3 {
		v, err := getW()
		if err == nil {
			return v, true, nil
		}
		if !errors.Is(err, zk.ErrNoNode) {
			return zero, false, err
		}
		ok, _, _, err := w.conn.ExistsW(p)
		if err != nil {
			return zero, false, err
		}
		if !ok {
			return zero, false, nil
		}
		// Created in between: read it again (the extra exists watch only causes a spare re-read).
	}
	return zero, false, fmt.Errorf("%s keeps appearing and vanishing", p)
}

// snapshot groups the mirror by role for build.
func (w *watcher) snapshot() *snapshot {
	s := newSnapshot()
	for p, n := range w.nodes {
		if !n.exists {
			continue
		}
		s.stamps[p] = n.version
		switch n.role {
		case roleDubboProviders:
			put(s.dubboProviders, n.root, path.Base(path.Dir(p)), n.children)
		case roleDubboConfigurators:
			put(s.dubboConfigurators, n.root, path.Base(path.Dir(p)), n.children)
		case roleSofaProviders:
			put(s.sofaProviders, n.root, path.Base(path.Dir(p)), n.children)
		case roleAppInstance:
			s.appInstances[p] = n.data
		case roleMapping:
			s.mappings[path.Base(p)] = n.data
		}
	}
	return s
}

// logSkipped logs each skip reason once while it lasts.
func (w *watcher) logSkipped(reasons []string) {
	now := make(map[string]bool, len(reasons))
	for _, r := range reasons {
		now[r] = true
		if !w.lastSkipped[r] {
			w.log.Warn("skipped registry entry", zap.String("reason", r))
		}
	}
	w.lastSkipped = now
}

// zapPrintf adapts the zk client's Printf logging to zap at debug level.
type zapPrintf struct{ l *zap.Logger }

func (z zapPrintf) Printf(format string, args ...any) { z.l.Debug(fmt.Sprintf(format, args...)) }
