package localratelimit

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// The limiter hot path with the real monotonic clock. The bucket is large enough that every take
// succeeds (the CAS path, the costlier one).
func newBenchLimiter(maxKeys int) *Limiter {
	return NewLimiter(1_000_000_000, time.Nanosecond, maxKeys, nil)
}

func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "10.0." + strconv.Itoa(i/256%256) + "." + strconv.Itoa(i%256) + "-" + strconv.Itoa(i)
	}
	return keys
}

func BenchmarkTakeSingleKey(b *testing.B) {
	l := newBenchLimiter(1)
	b.ReportAllocs()
	for b.Loop() {
		l.Take("k")
	}
}

func BenchmarkTakeSingleKeyParallel(b *testing.B) {
	l := newBenchLimiter(1)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Take("k")
		}
	})
}

// 10,000 live keys, all within max_keys: lookups spread over the shards.
func BenchmarkTakeManyKeysParallel(b *testing.B) {
	keys := benchKeys(10_000)
	l := newBenchLimiter(100_000)
	for _, k := range keys {
		l.Take(k)
	}
	var seq atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seq.Add(7919))
		for pb.Next() {
			l.Take(keys[i%len(keys)])
			i++
		}
	})
}

// A flood of distinct keys, 10x max_keys: every take inserts and evicts.
func BenchmarkTakeKeyChurnParallel(b *testing.B) {
	keys := benchKeys(100_000)
	l := newBenchLimiter(10_000)
	var seq atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seq.Add(104729))
		for pb.Next() {
			l.Take(keys[i%len(keys)])
			i++
		}
	})
	if n := l.Len(); n > 10_000 {
		b.Fatalf("%d buckets, want at most 10000", n)
	}
}
