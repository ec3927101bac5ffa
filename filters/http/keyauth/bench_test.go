package keyauth

import (
	"fmt"
	"testing"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
)

type nopCounters struct{}

func (nopCounters) Counter(string) api.CounterMetric { return nopMetric{} }
func (nopCounters) Gauge(string) api.GaugeMetric     { return nopMetric{} }

type nopMetric struct{}

func (nopMetric) Increment(int64) {}
func (nopMetric) Get() uint64     { return 0 }
func (nopMetric) Record(uint64)   {}

// BenchmarkLookup measures the key check of one request among 10,000 consumers (hit and miss).
func BenchmarkLookup(b *testing.B) {
	c := &Config{}
	for i := range 10_000 {
		c.Consumers = append(c.Consumers, &Consumer{Name: fmt.Sprint("c", i), Keys: []string{fmt.Sprintf("key-%016d", i)}})
	}
	cfg, err := newConfig(c, nopCounters{})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct{ name, key string }{{"hit", "key-0000000000004242"}, {"miss", "key-9999999999999999"}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if (cfg.lookup(tc.key) != nil) != (tc.name == "hit") {
						b.Fatal("wrong lookup result")
					}
				}
			})
		})
	}
}
