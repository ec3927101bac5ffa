package proxy

import (
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"
)

// benchCalls runs b.N sequential request/response pairs spread over parallel connections to addr
// and reports the p99 latency next to ns/op.
func benchCalls(b *testing.B, addr string) {
	var mu sync.Mutex
	var lat []time.Duration
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		cl := dial(b, addr)
		var mine []time.Duration
		id := int64(0)
		for pb.Next() {
			id++
			start := time.Now()
			cl.send(req{id: id})
			if got := cl.recv(); got.id != id {
				b.Errorf("response id %d for %d", got.id, id)
				return
			}
			mine = append(mine, time.Since(start))
		}
		cl.c.Close()
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-us")
	}
}

// Direct: consumer -> provider. Proxied: consumer -> proxy core (real TCP both sides) -> provider.
func BenchmarkDubboDirect(b *testing.B) {
	benchCalls(b, startDubbo(b, "s").addr)
}

func BenchmarkDubboProxied(b *testing.B) {
	srv := startDubbo(b, "s")
	p := newProxy(b, fmt.Sprintf(`{"protocols":["dubbo"],"routes":[{"service":"s"}],
	  "services":[{"name":"s","endpoints":[{"address":%q}]}]}`, srv.addr))
	benchCalls(b, serveProxy(b, p))
}
