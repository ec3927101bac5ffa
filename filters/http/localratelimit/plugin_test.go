package localratelimit_test

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/govoy/govoy/filters/http/consumers/consumertest"
	"github.com/govoy/govoy/filters/http/keyauth"
	"github.com/govoy/govoy/filters/http/localratelimit"
	"github.com/govoy/govoy/filters/mockhost"
	"github.com/govoy/govoy/filters/plugin"
)

// clock is the bucket clock of every config parsed in these tests. Tests here are not parallel:
// they move this one clock.
var clock = &testClock{}

type testClock struct{ ns atomic.Int64 }

func (c *testClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestMain(m *testing.M) {
	restore := localratelimit.SetClockForTest(func() int64 { return clock.ns.Load() })
	code := m.Run()
	restore()
	os.Exit(code)
}

// setup parses a chain given in the JSON form users write in a bootstrap's TypedStruct.
func setup(t *testing.T, chainJSON string) (*mockhost.Host, any) {
	t.Helper()
	host := mockhost.New(plugin.FilterFactory, plugin.ConfigParser)
	a, err := plugin.ChainTypedStruct(chainJSON)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := host.ParseFilterConfig(a)
	if err != nil {
		t.Fatalf("parse %s: %v", chainJSON, err)
	}
	return host, cfg
}

func rl(config string) string {
	return `{"plugins":[{"name":"local_ratelimit","config":` + config + `}]}`
}

func TestGlobalBucket429WithRetryAfter(t *testing.T) {
	host, cfg := setup(t, rl(`{"token_bucket":{"max_tokens":2,"fill_interval":"2s"}}`))
	for i := range 2 {
		res := host.Do(t, cfg, mockhost.Request{Path: "/a"}, nil)
		if res.Status != 200 || res.Upstream == nil {
			t.Fatalf("request %d: status %d, want 200 from upstream", i, res.Status)
		}
		if res.Headers.Get("x-ratelimit-limit") != "" {
			t.Fatal("x-ratelimit headers sent although not enabled")
		}
	}
	res := host.Do(t, cfg, mockhost.Request{Path: "/b"}, nil)
	if res.Status != 429 || res.Upstream != nil {
		t.Fatalf("3rd request: status %d (upstream reached: %v), want 429 without upstream", res.Status, res.Upstream != nil)
	}
	if got := res.Headers.Get("retry-after"); got != "2" {
		t.Fatalf("retry-after %q, want 2 (one token per 2s)", got)
	}
	if res.ResponseCodeDetails != "govoy.local_ratelimit.rate_limited" {
		t.Fatalf("details %q", res.ResponseCodeDetails)
	}
	clock.advance(1500 * time.Millisecond)
	if res := host.Do(t, cfg, mockhost.Request{}, nil); res.Status != 429 || res.Headers.Get("retry-after") != "1" {
		t.Fatalf("after 1.5s: status %d retry-after %q, want 429 and 1 (0.5s rounded up)", res.Status, res.Headers.Get("retry-after"))
	}
	clock.advance(500 * time.Millisecond)
	if res := host.Do(t, cfg, mockhost.Request{}, nil); res.Status != 200 {
		t.Fatalf("after refill: status %d, want 200", res.Status)
	}
	if ok, limited := host.Counter("local_ratelimit.ok"), host.Counter("local_ratelimit.rate_limited"); ok != 3 || limited != 2 {
		t.Fatalf("counters ok=%d rate_limited=%d, want 3 and 2", ok, limited)
	}
}

// Requests from every worker draw from the same buckets: the limit holds for the process, exactly.
func TestWorkersShareOneExactLimit(t *testing.T) {
	host, cfg := setup(t, rl(`{"token_bucket":{"max_tokens":100,"fill_interval":"60s"}}`))
	var ok, limited atomic.Int64
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				switch res := host.Do(t, cfg, mockhost.Request{WorkerID: uint32(w)}, nil); res.Status {
				case 200:
					ok.Add(1)
				case 429:
					limited.Add(1)
				default:
					t.Errorf("status %d", res.Status)
				}
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 100 || limited.Load() != 300 {
		t.Fatalf("%d passed and %d limited of 400 requests from 8 workers, want 100 and 300", ok.Load(), limited.Load())
	}
	clock.advance(time.Hour)
}

func TestXRateLimitHeaders(t *testing.T) {
	host, cfg := setup(t, rl(`{"token_bucket":{"max_tokens":3,"tokens_per_fill":3,"fill_interval":"3s"},"enable_x_ratelimit_headers":true}`))
	for i, want := range []string{"2", "1", "0"} {
		res := host.Do(t, cfg, mockhost.Request{}, nil)
		if res.Status != 200 {
			t.Fatalf("request %d: %d", i, res.Status)
		}
		if res.Headers.Get("x-ratelimit-limit") != "3" || res.Headers.Get("x-ratelimit-remaining") != want ||
			res.Headers.Get("x-ratelimit-reset") != fmt.Sprint(i+1) {
			t.Fatalf("request %d: headers %v, want limit 3, remaining %s, reset %d", i, res.Headers, want, i+1)
		}
	}
	res := host.Do(t, cfg, mockhost.Request{}, nil)
	if res.Status != 429 || res.Headers.Get("x-ratelimit-remaining") != "0" || res.Headers.Get("retry-after") != "1" ||
		res.Headers.Get("x-ratelimit-reset") != "3" {
		t.Fatalf("refused request: %d %v", res.Status, res.Headers)
	}
	clock.advance(time.Minute)
}

func TestHeaderKeyAndMissingKey(t *testing.T) {
	host, cfg := setup(t, rl(`{"token_bucket":{"max_tokens":1,"fill_interval":"60s"},"key":"HEADER","header_name":"x-user"}`))
	do := func(user string) int {
		req := mockhost.Request{}
		if user != "" {
			req.Headers = map[string][]string{"X-User": {user}}
		}
		return host.Do(t, cfg, req, nil).Status
	}
	if do("alice") != 200 || do("bob") != 200 {
		t.Fatal("first request of each user refused")
	}
	if do("alice") != 429 || do("bob") != 429 {
		t.Fatal("second request of a user allowed")
	}
	// Requests without the header share one bucket, apart from every user's.
	if do("") != 200 || do("") != 429 {
		t.Fatal("requests without the header do not share one bucket")
	}

	host, cfg = setup(t, rl(`{"token_bucket":{"max_tokens":1,"fill_interval":"60s"},"key":"HEADER","header_name":"x-user","on_missing_key":"SKIP"}`))
	for i := range 5 {
		if res := host.Do(t, cfg, mockhost.Request{}, nil); res.Status != 200 {
			t.Fatalf("unkeyed request %d limited with on_missing_key SKIP", i)
		}
	}
	if host.Counter("local_ratelimit.skipped") != 5 {
		t.Fatalf("skipped counter %d, want 5", host.Counter("local_ratelimit.skipped"))
	}
	clock.advance(time.Hour)
}

// A flood of distinct keys keeps at most max_keys buckets; dropping buckets still in use is counted.
func TestMaxKeysBoundsBuckets(t *testing.T) {
	host, cfg := setup(t, rl(`{"token_bucket":{"max_tokens":1,"fill_interval":"60s"},"key":"HEADER","header_name":"x-user","max_keys":8}`))
	for i := range 20 {
		res := host.Do(t, cfg, mockhost.Request{Headers: map[string][]string{"x-user": {fmt.Sprint("user-", i)}}}, nil)
		if res.Status != 200 {
			t.Fatalf("user %d: %d", i, res.Status)
		}
	}
	if got := host.Counter("local_ratelimit.evicted"); got != 12 {
		t.Fatalf("evicted %d, want 12 (20 keys, 8 buckets, none refilled)", got)
	}
	// Once refilled, old buckets are dropped without counting.
	clock.advance(time.Hour)
	for i := range 8 {
		host.Do(t, cfg, mockhost.Request{Headers: map[string][]string{"x-user": {fmt.Sprint("late-", i)}}}, nil)
	}
	if got := host.Counter("local_ratelimit.evicted"); got != 12 {
		t.Fatalf("evicted %d after refill, want still 12", got)
	}
	clock.advance(time.Hour)
}

func TestClientIPAndRouteKeys(t *testing.T) {
	host, cfg := setup(t, rl(`{"token_bucket":{"max_tokens":1,"fill_interval":"60s"},"key":"CLIENT_IP"}`))
	from := func(addr string) int { return host.Do(t, cfg, mockhost.Request{RemoteAddr: addr}, nil).Status }
	if from("127.0.0.5:1000") != 200 || from("127.0.0.6:1000") != 200 {
		t.Fatal("first request per IP refused")
	}
	if from("127.0.0.5:2000") != 429 {
		t.Fatal("same IP from another port got a new bucket")
	}

	host, cfg = setup(t, rl(`{"token_bucket":{"max_tokens":1,"fill_interval":"60s"},"key":"ROUTE"}`))
	on := func(route string) int { return host.Do(t, cfg, mockhost.Request{RouteName: route}, nil).Status }
	if on("r1") != 200 || on("r2") != 200 || on("r1") != 429 || on("r2") != 429 {
		t.Fatal("routes do not get one bucket each")
	}
	clock.advance(time.Hour)
}

// key_auth (an earlier band) sets the consumer; local_ratelimit keys its buckets by it.
func TestConsumerKeyAfterKeyAuth(t *testing.T) {
	host, cfg := setup(t, `{"plugins":[
		{"name":"local_ratelimit","config":{"token_bucket":{"max_tokens":2,"fill_interval":"60s"},"key":"CONSUMER"}},
		{"name":"key_auth","config":{"consumers":[
			{"name":"alice","keys":["alice-key-0123456789"]},
			{"name":"bob","keys":["bob-key-0123456789ab"]}]}}]}`)
	with := func(key string) int {
		return host.Do(t, cfg, mockhost.Request{Headers: map[string][]string{"x-api-key": {key}}}, nil).Status
	}
	for range 2 {
		if with("alice-key-0123456789") != 200 {
			t.Fatal("alice refused within her burst")
		}
	}
	if with("alice-key-0123456789") != 429 {
		t.Fatal("alice allowed beyond her burst")
	}
	if with("bob-key-0123456789ab") != 200 {
		t.Fatal("bob shares alice's bucket")
	}
	if keyauth.Name != "key_auth" {
		t.Fatal("unexpected plugin name")
	}
	clock.advance(time.Hour)
}

// A route-level config has its own buckets; the filter-level ones are untouched by its traffic.
func TestRouteLevelConfigHasItsOwnBuckets(t *testing.T) {
	host, filterCfg := setup(t, rl(`{"token_bucket":{"max_tokens":1,"fill_interval":"60s"}}`))
	a, err := plugin.ChainTypedStruct(rl(`{"token_bucket":{"max_tokens":3,"fill_interval":"60s"}}`))
	if err != nil {
		t.Fatal(err)
	}
	routeCfg, err := host.ParseRouteConfig(a)
	if err != nil {
		t.Fatal(err)
	}
	merged := host.Merge(filterCfg, routeCfg)
	for i := range 3 {
		if res := host.Do(t, merged, mockhost.Request{}, nil); res.Status != 200 {
			t.Fatalf("route request %d: %d", i, res.Status)
		}
	}
	if res := host.Do(t, merged, mockhost.Request{}, nil); res.Status != 429 {
		t.Fatalf("4th route request: %d, want 429", res.Status)
	}
	if res := host.Do(t, filterCfg, mockhost.Request{}, nil); res.Status != 200 {
		t.Fatalf("filter-level bucket consumed by route traffic: %d", res.Status)
	}
	// Route-level counters land in the filter-level metrics.
	if got := host.Counter("local_ratelimit.rate_limited"); got != 1 {
		t.Fatalf("rate_limited %d, want 1", got)
	}
	clock.advance(time.Hour)
}

func TestBadConfigs(t *testing.T) {
	for _, tc := range []struct{ config, want string }{
		{`{}`, "TokenBucket"},
		{`{"token_bucket":{"fill_interval":"1s"}}`, "MaxTokens"},
		{`{"token_bucket":{"max_tokens":1}}`, "FillInterval"},
		{`{"token_bucket":{"max_tokens":1,"fill_interval":"0.0001s"}}`, "FillInterval"},
		{`{"token_bucket":{"max_tokens":1,"fill_interval":"1s","tokens_per_fill":0}}`, "TokensPerFill"},
		{`{"token_bucket":{"max_tokens":1,"fill_interval":"0.001s","tokens_per_fill":1000000000}}`, "TokensPerFill"},
		{`{"token_bucket":{"max_tokens":1000000000,"fill_interval":"86400s"}}`, "MaxTokens"},
		{`{"token_bucket":{"max_tokens":1,"fill_interval":"1s"},"key":"HEADER"}`, "HeaderName"},
		{`{"token_bucket":{"max_tokens":1,"fill_interval":"1s"},"key":"HEADER","header_name":"bad header"}`, "HeaderName"},
		{`{"token_bucket":{"max_tokens":1,"fill_interval":"1s"},"header_name":"x-user"}`, "HeaderName"},
		{`{"token_bucket":{"max_tokens":1,"fill_interval":"1s"},"key":"COOKIE"}`, "key"},
		{`{"token_bucket":{"max_tokens":1,"fill_interval":"1s"},"max_keys":20000000}`, "MaxKeys"},
		{`{"token_bucket":{"max_tokens":1,"fill_interval":"1s"},"max_key":5}`, "max_key"},
	} {
		host := mockhost.New(plugin.FilterFactory, plugin.ConfigParser)
		a, err := plugin.ChainTypedStruct(rl(tc.config))
		if err != nil {
			t.Fatal(err)
		}
		_, err = host.ParseFilterConfig(a)
		if err == nil {
			t.Errorf("config %s accepted", tc.config)
			continue
		}
		t.Logf("%s -> %v", tc.config, err)
		if !strings.Contains(err.Error(), "local_ratelimit") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config %s: error %q does not name the plugin and %s", tc.config, err, tc.want)
		}
	}
}

// Every accepted config goes through the offline parser (the validator and the xDS bridge use it).
func TestOfflineParse(t *testing.T) {
	a, err := plugin.ChainAny(plugin.Entry{Name: localratelimit.Name, Config: &localratelimit.Config{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plugin.ParseChain(a); err == nil || !strings.Contains(err.Error(), "TokenBucket") {
		t.Fatalf("empty typed config: %v, want an error naming TokenBucket", err)
	}
}

func TestReadmeExample(t *testing.T) {
	host, cfg := setup(t, consumertest.ReadmeChain(t, "README.md"))
	res := host.Do(t, cfg, mockhost.Request{Headers: map[string][]string{"x-api-key": {"mobile-app-key-change-me-0001"}}}, nil)
	if res.Status != 200 || res.Headers.Get("x-ratelimit-limit") != "200" || res.Headers.Get("x-ratelimit-remaining") != "199" {
		t.Fatalf("README example: %d %v", res.Status, res.Headers)
	}
	clock.advance(time.Hour)
}
