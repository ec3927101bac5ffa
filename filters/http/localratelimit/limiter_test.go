package localratelimit

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable monotonic clock; tests move it instead of sleeping.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() int64              { return c.ns.Load() }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestBucketBurstRefillAndRetryAfter(t *testing.T) {
	clk := &fakeClock{}
	clk.advance(time.Hour) // an arbitrary start: buckets are full at creation whatever the clock says
	l := NewLimiter(3, time.Second, 10, clk.now)

	for i, wantRemaining := range []uint32{2, 1, 0} {
		d := l.Take("k")
		if !d.Allowed || d.Remaining != wantRemaining {
			t.Fatalf("take %d: %+v, want allowed with %d remaining", i, d, wantRemaining)
		}
		if want := time.Duration(i+1) * time.Second; d.ResetAfter != want {
			t.Fatalf("take %d: ResetAfter %v, want %v", i, d.ResetAfter, want)
		}
	}
	d := l.Take("k")
	if d.Allowed || d.RetryAfter != time.Second || d.ResetAfter != 3*time.Second {
		t.Fatalf("4th take: %+v, want refused, retry after 1s, reset after 3s", d)
	}

	clk.advance(400 * time.Millisecond)
	if d := l.Take("k"); d.Allowed || d.RetryAfter != 600*time.Millisecond {
		t.Fatalf("after 0.4s: %+v, want refused with 600ms to wait", d)
	}
	clk.advance(600 * time.Millisecond)
	if d := l.Take("k"); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("after 1s: %+v, want one token", d)
	}
	// A refused request does not consume: after another second exactly one more passes.
	clk.advance(time.Second)
	if d := l.Take("k"); !d.Allowed {
		t.Fatalf("after 2s: %+v, want allowed", d)
	}
	if d := l.Take("k"); d.Allowed {
		t.Fatalf("second take after 2s: %+v, want refused", d)
	}
	// Idle long enough, the bucket is full again but never above max_tokens.
	clk.advance(time.Minute)
	allowed := 0
	for range 10 {
		if l.Take("k").Allowed {
			allowed++
		}
	}
	if allowed != 3 {
		t.Fatalf("after a long idle: %d allowed, want the burst of 3", allowed)
	}
}

func TestBucketsAreIndependentPerKey(t *testing.T) {
	clk := &fakeClock{}
	l := NewLimiter(1, time.Second, 100, clk.now)
	for _, k := range []string{"a", "b", "", "c"} {
		if d := l.Take(k); !d.Allowed {
			t.Fatalf("first take of %q refused: %+v", k, d)
		}
	}
	for _, k := range []string{"a", "b", "", "c"} {
		if d := l.Take(k); d.Allowed {
			t.Fatalf("second take of %q allowed: %+v", k, d)
		}
	}
}

// Many goroutines on one key with a frozen clock: exactly max_tokens pass, never more.
func TestConcurrentTakesAreExact(t *testing.T) {
	clk := &fakeClock{}
	const burst = 500
	l := NewLimiter(burst, time.Hour, 10, clk.now)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				if l.Take("hot").Allowed {
					allowed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if got := allowed.Load(); got != burst {
		t.Fatalf("%d of 1600 concurrent takes allowed, want exactly %d", got, burst)
	}
}

func TestKeysAreBounded(t *testing.T) {
	clk := &fakeClock{}
	const maxKeys = 1000
	l := NewLimiter(5, time.Second, maxKeys, clk.now)
	for i := range 20 * maxKeys {
		l.Take(fmt.Sprintf("key-%d", i))
	}
	if n := l.Len(); n > maxKeys || n < maxKeys/2 {
		t.Fatalf("%d buckets kept after 20000 distinct keys, want at most %d (and most of them used)", n, maxKeys)
	}
	if l.Evicted() == 0 {
		t.Fatal("no eviction of non-full buckets counted, though every bucket was in use")
	}

}

// With one shard of 8 (the whole shard is the eviction sample), eviction is deterministic: full
// buckets go first, and only when none is full the bucket closest to full goes.
func TestEvictionPrefersFullBuckets(t *testing.T) {
	clk := &fakeClock{}
	l := NewLimiter(1, time.Second, 8, clk.now)
	for i := range 8 {
		l.Take(fmt.Sprint("k", i))
	}
	clk.advance(10 * time.Second) // every bucket is full again
	for i := range 4 {
		if !l.Take(fmt.Sprint("k", i)).Allowed {
			t.Fatalf("k%d refused after refill", i)
		}
	}
	l.Take("new")
	if l.Evicted() != 0 {
		t.Fatalf("%d in-use buckets evicted while full ones were there", l.Evicted())
	}
	if n := l.Len(); n != 5 {
		t.Fatalf("%d buckets kept, want the 4 in use + the new one", n)
	}
	for i := range 4 {
		if l.Take(fmt.Sprint("k", i)).Allowed {
			t.Fatalf("k%d lost its state: allowed again without refill", i)
		}
	}
}

func TestEvictionOfInUseBucketsPicksTheClosestToFull(t *testing.T) {
	clk := &fakeClock{}
	l := NewLimiter(2, time.Second, 8, clk.now)
	l.Take("k0") // one token left
	for i := 1; i < 8; i++ {
		l.Take(fmt.Sprint("k", i))
		l.Take(fmt.Sprint("k", i)) // empty
	}
	l.Take("new")
	if l.Evicted() != 1 || l.Len() != 8 {
		t.Fatalf("evicted %d, kept %d; want 1 evicted and 8 kept", l.Evicted(), l.Len())
	}
	// k0 was the victim: it starts again with a full bucket of 2.
	if !l.Take("k0").Allowed || !l.Take("k0").Allowed {
		t.Fatal("k0 was not the evicted bucket")
	}
	// k0's insertion evicted "new" (one token spent, the closest to full); k1..k7 are still empty.
	refused := 0
	for i := 1; i < 8; i++ {
		if !l.Take(fmt.Sprint("k", i)).Allowed {
			refused++
		}
	}
	if refused != 7 {
		t.Fatalf("%d of 7 empty buckets kept their state, want all", refused)
	}
}

func TestLongKeysAreHashed(t *testing.T) {
	clk := &fakeClock{}
	l := NewLimiter(1, time.Second, 10, clk.now)
	long := strings.Repeat("a", 10_000)
	if !l.Take(long).Allowed {
		t.Fatal("first take refused")
	}
	if l.Take(long).Allowed {
		t.Fatal("the same long key got a second bucket")
	}
	if !l.Take(long + "b").Allowed {
		t.Fatal("a different long key shares the bucket")
	}
	for i := range l.shards {
		for k := range l.shards[i].m {
			if len(k) > maxKeyLen {
				t.Fatalf("stored key of %d bytes, want at most %d", len(k), maxKeyLen)
			}
		}
	}
}

func TestCeilSeconds(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0", time.Nanosecond: "1", time.Second: "1", time.Second + time.Millisecond: "2", 59*time.Second + 1: "60",
	} {
		if got := ceilSeconds(d); got != want {
			t.Errorf("ceilSeconds(%v) = %s, want %s", d, got, want)
		}
	}
}
