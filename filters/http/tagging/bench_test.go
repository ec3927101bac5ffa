package tagging_test

import (
	"fmt"
	"testing"

	"github.com/govoy/govoy/filters/mockhost"
)

// BenchmarkTagging runs requests through the chain (mock host included, see BenchmarkHost in
// filters/mockhost) with the README's rules: a header rule, a cookie rule and a percentage rule.
func BenchmarkTagging(b *testing.B) {
	host, cfg := setup(b, `{
	  "metadata_namespace": "govoy.tagging",
	  "hash_key": {"cookie": "uid"},
	  "rules": [
	    {"tag": "canary", "headers": [{"name": "x-employee", "present": true}]},
	    {"tag": "v2", "cookies": [{"name": "version", "exact": "v2"}]},
	    {"tag": "canary", "percentage": 5}
	  ]
	}`)
	reqs := make([]mockhost.Request, 64)
	for i := range reqs {
		reqs[i] = mockhost.Request{Headers: map[string][]string{"cookie": {fmt.Sprintf("a=1; uid=user-%d", i)}}}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if res := host.Run(cfg, reqs[i%len(reqs)], nil); res.Status != 200 {
			b.Fatalf("status %d", res.Status)
		}
		i++
	}
}
