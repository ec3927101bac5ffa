package cluster

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
	"unsafe"

	xdstypev3 "github.com/cncf/xds/go/xds/type/v3"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/govoy/govoy/filters/cluster/clusterpb"
	"github.com/govoy/govoy/filters/log"
)

// hdr is a request header map as Envoy's SDK shows it: lower-case keys, first value only. It counts
// reads, as each one is a cgo call in Envoy.
type hdr struct {
	m     map[string]string
	reads int
}

func (h *hdr) Get(k string) (string, bool) {
	h.reads++
	v, ok := h.m[k]
	return v, ok
}

func (h *hdr) GetAllHeaders() map[string][]string {
	out := map[string][]string{}
	for k, v := range h.m {
		out[k] = []string{v}
	}
	return out
}

func req(kv ...string) *hdr {
	h := &hdr{m: map[string]string{":path": "/"}}
	for i := 0; i+1 < len(kv); i += 2 {
		h.m[kv[i]] = kv[i+1]
	}
	return h
}

// parse builds a specifier from the JSON form users write in YAML.
func parse(t testing.TB, js string) *Specifier {
	t.Helper()
	s, err := parseJSON(js)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func parseJSON(js string) (*Specifier, error) {
	msg := &clusterpb.ClusterSpecifier{}
	if err := protojson.Unmarshal([]byte(js), msg); err != nil {
		return nil, err
	}
	return New(msg)
}

func TestHeaderMatchers(t *testing.T) {
	cases := []struct {
		matcher string
		h       *hdr
		want    bool
	}{
		{`"exact":"v2"`, req("x-v", "v2"), true},
		{`"exact":"v2"`, req("x-v", "v22"), false},
		{`"exact":"v2"`, req(), false},
		{`"exact":""`, req("x-v", ""), true},
		{`"prefix":"v2"`, req("x-v", "v2-beta"), true},
		{`"prefix":"v2"`, req("x-v", "v1"), false},
		{`"suffix":"beta"`, req("x-v", "v2-beta"), true},
		{`"suffix":"beta"`, req("x-v", "beta-v2"), false},
		{`"contains":"-b"`, req("x-v", "v2-beta"), true},
		{`"contains":"-b"`, req("x-v", "v2"), false},
		{`"regex":"v[0-9]+"`, req("x-v", "v12"), true},
		{`"regex":"v[0-9]+"`, req("x-v", "xv12"), false}, // anchored: the whole value
		{`"regex":"v[0-9]+"`, req("x-v", "v12x"), false},
		{`"regex":"v[0-9]+"`, req(), false},
		{`"present":true`, req("x-v", ""), true},
		{`"present":true`, req(), false},
		{`"present":false`, req(), true},
		{`"present":false`, req("x-v", "1"), false},
		{`"exact":"v2","invert":true`, req("x-v", "v1"), true},
		{`"exact":"v2","invert":true`, req("x-v", "v2"), false},
		{`"exact":"v2","invert":true`, req(), true},
		{`"present":true,"invert":true`, req(), true},
	}
	for _, c := range cases {
		// Config names are case-insensitive: "X-V" reads Envoy's lower-case "x-v".
		s := parse(t, `{"rules":[{"headers":[{"name":"X-V",`+c.matcher+`}],"cluster":"hit"}]}`)
		if got := s.Pick(c.h) == "hit"; got != c.want {
			t.Errorf("%s on %v: match=%v, want %v", c.matcher, c.h.m, got, c.want)
		}
	}
}

func TestPseudoHeaderMatcher(t *testing.T) {
	s := parse(t, `{"rules":[{"headers":[{"name":":authority","suffix":".eu.example.com"}],"cluster":"eu"}]}`)
	if got := s.Pick(req(":authority", "shop.eu.example.com")); got != "eu" {
		t.Fatalf("got %q", got)
	}
	if got := s.Pick(req(":authority", "shop.us.example.com")); got != "" {
		t.Fatalf("got %q", got)
	}
}

func TestCookieMatcher(t *testing.T) {
	s := parse(t, `{"rules":[{"cookies":[{"name":"version","exact":"v2"}],"cluster":"v2"}]}`)
	cases := []struct {
		cookie string
		want   string
	}{
		{"version=v2", "v2"},
		{"a=1; version=v2; b=2", "v2"},
		{"a=1;version=v2", "v2"},
		{`version="v2"`, "v2"},
		{"version=v3", ""},
		{"xversion=v2", ""},
		{"version_x=v2", ""},
		{"a=version=v2", ""},
		{"version=v3; version=v2", ""}, // the first occurrence wins
		{"", ""},
	}
	for _, c := range cases {
		if got := s.Pick(req("cookie", c.cookie)); got != c.want {
			t.Errorf("cookie %q: got %q, want %q", c.cookie, got, c.want)
		}
	}
	if got := s.Pick(req()); got != "" {
		t.Errorf("no cookie header: got %q", got)
	}
}

func TestQueryParamMatcher(t *testing.T) {
	s := parse(t, `{"rules":[{"query_params":[{"name":"env","exact":"canary test"}],"cluster":"canary"}]}`)
	cases := []struct {
		path string
		want string
	}{
		{"/shop?env=canary%20test", "canary"},
		{"/shop?a=1&env=canary+test&b=2", "canary"},
		{"/shop?e%6Ev=canary%20test", "canary"}, // escaped name
		{"/shop?env=canary%20test#frag", "canary"},
		{"/shop?env=canary", ""},
		{"/shop?xenv=canary%20test", ""},
		{"/shop?env=stable&env=canary%20test", ""}, // the first occurrence wins
		{"/shop/env=canary%20test", ""},
		{"/shop", ""},
	}
	for _, c := range cases {
		if got := s.Pick(req(":path", c.path)); got != c.want {
			t.Errorf("path %q: got %q, want %q", c.path, got, c.want)
		}
	}
	p := parse(t, `{"rules":[{"query_params":[{"name":"debug","present":true}],"cluster":"debug"}]}`)
	if got := p.Pick(req(":path", "/x?debug")); got != "debug" {
		t.Errorf("valueless parameter: got %q", got)
	}
}

func TestPathPrefix(t *testing.T) {
	s := parse(t, `{"rules":[{"path_prefix":"/api/v2/","cluster":"api-v2"},{"cluster":"rest"}]}`)
	cases := map[string]string{
		"/api/v2/items":        "api-v2",
		"/api/v2/?q=1":         "api-v2",
		"/api/v1/items":        "rest",
		"/api/v2":              "rest",
		"/other?next=/api/v2/": "rest", // the query string is not the path
	}
	for path, want := range cases {
		if got := s.Pick(req(":path", path)); got != want {
			t.Errorf("%q: got %q, want %q", path, got, want)
		}
	}
}

func TestRulesInOrderAndConditionsAnded(t *testing.T) {
	s := parse(t, `{"rules":[
		{"name":"testers","headers":[{"name":"x-employee","present":true}],"cookies":[{"name":"beta","exact":"1"}],"cluster":"canary"},
		{"name":"v2","headers":[{"name":"x-version","exact":"v2"}],"cluster":"v2"},
		{"name":"v2-again","headers":[{"name":"x-version","exact":"v2"}],"cluster":"never"},
		{"name":"eu","path_prefix":"/eu/","cluster":"eu"}
	]}`)
	cases := []struct {
		h    *hdr
		want string
	}{
		{req("x-employee", "1", "cookie", "beta=1", "x-version", "v2"), "canary"},
		{req("x-employee", "1", "x-version", "v2"), "v2"}, // the cookie condition fails
		{req("x-version", "v2", ":path", "/eu/x"), "v2"},
		{req(":path", "/eu/x"), "eu"},
		{req(":path", "/us/x"), ""},
	}
	for _, c := range cases {
		if got := s.Pick(c.h); got != c.want {
			t.Errorf("%v: got %q, want %q", c.h.m, got, c.want)
		}
	}
}

func TestEachHeaderReadOnce(t *testing.T) {
	s := parse(t, `{"rules":[
		{"headers":[{"name":"x-a","exact":"1"}],"cluster":"a"},
		{"headers":[{"name":"x-a","exact":"2"}],"cookies":[{"name":"u","exact":"1"}],"cluster":"b"},
		{"headers":[{"name":"x-a","present":false}],"cookies":[{"name":"v","exact":"1"}],"cluster":"c"},
		{"query_params":[{"name":"q","exact":"1"}],"path_prefix":"/x","cluster":"d"}
	]}`)
	h := req("x-a", "3", "cookie", "u=1; v=1", ":path", "/x?q=2")
	if got := s.Pick(h); got != "" {
		t.Fatalf("got %q", got)
	}
	// x-a once; the cookie header is not reached (rule 2 and 3 fail on x-a first); :path once.
	if h.reads != 2 {
		t.Fatalf("%d header reads, want 2 (x-a, :path)", h.reads)
	}
}

func TestTemplateAllowList(t *testing.T) {
	s := parse(t, `{"rules":[
		{"template":{"template":"shop-{X-Govoy-Tag}","allowed_values":["canary","v2"]}},
		{"headers":[{"name":"x-govoy-tag","present":true}],"cluster":"shop-unknown-tag"}
	]}`)
	cases := []struct {
		h    *hdr
		want string
	}{
		{req("x-govoy-tag", "canary"), "shop-canary"},
		{req("x-govoy-tag", "v2"), "shop-v2"},
		{req("x-govoy-tag", "Canary"), "shop-unknown-tag"}, // exact, case-sensitive
		{req("x-govoy-tag", "../admin"), "shop-unknown-tag"},
		{req("x-govoy-tag", ""), "shop-unknown-tag"},
		{req(), ""},
	}
	for _, c := range cases {
		if got := s.Pick(c.h); got != c.want {
			t.Errorf("%v: got %q, want %q", c.h.m, got, c.want)
		}
	}
	mid := parse(t, `{"rules":[{"template":{"template":"{x-unit}.shop.svc","allowed_values":["u1"]}}]}`)
	if got := mid.Pick(req("x-unit", "u1")); got != "u1.shop.svc" {
		t.Errorf("placeholder at the start: got %q", got)
	}
}

func weighted(t testing.TB, canary, stable uint32, key, salt string) *Specifier {
	t.Helper()
	hk := ""
	if key != "" {
		hk = fmt.Sprintf(`,"hash_key":{"cookie":%q},"hash_salt":%q`, key, salt)
	}
	return parse(t, fmt.Sprintf(`{"rules":[{"weighted":{"clusters":[{"name":"canary","weight":%d},{"name":"stable","weight":%d}]%s}}]}`, canary, stable, hk))
}

// within checks a binomial count against n*p with a 5-sigma margin: a correct split fails this about
// once in 1.7 million runs; a wrong one (off by a few percent) fails every time.
func within(t *testing.T, what string, got, n int, p float64) {
	t.Helper()
	mean := float64(n) * p
	sigma := math.Sqrt(float64(n) * p * (1 - p))
	if math.Abs(float64(got)-mean) > 5*sigma {
		t.Errorf("%s: %d of %d, want %.0f ± %.0f", what, got, n, mean, 5*sigma)
	}
}

func TestWeightedHashedDistribution(t *testing.T) {
	const n = 10000
	for _, w := range []struct{ canary, stable uint32 }{{10, 90}, {1, 1}, {5, 95}, {1, 999}} {
		s := weighted(t, w.canary, w.stable, "uid", "spring")
		got := 0
		for i := 0; i < n; i++ {
			if s.Pick(req("cookie", fmt.Sprintf("uid=user-%d", i))) == "canary" {
				got++
			}
		}
		within(t, fmt.Sprintf("weights %d:%d", w.canary, w.stable), got, n, float64(w.canary)/float64(w.canary+w.stable))
	}
}

func TestWeightedThreeWay(t *testing.T) {
	const n = 10000
	s := parse(t, `{"rules":[{"weighted":{"hash_key":{"header":"x-user"},"clusters":[
		{"name":"a","weight":20},{"name":"off","weight":0},{"name":"b","weight":30},{"name":"c","weight":50}]}}]}`)
	count := map[string]int{}
	for i := 0; i < n; i++ {
		count[s.Pick(req("x-user", fmt.Sprint(i)))]++
	}
	if count["off"] != 0 {
		t.Errorf("weight 0 got %d requests", count["off"])
	}
	within(t, "a", count["a"], n, 0.2)
	within(t, "b", count["b"], n, 0.3)
	within(t, "c", count["c"], n, 0.5)
}

func TestWeightedStickiness(t *testing.T) {
	// Two separately parsed specifiers stand for two Envoys (or a restart): same user, same cluster.
	a, b := weighted(t, 10, 90, "uid", "spring"), weighted(t, 10, 90, "uid", "spring")
	other := weighted(t, 10, 90, "uid", "autumn")
	wider := weighted(t, 20, 80, "uid", "spring")
	moved := 0
	for i := 0; i < 10000; i++ {
		h := req("cookie", fmt.Sprintf("uid=user-%d", i))
		first := a.Pick(h)
		for j := 0; j < 3; j++ {
			if got := a.Pick(h); got != first {
				t.Fatalf("user %d: %q then %q", i, first, got)
			}
		}
		if got := b.Pick(h); got != first {
			t.Fatalf("user %d: %q on one specifier, %q on another", i, first, got)
		}
		// Growing the canary from 10% to 20% keeps every canary user on the canary.
		if first == "canary" && wider.Pick(h) != "canary" {
			t.Fatalf("user %d left the canary when its weight grew", i)
		}
		if other.Pick(h) != first {
			moved++
		}
	}
	// A new salt reshuffles: about 2*0.1*0.9 = 18% of users change cluster.
	within(t, "users moved by a new salt", moved, 10000, 0.18)
}

func TestWeightedRandom(t *testing.T) {
	const n = 10000
	s := weighted(t, 25, 75, "", "")
	got := 0
	for i := 0; i < n; i++ {
		if s.Pick(req()) == "canary" {
			got++
		}
	}
	within(t, "random split", got, n, 0.25)
	// A hashed split without the key in the request is random too.
	h := weighted(t, 25, 75, "uid", "")
	got = 0
	for i := 0; i < n; i++ {
		if h.Pick(req("cookie", "other=1")) == "canary" {
			got++
		}
	}
	within(t, "hashed split without the key", got, n, 0.25)
}

func TestWeightedQueryHashKey(t *testing.T) {
	s := parse(t, `{"rules":[{"weighted":{"hash_key":{"query_param":"user"},"clusters":[{"name":"a","weight":1},{"name":"b","weight":1}]}}]}`)
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		p := fmt.Sprintf("/x?user=%d", i)
		first := s.Pick(req(":path", p))
		if s.Pick(req(":path", p+"&other=1")) != first {
			t.Fatalf("%s: not sticky", p)
		}
		seen[first] = true
	}
	if !seen["a"] || !seen["b"] {
		t.Fatalf("100 users all on one side: %v", seen)
	}
}

func TestBadConfigs(t *testing.T) {
	cases := []struct {
		js   string
		want string // the field named in the error
	}{
		{`{}`, "ClusterSpecifier.Rules: value must contain between 1 and 256 items"},
		{`{"rules":[{"headers":[{"name":"x-a","exact":"1"}]}]}`, "Rules[0]: embedded message failed validation | caused by: invalid Rule.Action: value is required"},
		{`{"rules":[{"cluster":""}]}`, "Rule.Cluster: value length must be at least 1"},
		{`{"rules":[{"cluster":"a"},{"headers":[{"name":"x a","exact":"1"}],"cluster":"b"}]}`, `rules[1].headers[0].name: "x a" is not a valid header name`},
		{`{"rules":[{"headers":[{"name":"x-a"}],"cluster":"b"}]}`, "StringMatcher.Match: value is required"},
		{`{"rules":[{"cookies":[{"name":"a;b","exact":"1"}],"cluster":"b"}]}`, `rules[0].cookies[0].name: "a;b" is not a valid cookie name`},
		{`{"rules":[{"query_params":[{"name":"q","regex":"("}],"cluster":"b"}]}`, "rules[0].query_params[0].regex: error parsing regexp"},
		{`{"rules":[{"path_prefix":"api","cluster":"b"}]}`, "Rule.PathPrefix: value does not match regex pattern"},
		{`{"rules":[{"cluster":"a\nb"}]}`, "rules[0].cluster: the cluster name \"a\\nb\" holds NUL, CR or LF"},
		{`{"rules":[{"template":{"template":"shop-canary","allowed_values":["x"]}}]}`, `rules[0].template.template: "shop-canary" must hold exactly one {header-name} placeholder`},
		{`{"rules":[{"template":{"template":"{a}-{b}","allowed_values":["x"]}}]}`, "rules[0].template.template"},
		{`{"rules":[{"template":{"template":"s-{}","allowed_values":["x"]}}]}`, "rules[0].template.template placeholder: must not be empty"},
		{`{"rules":[{"template":{"template":"s-{x y}","allowed_values":["x"]}}]}`, `rules[0].template.template placeholder: "x y" is not a valid header name`},
		{`{"rules":[{"template":{"template":"s-{x}","allowed_values":[]}}]}`, "ClusterTemplate.AllowedValues: value must contain between 1 and 1024 items"},
		{`{"rules":[{"template":{"template":"s-{x}","allowed_values":["a","a"]}}]}`, "ClusterTemplate.AllowedValues[1]: repeated value must contain unique items"},
		{`{"rules":[{"template":{"template":"s-{x}","allowed_values":["a\r"]}}]}`, "rules[0].template.allowed_values[0]: the cluster name"},
		{`{"rules":[{"weighted":{"clusters":[]}}]}`, "WeightedClusters.Clusters: value must contain between 1 and 64 items"},
		{`{"rules":[{"weighted":{"clusters":[{"name":"a"},{"name":"b","weight":0}]}}]}`, "rules[0].weighted.clusters: the weights add up to 0"},
		{`{"rules":[{"weighted":{"clusters":[{"name":"a","weight":1},{"name":"a","weight":2}]}}]}`, `rules[0].weighted.clusters[1].name: cluster "a" is already listed at clusters[0]`},
		{`{"rules":[{"weighted":{"clusters":[{"name":"a","weight":2000000}]}}]}`, "WeightedCluster.Weight: value must be less than or equal to 1000000"},
		{`{"rules":[{"weighted":{"clusters":[{"name":"a","weight":1}],"hash_key":{}}}]}`, "HashKey.Source: value is required"},
		{`{"rules":[{"weighted":{"clusters":[{"name":"a","weight":1}],"hash_key":{"cookie":"a b"}}}]}`, `rules[0].weighted.hash_key.cookie: "a b" is not a valid cookie name`},
	}
	for _, c := range cases {
		_, err := parseJSON(c.js)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s:\n got  %v\n want %q", c.js, err, c.want)
		}
	}
}

func typedStruct(t testing.TB, typeURL, js string) *anypb.Any {
	t.Helper()
	v := &structpb.Struct{}
	if err := protojson.Unmarshal([]byte(js), v); err != nil {
		t.Fatal(err)
	}
	a, err := anypb.New(&xdstypev3.TypedStruct{TypeUrl: typeURL, Value: v})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestParseAny(t *testing.T) {
	packed, err := anypb.New(&clusterpb.ClusterSpecifier{Rules: []*clusterpb.Rule{{Action: &clusterpb.Rule_Cluster{Cluster: "c"}}}})
	if err != nil {
		t.Fatal(err)
	}
	good := []*anypb.Any{packed, typedStruct(t, "type.googleapis.com/govoy.cluster.v1.ClusterSpecifier", `{"rules":[{"cluster":"c"}]}`)}
	for _, a := range good {
		s, err := ParseAny(a)
		if err != nil {
			t.Fatalf("%s: %v", a.GetTypeUrl(), err)
		}
		if got := s.Pick(req()); got != "c" {
			t.Fatalf("%s: got %q", a.GetTypeUrl(), got)
		}
		if !IsConfig(a) {
			t.Fatalf("%s: IsConfig false", a.GetTypeUrl())
		}
	}
	other, _ := anypb.New(&structpb.Struct{})
	bad := []struct {
		a    *anypb.Any
		want string
	}{
		{nil, "config: missing"},
		{other, `config: type "type.googleapis.com/google.protobuf.Struct" is not govoy.cluster.v1.ClusterSpecifier`},
		{typedStruct(t, "type.googleapis.com/govoy.other.v1.X", `{}`), `TypedStruct.type_url is "type.googleapis.com/govoy.other.v1.X"`},
		{typedStruct(t, "type.googleapis.com/govoy.cluster.v1.ClusterSpecifier", `{"rulez":[]}`), `unknown field "rulez"`},
		{typedStruct(t, "type.googleapis.com/govoy.cluster.v1.ClusterSpecifier", `{"rules":[{"cluster":"c","weight":1}]}`), `unknown field "weight"`},
		{&anypb.Any{TypeUrl: "type.googleapis.com/govoy.cluster.v1.ClusterSpecifier", Value: []byte{0xff}}, "config: decode govoy.cluster.v1.ClusterSpecifier"},
	}
	for _, c := range bad {
		_, err := ParseAny(c.a)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v:\n got  %v\n want %q", c.a, err, c.want)
		}
		if c.a != nil && IsConfig(c.a) && !strings.Contains(c.want, "decode") && !strings.Contains(c.want, "unknown field") {
			t.Errorf("IsConfig(%s) = true", c.a.GetTypeUrl())
		}
	}
}

// observe captures this package's log lines for one test.
func observe(t *testing.T) *observer.ObservedLogs {
	core, logs := observer.New(zapcore.DebugLevel)
	log.SetCore(core)
	t.Cleanup(func() { log.SetCore(zapcore.NewNopCore()) })
	return logs
}

func TestFactoryInvalidConfigUsesDefault(t *testing.T) {
	logs := observe(t)
	sp := Factory(typedStruct(t, "type.googleapis.com/govoy.cluster.v1.ClusterSpecifier", `{"rules":[{"cluster":""}]}`))
	if sp == nil {
		t.Fatal("Factory returned nil (the SDK would panic on every request)")
	}
	if err := Err(sp); err == nil || !strings.Contains(err.Error(), "Rule.Cluster") {
		t.Fatalf("Err = %v", err)
	}
	if got := sp.Cluster(req("x", "y")); got != "" {
		t.Fatalf("invalid config picked %q", got)
	}
	errs := logs.FilterLevelExact(zapcore.ErrorLevel).FilterMessageSnippet("invalid config").All()
	if len(errs) == 0 || !strings.Contains(fmt.Sprint(errs[0].ContextMap()["error"]), "Rule.Cluster") {
		t.Fatalf("the parse error was not logged with the field: %v", logs.All())
	}
	if sp := Factory(nil); sp == nil || Err(sp) == nil {
		t.Fatal("nil config accepted")
	}
}

func TestLogLimiter(t *testing.T) {
	l := &limiter{every: time.Hour}
	if !l.allow() || l.allow() || l.allow() {
		t.Fatal("want one line per period")
	}
	l = &limiter{every: time.Nanosecond}
	l.allow()
	time.Sleep(time.Millisecond)
	if !l.allow() {
		t.Fatal("a new period must allow a line")
	}
}

func TestHeaderNamesInternedAndPinned(t *testing.T) {
	a := parse(t, `{"rules":[{"headers":[{"name":"X-Interned","present":true}],"cluster":"a"}]}`)
	b := parse(t, `{"rules":[{"template":{"template":"b-{x-interned}","allowed_values":["1"]}}]}`)
	ka, kb := a.rules[0].headers[0].key.header, b.rules[0].act.tmplKey.header
	if ka != "x-interned" || unsafe.StringData(ka) != unsafe.StringData(kb) {
		t.Fatalf("%q and %q do not share one pinned copy", ka, kb)
	}
	pinned.Lock()
	_, ok := pinned.names["x-interned"]
	pinned.Unlock()
	if !ok {
		t.Fatal("name not in the pinned set")
	}
}

func TestPinnedNamesBounded(t *testing.T) {
	pinned.Lock()
	saved := maxPinned
	maxPinned = len(pinned.names) + 1
	pinned.Unlock()
	t.Cleanup(func() { pinned.Lock(); maxPinned = saved; pinned.Unlock() })
	if _, err := parseJSON(`{"rules":[{"headers":[{"name":"x-bound-1","present":true}],"cluster":"a"}]}`); err != nil {
		t.Fatal(err)
	}
	_, err := parseJSON(`{"rules":[{"headers":[{"name":"x-bound-1","present":true},{"name":"x-bound-2","present":true}],"cluster":"a"}]}`)
	if err == nil || !strings.Contains(err.Error(), "rules[0].headers[1].name: more than") {
		t.Fatalf("got %v", err)
	}
}

func TestFactoryValidConfig(t *testing.T) {
	sp := Factory(typedStruct(t, "type.googleapis.com/govoy.cluster.v1.ClusterSpecifier",
		`{"rules":[{"headers":[{"name":"x-v","exact":"2"}],"cluster":"v2"}]}`))
	if Err(sp) != nil {
		t.Fatal(Err(sp))
	}
	if got := sp.Cluster(req("x-v", "2")); got != "v2" {
		t.Fatalf("got %q", got)
	}
}

type panicky struct{ hdr }

func (p *panicky) Get(string) (string, bool) { panic("boom") }

func TestClusterRecoversPanics(t *testing.T) {
	logs := observe(t)
	logLimit.last.Store(0)
	s := parse(t, `{"rules":[{"headers":[{"name":"x-v","exact":"2"}],"cluster":"v2"}]}`)
	before := Panics()
	if got := s.Cluster(&panicky{}); got != "" {
		t.Fatalf("got %q", got)
	}
	if Panics() != before+1 {
		t.Fatalf("panics %d, want %d", Panics(), before+1)
	}
	if len(logs.FilterMessageSnippet("panicked").All()) != 1 {
		t.Fatalf("the panic was not logged: %v", logs.All())
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	s := parse(t, `{"rules":[
		{"headers":[{"name":"x-employee","present":true}],"cluster":"canary"},
		{"cookies":[{"name":"version","regex":"v[0-9]+"}],"query_params":[{"name":"debug","present":false}],"path_prefix":"/shop","cluster":"versioned"},
		{"template":{"template":"shop-{x-govoy-tag}","allowed_values":["canary","v2"]}},
		{"weighted":{"hash_key":{"cookie":"uid"},"hash_salt":"s","clusters":[{"name":"a","weight":1},{"name":"b","weight":9}]}}
	]}`)
	hs := []*hdr{
		req("x-employee", "1"),
		req("cookie", "a=1; version=v3", ":path", "/shop/cart?x=1"),
		req("x-govoy-tag", "v2"),
		req("cookie", "uid=42", ":path", "/x?y=2"),
		req(), // weighted, random
	}
	for i, h := range hs {
		if n := testing.AllocsPerRun(200, func() { s.Pick(h) }); n != 0 {
			t.Errorf("request %d: %.1f allocations per Pick", i, n)
		}
		if n := testing.AllocsPerRun(200, func() { s.Cluster(h) }); n != 0 {
			t.Errorf("request %d: %.1f allocations per Cluster", i, n)
		}
	}
}
