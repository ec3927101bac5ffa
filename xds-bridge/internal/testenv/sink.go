package testenv

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/govoy/govoy/xds-bridge/model"
)

// Call is one recorded sink call.
type Call struct {
	Kind     string // "upsert", "delete", "replace", "error"
	Source   string
	Name     string          // upsert, delete
	Services []model.Service // upsert (one), replace
	Err      error
}

// RecordingSink is a model.Sink test double of the store: it applies calls to a per-source state
// and keeps the call log so tests can assert both the resulting world and how it was reached.
type RecordingSink struct {
	mu      sync.Mutex
	changed chan struct{}
	calls   []Call
	state   map[string]model.Service // by service name, all sources
}

// NewRecordingSink returns an empty sink.
func NewRecordingSink() *RecordingSink {
	return &RecordingSink{changed: make(chan struct{}), state: map[string]model.Service{}}
}

func (r *RecordingSink) record(c Call, apply func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, c)
	apply()
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *RecordingSink) Upsert(source string, svc model.Service) {
	r.record(Call{Kind: "upsert", Source: source, Name: svc.Name, Services: []model.Service{svc}},
		func() { r.state[svc.Name] = svc })
}

func (r *RecordingSink) Delete(source, name string) {
	r.record(Call{Kind: "delete", Source: source, Name: name}, func() { delete(r.state, name) })
}

func (r *RecordingSink) Replace(source string, svcs []model.Service) {
	r.record(Call{Kind: "replace", Source: source, Services: svcs}, func() {
		r.state = map[string]model.Service{}
		for _, s := range svcs {
			r.state[s.Name] = s
		}
	})
}

func (r *RecordingSink) Error(source string, err error) {
	r.record(Call{Kind: "error", Source: source, Err: err}, func() {})
}

// State returns a copy of the current world.
func (r *RecordingSink) State() map[string]model.Service {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.state)
}

// Calls returns the call log.
func (r *RecordingSink) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// Count returns how many calls of a kind were made.
func (r *RecordingSink) Count(kind string) int {
	n := 0
	for _, c := range r.Calls() {
		if c.Kind == kind {
			n++
		}
	}
	return n
}

// WaitFor waits until cond holds on the state and the call log, failing the test after bound with
// what was seen. The bound only caps the wait; it asserts nothing about speed.
func (r *RecordingSink) WaitFor(t testing.TB, bound time.Duration, what string,
	cond func(state map[string]model.Service, calls []Call) bool) {
	t.Helper()
	deadline := time.NewTimer(bound)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ok := cond(r.state, r.calls)
		ch := r.changed
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("waiting for %s: not reached after %s; state: %s", what, bound, r.describe())
		}
	}
}

func (r *RecordingSink) describe() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := ""
	for _, name := range slices.Sorted(maps.Keys(r.state)) {
		s += fmt.Sprintf("\n  %s: %+v", name, r.state[name])
	}
	s += fmt.Sprintf("\n  calls: %d", len(r.calls))
	for i, c := range r.calls {
		if i >= len(r.calls)-10 {
			s += fmt.Sprintf("\n   %s %s %v", c.Kind, c.Name, c.Err)
		}
	}
	return s
}
