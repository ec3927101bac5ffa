package integration

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	xds "github.com/cncf/xds/go/xds/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// Govoy's cluster specifier (filters/cluster) in the real govoy.so, driven by the ABI host like
// Envoy's golang cluster specifier. These tests leave GODEBUG's cgocheck on: Govoy's specifier never
// reaches the SDK's LogError (which needs cgocheck=0), it recovers and logs through Envoy's logger.

// clusterSpecifierAny is the `config` of envoy.extensions.router.cluster_specifier.golang.v3alpha.Config
// as a YAML user writes it: a TypedStruct naming govoy.cluster.v1.ClusterSpecifier.
func clusterSpecifierAny(t testing.TB, js string) []byte {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(js), &v); err != nil {
		t.Fatal(err)
	}
	s, err := structpb.NewStruct(v)
	if err != nil {
		t.Fatal(err)
	}
	a, err := anypb.New(&xds.TypedStruct{TypeUrl: "type.googleapis.com/govoy.cluster.v1.ClusterSpecifier", Value: s})
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// shop is three real upstreams: stable (the default cluster, "upstream"), shop-canary and shop-v2.
type shop struct {
	h                  *host
	stable, canary, v2 *sync.Map
	canaryAddr, v2Addr string
}

func startShop(t *testing.T, chainJSON, specifierJSON string) *shop {
	t.Helper()
	so := buildGovoy(t)
	stable, stableSeen := startUpstream(t)
	canary, canarySeen := startUpstream(t)
	v2, v2Seen := startUpstream(t)
	addr := func(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }
	h := startHost(t, so,
		"--config", writeFile(t, "chain.pb", chainAny(t, chainJSON)),
		"--upstream", addr(stable),
		"--cluster", "shop-canary="+addr(canary),
		"--cluster", "shop-v2="+addr(v2),
		"--cluster-specifier", writeFile(t, "cs.pb", clusterSpecifierAny(t, specifierJSON)))
	return &shop{h: h, stable: stableSeen, canary: canarySeen, v2: v2Seen}
}

// where sends one request and says which upstream got it ("" for none).
func (s *shop) where(t *testing.T, path string, hdr map[string]string) (int, string) {
	t.Helper()
	r := get(t, s.h, path, hdr)
	var at []string
	for name, m := range map[string]*sync.Map{"stable": s.stable, "shop-canary": s.canary, "shop-v2": s.v2} {
		if _, ok := m.Load(path); ok {
			at = append(at, name)
		}
	}
	if len(at) > 1 {
		t.Fatalf("%s reached %v", path, at)
	}
	if len(at) == 0 {
		return r.status, ""
	}
	return r.status, at[0]
}

const shopSpecifier = `{"rules":[
	{"name":"testers","headers":[{"name":"x-employee","present":true}],"cluster":"shop-canary"},
	{"name":"tagged","template":{"template":"shop-{x-govoy-tag}","allowed_values":["canary","v2"]}},
	{"name":"opt-in","cookies":[{"name":"version","exact":"v2"}],"cluster":"shop-v2"},
	{"name":"preview","query_params":[{"name":"preview","exact":"1"}],"cluster":"shop-canary"},
	{"name":"retired","path_prefix":"/old/","cluster":"shop-v1"},
	{"name":"split","path_prefix":"/split/","weighted":{"hash_key":{"cookie":"uid"},"hash_salt":"t",
		"clusters":[{"name":"shop-canary","weight":50},{"name":"shop-v2","weight":50}]}}
]}`

func TestGovoyClusterSpecifierRoutes(t *testing.T) {
	s := startShop(t, `{"plugins":[]}`, shopSpecifier)
	cases := []struct {
		path   string
		hdr    map[string]string
		status int
		want   string
	}{
		{"/plain", nil, 200, "stable"},
		{"/tester", map[string]string{"X-Employee": "1"}, 200, "shop-canary"},
		{"/tag-canary", map[string]string{"x-govoy-tag": "canary"}, 200, "shop-canary"},
		{"/tag-v2", map[string]string{"x-govoy-tag": "v2"}, 200, "shop-v2"},
		// Outside the allow-list: no cluster is built from it, the default cluster serves.
		{"/tag-evil", map[string]string{"x-govoy-tag": "v1"}, 200, "stable"},
		{"/cookie", map[string]string{"cookie": "sid=1; version=v2"}, 200, "shop-v2"},
		{"/cookie-other", map[string]string{"cookie": "version=v3"}, 200, "stable"},
		{"/q?preview=1", nil, 200, "shop-canary"},
		{"/q?preview=0", nil, 200, "stable"},
		// A rule naming a cluster Envoy does not have: the router answers 503 (cluster_not_found),
		// not default_cluster. That is why templates only build allow-listed names.
		{"/old/page", nil, 503, ""},
	}
	for _, c := range cases {
		status, at := s.where(t, c.path, c.hdr)
		if status != c.status || at != c.want {
			t.Errorf("%s %v: status %d at %q, want %d at %q", c.path, c.hdr, status, at, c.status, c.want)
		}
	}
	// The sticky split: each user keeps its cluster; both clusters get users.
	per := map[string]int{}
	for u := 0; u < 40; u++ {
		first := ""
		for i := 0; i < 3; i++ {
			status, at := s.where(t, fmt.Sprintf("/split/u%d/%d", u, i), map[string]string{"cookie": fmt.Sprintf("uid=user-%d", u)})
			if status != 200 || (first != "" && at != first) || at == "stable" {
				t.Fatalf("user %d request %d: status %d at %q (first %q)", u, i, status, at, first)
			}
			first = at
		}
		per[first]++
	}
	if per["shop-canary"] == 0 || per["shop-v2"] == 0 {
		t.Fatalf("40 users split %v", per)
	}
	// Header reads go through the SDK with cgocheck on: a panic there would be recovered and logged.
	if logs := s.h.logs(t); strings.Contains(logs, "panicked") {
		t.Fatalf("the specifier panicked:\n%s", tail(logs, 3000))
	}
	st := s.h.stats(t)
	if st.Counters["host.no_cluster"] != 1 || st.Counters["cluster_specifier.errors"] != 0 || st.Counters["golang.panic_error"] != 0 {
		t.Fatalf("counters %v", st.Counters)
	}
}

// traffic_tagging decides the tag in the govoy HTTP chain and clears the route cache; the route
// resolves again and the specifier maps the new tag to a cluster.
func TestGovoyClusterSpecifierAfterTagging(t *testing.T) {
	chain := `{"plugins":[{"name":"traffic_tagging","config":{
		"hash_key":{"cookie":"uid"},
		"rules":[
			{"tag":"canary","headers":[{"name":"x-beta-tester","present":true}]},
			{"tag":"v2","cookies":[{"name":"plan","exact":"pro"}]}
		]}}]}`
	s := startShop(t, chain, `{"rules":[{"template":{"template":"shop-{x-govoy-tag}","allowed_values":["canary","v2"]}}]}`)
	cases := []struct {
		path string
		hdr  map[string]string
		want string
	}{
		{"/t/none", nil, "stable"},
		{"/t/tester", map[string]string{"x-beta-tester": "1"}, "shop-canary"},
		{"/t/pro", map[string]string{"cookie": "plan=pro"}, "shop-v2"},
		// A client-sent tag picks shop-canary when the route first resolves; tagging removes it and
		// clears the route cache, and the second resolution picks the default cluster.
		{"/t/forged", map[string]string{"x-govoy-tag": "canary"}, "stable"},
		{"/t/forged-pro", map[string]string{"x-govoy-tag": "canary", "cookie": "plan=pro"}, "shop-v2"},
	}
	for _, c := range cases {
		status, at := s.where(t, c.path, c.hdr)
		if status != 200 || at != c.want {
			t.Errorf("%s %v: status %d at %q, want 200 at %q", c.path, c.hdr, status, at, c.want)
		}
	}
	// The upstream sees the tag traffic_tagging set, not the forged one.
	v, ok := s.v2.Load("/t/forged-pro")
	if !ok || v.(received).Header.Get("x-govoy-tag") != "v2" {
		t.Fatalf("shop-v2 saw %+v", v)
	}
}

func TestGovoyClusterSpecifierInvalidConfigUsesDefault(t *testing.T) {
	// An empty cluster name: Envoy's SDK cannot refuse the config, so Govoy logs the error (naming the
	// field) and every request goes to default_cluster; the process keeps serving.
	s := startShop(t, `{"plugins":[]}`, `{"rules":[{"headers":[{"name":"x-employee","present":true}],"cluster":""}]}`)
	for i := 0; i < 3; i++ {
		path := fmt.Sprintf("/bad/%d", i)
		if status, at := s.where(t, path, map[string]string{"x-employee": "1"}); status != 200 || at != "stable" {
			t.Fatalf("%s: status %d at %q", path, status, at)
		}
	}
	logs := s.h.logs(t)
	if !strings.Contains(logs, "invalid config: Envoy uses default_cluster for every request") || !strings.Contains(logs, "Rule.Cluster: value length must be at least 1") {
		t.Fatalf("the parse error is not in Envoy's log:\n%s", tail(logs, 3000))
	}
}

// TestGovoyClusterSpecifierInProcess runs the ABI host's --bench mode (no sockets) through govoy.so
// with an empty chain, without and with the cluster specifier (the shop rules; the request reads four
// headers and matches the template rule), and with traffic_tagging clearing the route cache (two
// resolutions). In CI a short run checks every request ends in 200 and nothing panicked; with
// GOVOY_CLUSTER_INPROC=1 it prints the per-request cost (GOVOY_ABI_INPROC_N requests, default 100000,
// one worker, 3 interleaved rounds).
func TestGovoyClusterSpecifierInProcess(t *testing.T) {
	so := buildGovoy(t)
	cs := writeFile(t, "cs.pb", clusterSpecifierAny(t, shopSpecifier))
	empty := writeFile(t, "chain0.pb", chainAny(t, `{"plugins":[]}`))
	tagging := writeFile(t, "chaintag.pb", chainAny(t, `{"plugins":[{"name":"traffic_tagging","config":{
		"rules":[{"tag":"v2","headers":[{"name":"x-plan","exact":"pro"}]}]}}]}`))
	specifier := []string{"--cluster-specifier", cs, "--cluster", "shop-canary=127.0.0.1:1", "--cluster", "shop-v2=127.0.0.1:1"}
	cases := []inprocCase{
		{"govoy-0-plugins", so, []string{"--config", empty, "--bench-header", "x-govoy-tag:v2"}},
		{"govoy-0-plugins+cluster-specifier", so, append([]string{"--config", empty, "--bench-header", "x-govoy-tag:v2"}, specifier...)},
		{"govoy-tagging", so, []string{"--config", tagging, "--bench-header", "x-plan:pro"}},
		{"govoy-tagging+cluster-specifier", so, append([]string{"--config", tagging, "--bench-header", "x-plan:pro"}, specifier...)},
	}
	n, rounds := 300, 1
	if os.Getenv("GOVOY_CLUSTER_INPROC") == "1" {
		n, rounds = envInt(t, "GOVOY_ABI_INPROC_N", 100000, 1000), 3
	}
	res := make([][]float64, len(cases))
	for r := 0; r < rounds; r++ {
		for i, c := range cases {
			l, out, err := runBench(t, c, "--bench", strconv.Itoa(n), "--bench-warmup", strconv.Itoa(n/10), "--concurrency", "1")
			if err != nil || l.failures != 0 || strings.Contains(out, "panicked") {
				t.Fatalf("%s: err %v failures %d:\n%s", c.name, err, l.failures, tail(out, 2000))
			}
			res[i] = append(res[i], l.processCPU)
		}
	}
	if rounds == 1 {
		return
	}
	table := "| case | process CPU ns/request (median of 3) | − without specifier |\n|---|---|---|\n"
	for i, c := range cases {
		base := median(res[i-i%2])
		table += fmt.Sprintf("| %s | %.0f | %+.0f |\n", c.name, median(res[i]), median(res[i])-base)
	}
	t.Logf("%d requests (+%d warm-up), 1 worker:\n%s", n, n/10, table)
}
