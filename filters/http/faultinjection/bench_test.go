package faultinjection_test

import (
	"testing"

	"github.com/govoy/govoy/filters/http/faultinjection/faultpb"
	"github.com/govoy/govoy/filters/mockhost"
)

// BenchmarkFaultInjection runs requests through the chain (mock host included, see BenchmarkHost in
// filters/mockhost): "nomatch" is an abort-only config whose header rule does not match (sync, nothing
// injected), "abort" injects a 503 on every request (sync), "delaycfg" has a header-driven delay that
// no request asks for, so it pays the chain's goroutine hop without waiting.
func BenchmarkFaultInjection(b *testing.B) {
	for _, c := range []struct {
		name   string
		cfg    *faultpb.FaultInjection
		status int
	}{
		{"nomatch", &faultpb.FaultInjection{Abort: abortCfg(503, 100), Headers: []*faultpb.HeaderMatcher{{Name: "x-chaos", Match: &faultpb.HeaderMatcher_Present{Present: true}}}}, 200},
		{"abort", &faultpb.FaultInjection{Abort: abortCfg(503, 100)}, 503},
		{"delaycfg", &faultpb.FaultInjection{Delay: &faultpb.Delay{DelayType: &faultpb.Delay_HeaderDelay{HeaderDelay: &faultpb.HeaderDelay{}}, Percentage: pct(100)}}, 200},
	} {
		host, cfg := setup(b, fault(c.cfg))
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if res := host.Run(cfg, mockhost.Request{}, nil); res.Status != c.status {
					b.Fatalf("status %d", res.Status)
				}
			}
		})
	}
}
