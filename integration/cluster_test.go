package integration

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"
)

func TestClusterSpecifierPicksTheUpstream(t *testing.T) {
	needBuild(t)
	// "designed to be run with GODEBUG=cgocheck=0" (Envoy's cluster specifier docs): its
	// LogError passes a pointer to a Go string to C.
	t.Setenv("GODEBUG", "cgocheck=0")
	base, baseSeen := startUpstream(t)
	canary, canarySeen := startUpstream(t)
	a, _ := anypb.New(&emptypb.Empty{})
	b, _ := proto.Marshal(a)
	cfg := writeFile(t, "cfg.pb", typedStructAny(t, "base"))
	h := startHost(t, testSO, "--plugin-name", "abitest", "--config", cfg,
		"--upstream", strings.TrimPrefix(base.URL, "http://"),
		"--cluster", "canary="+strings.TrimPrefix(canary.URL, "http://"),
		"--cluster", "canaryGET="+strings.TrimPrefix(canary.URL, "http://"),
		"--cluster-specifier", writeFile(t, "cs.pb", b))
	cases := []struct {
		path   string
		hdr    map[string]string
		status int
		canary bool
	}{
		{"/cs/default", nil, 200, false},
		{"/cs/canary", map[string]string{"x-cluster": "canary"}, 200, true},
		{"/cs/all", map[string]string{"x-cluster-all": "canary"}, 200, true}, // GetAllHeaders
		{"/cs/unknown", map[string]string{"x-cluster": "nosuch"}, 503, false},
		{"/cs/panic", map[string]string{"x-cluster-panic": "1", "x-cluster": "canary"}, 200, false},
		{"/cs/reroute", map[string]string{"x-mode": "reroute"}, 200, true},
		{"/cs/reroute-async", map[string]string{"x-mode": "reroute-async"}, 200, true},
	}
	for _, c := range cases {
		r := get(t, h, c.path, c.hdr)
		if r.status != c.status {
			t.Fatalf("%s: status %d, want %d (%.200q)", c.path, r.status, c.status, r.body)
		}
		_, inBase := baseSeen.Load(c.path)
		_, inCanary := canarySeen.Load(c.path)
		if c.status == 200 && (inCanary != c.canary || inBase == c.canary) {
			t.Fatalf("%s: base=%v canary=%v, want canary=%v", c.path, inBase, inCanary, c.canary)
		}
	}
	s := h.stats(t)
	if s.Counters["host.no_cluster"] != 1 || s.Counters["cluster_specifier.errors"] != 1 {
		t.Fatalf("counters %v", s.Counters)
	}
	if !strings.Contains(h.logs(t), "golang cluster specifier plugin panic: abitest cluster specifier panic") {
		t.Fatal("the specifier's panic was not logged through envoyGoClusterSpecifierLogError")
	}
}
