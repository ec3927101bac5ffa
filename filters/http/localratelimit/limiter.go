package localratelimit

import (
	"crypto/sha256"
	"encoding/hex"
	"hash/maphash"
	"math/bits"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Clock returns monotonic nanoseconds. Tests inject a fake one; refill needs no sleeps.
type Clock func() int64

// monotonicClock counts from process start on the monotonic clock, so wall-clock jumps do not refill
// or drain buckets.
func monotonicClock() Clock {
	start := time.Now()
	return func() int64 { return int64(time.Since(start)) }
}

// Decision is the outcome of one Take.
type Decision struct {
	Allowed bool
	// Remaining is how many more requests the bucket allows right now.
	Remaining uint32
	// RetryAfter is how long until one token is available (0 when Allowed).
	RetryAfter time.Duration
	// ResetAfter is how long until the bucket is full again.
	ResetAfter time.Duration
}

// bucket is a token bucket kept as GCRA's "theoretical arrival time" (tat): the bucket is full when
// tat <= now and each request moves tat by one emission interval. One int64 updated by CAS makes the
// bucket lock-free and exact under concurrency, and a bucket whose tat has passed equals a fresh
// one, which makes eviction of idle buckets free of any effect.
type bucket struct {
	tat atomic.Int64
}

// maxKeyLen bounds the bytes a key keeps in memory; longer keys are replaced by their SHA-256.
const maxKeyLen = 128

// Limiter is a set of token buckets with identical parameters, one per key, shared by all callers
// (all Envoy workers) and bounded to maxKeys buckets.
type Limiter struct {
	interval  int64 // nanoseconds per token
	burstSpan int64 // maxTokens * interval: how far tat may run ahead of now
	maxTokens uint32
	now       Clock
	seed      maphash.Seed
	shards    []shard
	mask      uint64
	shardCap  int
	evicted   atomic.Uint64
	// shared is the bucket of requests without a key (and of GLOBAL configs), outside the map.
	shared bucket
	// onEvict, when set, is called for every bucket dropped while not full (a metric).
	onEvict func()
}

type shard struct {
	mu sync.RWMutex
	m  map[string]*bucket
	_  [40]byte // keeps hot shards on separate cache lines
}

// NewLimiter makes a limiter whose buckets hold maxTokens and refill one token per interval.
// maxKeys bounds the number of buckets. now may be nil for the process monotonic clock.
func NewLimiter(maxTokens uint32, interval time.Duration, maxKeys int, now Clock) *Limiter {
	if now == nil {
		now = monotonicClock()
	}
	if maxKeys < 1 {
		maxKeys = 1
	}
	// Enough shards to spread contention, few enough that each shard holds a useful number of keys.
	n := 1
	if maxKeys >= 128 {
		n = 1 << (bits.Len(uint(maxKeys/64)) - 1)
		n = min(n, 64)
	}
	l := &Limiter{
		interval:  int64(interval),
		burstSpan: int64(maxTokens) * int64(interval),
		maxTokens: maxTokens,
		now:       now,
		seed:      maphash.MakeSeed(),
		shards:    make([]shard, n),
		mask:      uint64(n - 1),
		shardCap:  maxKeys / n,
	}
	for i := range l.shards {
		l.shards[i].m = make(map[string]*bucket)
	}
	return l
}

// Evicted reports how many buckets were dropped to respect maxKeys while still not full.
func (l *Limiter) Evicted() uint64 { return l.evicted.Load() }

// Len reports how many buckets are kept.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

// Take spends one token of key's bucket if it has one.
func (l *Limiter) Take(key string) Decision {
	if len(key) > maxKeyLen {
		sum := sha256.Sum256([]byte(key))
		key = "sha256:" + hex.EncodeToString(sum[:])
	}
	return l.take(l.bucketFor(key))
}

// TakeShared spends one token of the one bucket that is not keyed (requests without a key).
func (l *Limiter) TakeShared() Decision { return l.take(&l.shared) }

func (l *Limiter) take(b *bucket) Decision {
	for {
		tat := b.tat.Load()
		now := l.now()
		next := max(tat, now) + l.interval
		ahead := next - now
		if ahead > l.burstSpan {
			wait := ahead - l.burstSpan
			return Decision{RetryAfter: time.Duration(wait), ResetAfter: time.Duration(tat - now)}
		}
		if b.tat.CompareAndSwap(tat, next) {
			return Decision{
				Allowed:    true,
				Remaining:  uint32((l.burstSpan - ahead) / l.interval),
				ResetAfter: time.Duration(ahead),
			}
		}
	}
}

func (l *Limiter) bucketFor(key string) *bucket {
	s := &l.shards[maphash.String(l.seed, key)&l.mask]
	s.mu.RLock()
	b := s.m[key]
	s.mu.RUnlock()
	if b != nil {
		return b
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if b = s.m[key]; b != nil {
		return b
	}
	if len(s.m) >= l.shardCap {
		l.evictLocked(s)
	}
	b = &bucket{}
	// Header values may alias memory owned by the caller; the map keeps its own copy.
	s.m[strings.Clone(key)] = b
	return b
}

// evictSample is how many buckets an eviction looks at (Go randomises map iteration order).
const evictSample = 8

// evictLocked frees room in a full shard: every full bucket of a random sample goes (dropping those
// changes nothing); if none was full, the sampled bucket closest to full goes (the least lenient
// choice, as its key gets a fresh bucket).
func (l *Limiter) evictLocked(s *shard) {
	now := l.now()
	var (
		victim     string
		haveVictim bool
		minTat     int64
		seen       int
		dropped    int
	)
	for k, b := range s.m {
		tat := b.tat.Load()
		if tat <= now {
			delete(s.m, k)
			dropped++
		} else if !haveVictim || tat < minTat {
			victim, minTat, haveVictim = k, tat, true
		}
		if seen++; seen >= evictSample {
			break
		}
	}
	if dropped == 0 && haveVictim {
		delete(s.m, victim)
		l.evicted.Add(1)
		if l.onEvict != nil {
			l.onEvict()
		}
	}
}
