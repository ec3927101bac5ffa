// Package store aggregates what sources report (model.Sink), diffs it against what is served, protects
// against sudden drops to zero instances, keeps the last good state on source errors, and hands
// debounced batches of changed services to a consumer (the translator).
package store

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/govoy/govoy/xds-bridge/admin/metrics"
	"github.com/govoy/govoy/xds-bridge/model"
)

// Batch is one debounced set of changes.
type Batch struct {
	Seq uint64
	// Upserted holds the new state of services added or changed; Deleted names removed services.
	Upserted map[string]*model.Service
	Deleted  []string
	// FirstChange is when the oldest change in the batch reached the store (for push latency).
	FirstChange time.Time
}

// Options configure a Store.
type Options struct {
	// Sources are the names of the configured sources; readiness waits for a Replace from each.
	Sources  []string
	Debounce time.Duration
	MaxDelay time.Duration
	// HoldZero turns on zero-instance protection; ReleaseAfter > 0 lets a held service go after that long.
	HoldZero     bool
	ReleaseAfter time.Duration
	// Apply receives every batch, in order, from the store's Run goroutine.
	Apply   func(Batch)
	Metrics *metrics.Metrics
	Logger  *zap.Logger
}

// SourceStatus is what /debug/sources shows for one source.
type SourceStatus struct {
	Name      string    `json:"name"`
	Synced    bool      `json:"synced"`
	Services  int       `json:"services"`
	Endpoints int       `json:"endpoints"`
	Updates   uint64    `json:"updates"`
	Errors    uint64    `json:"errors"`
	LastError string    `json:"last_error,omitempty"`
	LastErrAt time.Time `json:"last_error_at,omitzero"`
	LastSync  time.Time `json:"last_sync,omitzero"`
}

type sourceState struct {
	services map[string]model.Service
	status   SourceStatus
}

// Store implements model.Sink.
type Store struct {
	opts Options
	log  *zap.Logger

	mu        sync.Mutex
	sources   map[string]*sourceState
	served    map[string]*model.Service
	held      map[string]time.Time // service -> when it was first held
	dirty     map[string]struct{}
	firstAt   time.Time // oldest unflushed change
	seq       uint64
	endpoints int    // endpoints in served, kept incrementally
	syncedAt  uint64 // seq of the first flush after every source synced (0: not yet)

	kick chan struct{}
}

var _ model.Sink = (*Store)(nil)

// New creates a store; call Run to start applying batches.
func New(opts Options) *Store {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.New()
	}
	if opts.Apply == nil {
		opts.Apply = func(Batch) {}
	}
	s := &Store{
		opts:    opts,
		log:     opts.Logger,
		sources: map[string]*sourceState{},
		served:  map[string]*model.Service{},
		held:    map[string]time.Time{},
		dirty:   map[string]struct{}{},
		kick:    make(chan struct{}, 1),
	}
	for _, n := range opts.Sources {
		s.sources[n] = &sourceState{services: map[string]model.Service{}, status: SourceStatus{Name: n}}
	}
	return s
}

func (s *Store) source(name string) *sourceState {
	st := s.sources[name]
	if st == nil {
		st = &sourceState{services: map[string]model.Service{}, status: SourceStatus{Name: name}}
		s.sources[name] = st
	}
	return st
}

// markLocked records a change of name and wakes the debouncer.
func (s *Store) markLocked(name string) {
	s.dirty[name] = struct{}{}
	if s.firstAt.IsZero() {
		s.firstAt = time.Now()
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Upsert implements model.Sink.
func (s *Store) Upsert(source string, svc model.Service) {
	svc = normalize(svc)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.source(source)
	st.status.Updates++
	if old, ok := st.services[svc.Name]; ok && reflect.DeepEqual(old, svc) {
		return
	}
	st.services[svc.Name] = svc
	s.markLocked(svc.Name)
}

// Delete implements model.Sink.
func (s *Store) Delete(source, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.source(source)
	st.status.Updates++
	if _, ok := st.services[name]; !ok {
		return
	}
	delete(st.services, name)
	s.markLocked(name)
}

// Replace implements model.Sink: only services that differ from the source's previous view are marked.
func (s *Store) Replace(source string, svcs []model.Service) {
	next := make(map[string]model.Service, len(svcs))
	for _, svc := range svcs {
		next[svc.Name] = normalize(svc)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.source(source)
	st.status.Updates++
	for name, old := range st.services {
		if n, ok := next[name]; !ok || !reflect.DeepEqual(old, n) {
			s.markLocked(name)
		}
	}
	for name := range next {
		if _, ok := st.services[name]; !ok {
			s.markLocked(name)
		}
	}
	st.services = next
	if !st.status.Synced {
		st.status.Synced = true
		// Readiness needs a flush even if the first sync brought nothing new.
		s.markLocked("")
	}
	st.status.LastSync = time.Now()
}

// Error implements model.Sink: the source's last good state stays served.
func (s *Store) Error(source string, err error) {
	s.mu.Lock()
	st := s.source(source)
	st.status.Errors++
	st.status.LastError = err.Error()
	st.status.LastErrAt = time.Now()
	s.mu.Unlock()
	s.opts.Metrics.SourceErrors.WithLabelValues(source).Inc()
	s.log.Warn("source error, keeping its last good state", zap.String("source", source), zap.Error(err))
}

// Run applies debounced batches until ctx is done.
func (s *Store) Run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var release <-chan time.Time
	if s.opts.HoldZero && s.opts.ReleaseAfter > 0 {
		t := time.NewTicker(max(s.opts.ReleaseAfter/4, 10*time.Millisecond))
		defer t.Stop()
		release = t.C
	}
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-s.kick:
			s.mu.Lock()
			first := s.firstAt
			s.mu.Unlock()
			if first.IsZero() {
				continue
			}
			fire := time.Now().Add(s.opts.Debounce)
			if deadline := first.Add(s.opts.MaxDelay); deadline.Before(fire) {
				fire = deadline
			}
			timer.Reset(time.Until(fire))
		case <-timer.C:
			s.Flush()
		case <-release:
			s.mu.Lock()
			for name, since := range s.held {
				if time.Since(since) >= s.opts.ReleaseAfter {
					s.markLocked(name)
				}
			}
			s.mu.Unlock()
		}
	}
}

// Flush applies pending changes now (Run calls it; tests may too).
func (s *Store) Flush() {
	s.mu.Lock()
	if len(s.dirty) == 0 {
		s.mu.Unlock()
		return
	}
	b := Batch{Upserted: map[string]*model.Service{}, FirstChange: s.firstAt}
	now := time.Now()
	for name := range s.dirty {
		if name == "" {
			continue
		}
		merged := s.mergeLocked(name)
		prev := s.served[name]
		if s.opts.HoldZero && prev != nil && len(prev.Endpoints) > 0 && (merged == nil || len(merged.Endpoints) == 0) {
			since, held := s.held[name]
			if !held {
				s.held[name] = now
				s.opts.Metrics.HeldUpdates.WithLabelValues(name).Inc()
				s.log.Warn("service dropped to zero instances; holding its last state",
					zap.String("service", name), zap.Int("instances", len(prev.Endpoints)))
				continue
			}
			if s.opts.ReleaseAfter <= 0 || now.Sub(since) < s.opts.ReleaseAfter {
				s.opts.Metrics.HeldUpdates.WithLabelValues(name).Inc()
				continue
			}
			s.log.Warn("releasing held service", zap.String("service", name), zap.Duration("held", now.Sub(since)))
		}
		delete(s.held, name)
		if reflect.DeepEqual(prev, merged) {
			continue
		}
		if prev != nil {
			s.endpoints -= len(prev.Endpoints)
		}
		if merged == nil {
			delete(s.served, name)
			b.Deleted = append(b.Deleted, name)
		} else {
			s.endpoints += len(merged.Endpoints)
			s.served[name] = merged
			b.Upserted[name] = merged
		}
	}
	clear(s.dirty)
	s.firstAt = time.Time{}
	s.seq++
	b.Seq = s.seq
	if s.syncedAt == 0 && s.allSyncedLocked() {
		s.syncedAt = s.seq
	}
	s.opts.Metrics.Services.Set(float64(len(s.served)))
	s.opts.Metrics.Endpoints.Set(float64(s.endpoints))
	s.opts.Metrics.HeldNow.Set(float64(len(s.held)))
	s.opts.Metrics.Flushes.Inc()
	s.opts.Metrics.FlushSize.Observe(float64(len(b.Upserted) + len(b.Deleted)))
	sort.Strings(b.Deleted)
	s.mu.Unlock()
	s.opts.Apply(b)
}

func (s *Store) allSyncedLocked() bool {
	for _, st := range s.sources {
		if !st.status.Synced {
			return false
		}
	}
	return true
}

// mergeLocked combines the service of this name across sources (sorted by source name; the first
// source that has an endpoint address:port keeps it). It returns nil if no source has the service.
func (s *Store) mergeLocked(name string) *model.Service {
	names := make([]string, 0, len(s.sources))
	for n := range s.sources {
		names = append(names, n)
	}
	sort.Strings(names)
	var only *model.Service
	count := 0
	for _, n := range names {
		if svc, ok := s.sources[n].services[name]; ok {
			count++
			c := svc
			only = &c
		}
	}
	if count <= 1 {
		// One source: share its (already normalized, never mutated) slices instead of copying them.
		return only
	}
	var out *model.Service
	seen := map[string]bool{}
	for _, n := range names {
		svc, ok := s.sources[n].services[name]
		if !ok {
			continue
		}
		if out == nil {
			c := svc
			c.Endpoints = nil
			out = &c
		}
		for _, ep := range svc.Endpoints {
			k := fmt.Sprintf("%s:%d", ep.Address, ep.Port)
			if !seen[k] {
				seen[k] = true
				out.Endpoints = append(out.Endpoints, ep)
			}
		}
	}
	if out != nil {
		sortEndpoints(out.Endpoints)
	}
	return out
}

// Ready reports whether every configured source finished its first full sync and that state was applied.
func (s *Store) Ready() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.syncedAt != 0
}

// Services returns the served services sorted by name (shared values: do not modify).
func (s *Store) Services() []*model.Service {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*model.Service, 0, len(s.served))
	for _, svc := range s.served {
		out = append(out, svc)
	}
	slices.SortFunc(out, func(a, b *model.Service) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Held returns the names of services currently held by zero-instance protection.
func (s *Store) Held() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.held))
	for n := range s.held {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// SourceStatuses returns one status per source, sorted by name.
func (s *Store) SourceStatuses() []SourceStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SourceStatus, 0, len(s.sources))
	for _, st := range s.sources {
		status := st.status
		status.Services = len(st.services)
		for _, svc := range st.services {
			status.Endpoints += len(svc.Endpoints)
		}
		out = append(out, status)
	}
	slices.SortFunc(out, func(a, b SourceStatus) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// normalize copies the service (sources may reuse their slices and maps) in a canonical order.
func normalize(svc model.Service) model.Service {
	svc.Interfaces = slices.Clone(svc.Interfaces)
	svc.Methods = slices.Clone(svc.Methods)
	svc.Endpoints = slices.Clone(svc.Endpoints)
	sort.Strings(svc.Interfaces)
	sort.Strings(svc.Methods)
	sortEndpoints(svc.Endpoints)
	return svc
}

func sortEndpoints(eps []model.Endpoint) {
	slices.SortFunc(eps, func(a, b model.Endpoint) int {
		if c := strings.Compare(a.Address, b.Address); c != 0 {
			return c
		}
		return int(a.Port) - int(b.Port)
	})
}
