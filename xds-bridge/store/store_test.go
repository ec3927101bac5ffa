package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/govoy/govoy/xds-bridge/admin/metrics"
	"github.com/govoy/govoy/xds-bridge/model"
)

type recorder struct {
	mu      sync.Mutex
	batches []Batch
	got     chan struct{}
}

func newRecorder() *recorder { return &recorder{got: make(chan struct{}, 100)} }

func (r *recorder) apply(b Batch) {
	r.mu.Lock()
	r.batches = append(r.batches, b)
	r.mu.Unlock()
	r.got <- struct{}{}
}

func (r *recorder) all() []Batch {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Batch(nil), r.batches...)
}

func svc(name string, ports ...uint32) model.Service {
	s := model.Service{Name: name, Protocol: model.ProtocolHTTP}
	for _, p := range ports {
		s.Endpoints = append(s.Endpoints, model.Endpoint{Address: "127.0.0.2", Port: p, Healthy: true})
	}
	return s
}

func newStore(t *testing.T, hold bool, release time.Duration) (*Store, *recorder, *metrics.Metrics) {
	t.Helper()
	r := newRecorder()
	m := metrics.New()
	s := New(Options{Sources: []string{"a", "b"}, HoldZero: hold, ReleaseAfter: release, Apply: r.apply, Metrics: m})
	return s, r, m
}

func TestReplaceDiffsAndMerges(t *testing.T) {
	s, r, m := newStore(t, true, 0)
	s.Replace("a", []model.Service{svc("x", 1, 2), svc("y", 3)})
	s.Flush()
	if s.Ready() {
		t.Fatal("ready before source b synced")
	}
	s.Replace("b", []model.Service{svc("x", 2, 4)})
	s.Flush()
	if !s.Ready() {
		t.Fatal("not ready after both sources synced")
	}
	bs := r.all()
	if len(bs) != 2 {
		t.Fatalf("batches = %d, want 2", len(bs))
	}
	if got := len(bs[0].Upserted); got != 2 {
		t.Fatalf("first batch upserted %d services, want 2", got)
	}
	x := bs[1].Upserted["x"]
	if x == nil || len(x.Endpoints) != 3 {
		t.Fatalf("merged x = %+v, want 3 endpoints (1,2,4)", x)
	}
	if _, ok := bs[1].Upserted["y"]; ok {
		t.Fatal("unchanged y was re-emitted")
	}
	// The same world again causes no work.
	s.Replace("a", []model.Service{svc("y", 3), svc("x", 2, 1)})
	s.Flush()
	if n := len(r.all()); n != 2 {
		t.Fatalf("identical Replace produced a batch (%d batches)", n)
	}
	if got := testutil.ToFloat64(m.Endpoints); got != 4 {
		t.Fatalf("endpoints gauge = %v, want 4", got)
	}
}

func TestZeroInstanceProtection(t *testing.T) {
	s, r, m := newStore(t, true, 0)
	s.Replace("a", []model.Service{svc("x", 1)})
	s.Replace("b", nil)
	s.Flush()
	// The registry suddenly reports nothing: held.
	s.Replace("a", nil)
	s.Flush()
	if got := s.Services(); len(got) != 1 || len(got[0].Endpoints) != 1 {
		t.Fatalf("served after drop = %+v, want x held with 1 endpoint", got)
	}
	if h := s.Held(); len(h) != 1 || h[0] != "x" {
		t.Fatalf("held = %v", h)
	}
	if got := testutil.ToFloat64(m.HeldUpdates.WithLabelValues("x")); got != 1 {
		t.Fatalf("held counter = %v, want 1", got)
	}
	for _, b := range r.all()[1:] {
		if len(b.Deleted) > 0 || len(b.Upserted) > 0 {
			t.Fatalf("held change leaked downstream: %+v", b)
		}
	}
	// Instances come back: released and applied.
	s.Upsert("a", svc("x", 7))
	s.Flush()
	if len(s.Held()) != 0 {
		t.Fatal("still held after instances returned")
	}
	last := r.all()[len(r.all())-1]
	if x := last.Upserted["x"]; x == nil || x.Endpoints[0].Port != 7 {
		t.Fatalf("last batch = %+v, want x on port 7", last)
	}
}

func TestProtectionOffAndRelease(t *testing.T) {
	s, r, _ := newStore(t, false, 0)
	s.Upsert("a", svc("x", 1))
	s.Flush()
	s.Delete("a", "x")
	s.Flush()
	if last := r.all()[len(r.all())-1]; len(last.Deleted) != 1 {
		t.Fatalf("protection off: delete not applied: %+v", last)
	}

	s2, r2, _ := newStore(t, true, 30*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s2.Run(ctx)
	s2.Upsert("a", svc("x", 1))
	<-r2.got
	s2.Delete("a", "x")
	deadline := time.After(10 * time.Second)
	for {
		select {
		case <-r2.got:
			if b := r2.all()[len(r2.all())-1]; len(b.Deleted) == 1 {
				return // released after release_after
			}
		case <-deadline:
			t.Fatal("held service never released")
		}
	}
}

func TestSourceErrorKeepsLastGood(t *testing.T) {
	s, _, m := newStore(t, true, 0)
	s.Replace("a", []model.Service{svc("x", 1)})
	s.Flush()
	s.Error("a", errors.New("session expired"))
	if got := s.Services(); len(got) != 1 {
		t.Fatalf("services after error = %d", len(got))
	}
	st := s.SourceStatuses()
	if st[0].Name != "a" || st[0].Errors != 1 || st[0].LastError != "session expired" {
		t.Fatalf("status = %+v", st[0])
	}
	if got := testutil.ToFloat64(m.SourceErrors.WithLabelValues("a")); got != 1 {
		t.Fatalf("source errors = %v", got)
	}
}

func TestDebounceBatches(t *testing.T) {
	r := newRecorder()
	s := New(Options{Debounce: 300 * time.Millisecond, MaxDelay: time.Minute, Apply: r.apply})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	for n := range 50 {
		s.Upsert("a", svc("x", uint32(1000+n)))
	}
	<-r.got
	bs := r.all()
	if len(bs) != 1 {
		t.Fatalf("%d batches for a burst of 50 changes, want 1", len(bs))
	}
	if x := bs[0].Upserted["x"]; x == nil || x.Endpoints[0].Port != 1049 {
		t.Fatalf("batch = %+v, want the last state (port 1049)", bs[0])
	}
}

func TestMaxDelayBoundsDebounce(t *testing.T) {
	r := newRecorder()
	// The quiet period never comes (changes every 20ms, debounce 10s): only max_delay can flush.
	s := New(Options{Debounce: 10 * time.Second, MaxDelay: 200 * time.Millisecond, Apply: r.apply})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	deadline := time.After(5 * time.Second)
	for n := 0; ; n++ {
		s.Upsert("a", svc("x", uint32(1000+n%50000)))
		select {
		case <-r.got:
			return
		case <-deadline:
			t.Fatal("no batch while changes kept coming: max_delay not enforced")
		case <-time.After(20 * time.Millisecond):
		}
	}
}
