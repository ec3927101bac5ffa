package cluster

import (
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/govoy/govoy/filters/cluster/clusterpb"
)

// names is every cluster a config can yield: Pick must never answer anything else.
func names(msg *clusterpb.ClusterSpecifier) map[string]bool {
	out := map[string]bool{"": true}
	for _, r := range msg.GetRules() {
		out[r.GetCluster()] = true
		for _, c := range r.GetWeighted().GetClusters() {
			out[c.GetName()] = true
		}
		if t := r.GetTemplate(); t != nil {
			open, end := strings.IndexByte(t.GetTemplate(), '{'), strings.IndexByte(t.GetTemplate(), '}')
			for _, v := range t.GetAllowedValues() {
				if open >= 0 && end > open {
					out[t.GetTemplate()[:open]+v+t.GetTemplate()[end+1:]] = true
				}
			}
		}
	}
	return out
}

// FuzzParseAndPick: any config either fails to parse or yields a specifier that, on any request,
// answers "" or one of the config's own clusters, without panicking.
func FuzzParseAndPick(f *testing.F) {
	f.Add(`{"rules":[{"template":{"template":"s-{x-tag}","allowed_values":["a","b"]}}]}`, "a", "uid=1; v=2", "/p?q=1")
	f.Add(`{"rules":[{"cookies":[{"name":"v","regex":"[0-9]+"}],"cluster":"c"}]}`, "", "v=\"2\"", "/")
	f.Add(`{"rules":[{"query_params":[{"name":"q","prefix":"%"}],"path_prefix":"/p","weighted":{"hash_key":{"query_param":"u"},"clusters":[{"name":"a","weight":1},{"name":"b","weight":3}]}}]}`, "x", "", "/p?u=%zz&q=%25")
	f.Fuzz(func(t *testing.T, cfg, tag, cookie, path string) {
		msg := &clusterpb.ClusterSpecifier{}
		if protojson.Unmarshal([]byte(cfg), msg) != nil {
			return
		}
		s, err := New(msg)
		if err != nil {
			return
		}
		allowed := names(msg)
		h := req("x-tag", tag, "cookie", cookie, ":path", path)
		if got := s.Pick(h); !allowed[got] {
			t.Fatalf("picked %q, not a cluster of the config", got)
		}
	})
}

// Workers share one Specifier; run under -race.
func TestPickConcurrent(t *testing.T) {
	s := parse(t, `{"rules":[{"template":{"template":"s-{x-tag}","allowed_values":["a","b"]}},
		{"weighted":{"hash_key":{"cookie":"uid"},"clusters":[{"name":"a","weight":1},{"name":"b","weight":1}]}}]}`)
	want := make([]string, 200)
	for i := range want {
		want[i] = s.Pick(req("cookie", "uid="+strings.Repeat("x", i)))
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range want {
				if got := s.Cluster(req("cookie", "uid="+strings.Repeat("x", i))); got != want[i] {
					t.Errorf("user %d: %q, want %q", i, got, want[i])
					return
				}
			}
		}()
	}
	wg.Wait()
}
