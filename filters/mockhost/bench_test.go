package mockhost_test

import (
	"testing"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"github.com/govoy/govoy/filters/mockhost"
)

// BenchmarkHost measures the mock host's own cost per request, so plugin benchmarks run through it
// can be read net of it.
func BenchmarkHost(b *testing.B) {
	sync := newHost(func(f *funcFilter) {})
	async := newHost(func(f *funcFilter) {
		f.decodeHeaders = func(f *funcFilter, h api.RequestHeaderMap, end bool) api.StatusType {
			go f.cb.DecoderFilterCallbacks().Continue(api.Continue)
			return api.Running
		}
	})
	req := mockhost.Request{Headers: map[string][]string{"x-a": {"1"}}}
	for _, c := range []struct {
		name string
		h    *mockhost.Host
	}{{"sync", sync}, {"async", async}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if res := c.h.Run(nil, req, nil); res.Status != 200 {
					b.Fatalf("status %d", res.Status)
				}
			}
		})
	}
}
