package consumerrestriction_test

import (
	"strings"
	"testing"

	_ "github.com/govoy/govoy/filters/http/consumerrestriction"
	"github.com/govoy/govoy/filters/http/consumers/consumertest"
	_ "github.com/govoy/govoy/filters/http/keyauth"
	"github.com/govoy/govoy/filters/mockhost"
	"github.com/govoy/govoy/filters/plugin"
)

const keyAuth = `{"name":"key_auth","config":{"consumers":[
	{"name":"alice","keys":["alice-key-0123456789"]},
	{"name":"bob","keys":["bob-key-0123456789ab"]},
	{"name":"carol","keys":["carol-key-0123456789"]}]}}`

var keys = map[string]string{"alice": "alice-key-0123456789", "bob": "bob-key-0123456789ab", "carol": "carol-key-0123456789"}

// setup builds a chain of consumer_restriction with config, preceded by key_auth when withAuth.
// The restriction is listed first on purpose: the chain orders it after key_auth (OrderAuthz).
func setup(t *testing.T, config string, withAuth bool) (*mockhost.Host, any) {
	t.Helper()
	host := mockhost.New(plugin.FilterFactory, plugin.ConfigParser)
	chain := `{"plugins":[{"name":"consumer_restriction","config":` + config + `}`
	if withAuth {
		chain += "," + keyAuth
	}
	a, err := plugin.ChainTypedStruct(chain + "]}")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := host.ParseFilterConfig(a)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return host, cfg
}

func as(t *testing.T, host *mockhost.Host, cfg any, consumer string) *mockhost.Result {
	t.Helper()
	req := mockhost.Request{}
	if consumer != "" {
		req.Headers = map[string][]string{"x-api-key": {keys[consumer]}}
	}
	return host.Do(t, cfg, req, nil)
}

func TestAllowList(t *testing.T) {
	host, cfg := setup(t, `{"allow":{"names":["alice","bob"]}}`, true)
	for _, c := range []string{"alice", "bob"} {
		if res := as(t, host, cfg, c); res.Status != 200 || res.Upstream == nil {
			t.Fatalf("%s: %d, want 200", c, res.Status)
		}
	}
	res := as(t, host, cfg, "carol")
	if res.Status != 403 || res.Upstream != nil || res.ResponseCodeDetails != "govoy.consumer_restriction.denied" {
		t.Fatalf("carol: %d %s, want 403", res.Status, res.ResponseCodeDetails)
	}
	if a, d := host.Counter("consumer_restriction.allowed"), host.Counter("consumer_restriction.denied"); a != 2 || d != 1 {
		t.Fatalf("allowed=%d denied=%d", a, d)
	}
}

func TestDenyList(t *testing.T) {
	host, cfg := setup(t, `{"deny":{"names":["carol"]}}`, true)
	if res := as(t, host, cfg, "carol"); res.Status != 403 {
		t.Fatalf("carol: %d, want 403", res.Status)
	}
	if res := as(t, host, cfg, "alice"); res.Status != 200 {
		t.Fatalf("alice: %d, want 200", res.Status)
	}
}

// Without an authn plugin in the chain there is no consumer.
func TestNoConsumer(t *testing.T) {
	host, cfg := setup(t, `{"allow":{"names":["alice"]}}`, false)
	res := host.Do(t, cfg, mockhost.Request{}, nil)
	if res.Status != 401 || res.ResponseCodeDetails != "govoy.consumer_restriction.no_consumer" {
		t.Fatalf("allow list, no consumer: %d %s, want 401", res.Status, res.ResponseCodeDetails)
	}

	host, cfg = setup(t, `{"deny":{"names":["carol"]}}`, false)
	if res := host.Do(t, cfg, mockhost.Request{}, nil); res.Status != 200 {
		t.Fatalf("deny list, no consumer: %d, want 200", res.Status)
	}

	host, cfg = setup(t, `{"deny":{"names":["carol"]},"require_consumer":true}`, false)
	if res := host.Do(t, cfg, mockhost.Request{}, nil); res.Status != 401 {
		t.Fatalf("deny list with require_consumer, no consumer: %d, want 401", res.Status)
	}
	if got := host.Counter("consumer_restriction.unauthenticated"); got != 1 {
		t.Fatalf("unauthenticated counter %d", got)
	}
}

func TestBadConfigs(t *testing.T) {
	for _, tc := range []struct{ config, want string }{
		{`{}`, "List"},
		{`{"allow":{"names":["a"]},"deny":{"names":["b"]}}`, "oneof"},
		{`{"allow":{}}`, "Names"},
		{`{"allow":{"names":[]}}`, "Names"},
		{`{"deny":{"names":["a","a"]}}`, "Names"},
		{`{"deny":{"names":[""]}}`, "Names[0]"},
		{`{"allow":["a"]}`, "unexpected token"}, // protojson reports the position for a type mismatch
		{`{"allowed":{"names":["a"]}}`, "allowed"},
	} {
		host := mockhost.New(plugin.FilterFactory, plugin.ConfigParser)
		a, err := plugin.ChainTypedStruct(`{"plugins":[{"name":"consumer_restriction","config":` + tc.config + `}]}`)
		if err != nil {
			t.Fatal(err)
		}
		_, err = host.ParseFilterConfig(a)
		if err == nil {
			t.Errorf("config %s accepted", tc.config)
			continue
		}
		t.Logf("%s -> %v", tc.config, err)
		if !strings.Contains(err.Error(), `"consumer_restriction"`) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config %s: error %q does not name the plugin and %s", tc.config, err, tc.want)
		}
	}
}

func TestReadmeExample(t *testing.T) {
	host := mockhost.New(plugin.FilterFactory, plugin.ConfigParser)
	a, err := plugin.ChainTypedStruct(consumertest.ReadmeChain(t, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := host.ParseFilterConfig(a)
	if err != nil {
		t.Fatalf("README example: %v", err)
	}
	for key, want := range map[string]int{"mobile-app-key-change-me-0001": 200, "partner-key-change-me-000001": 403} {
		if res := host.Do(t, cfg, mockhost.Request{Headers: map[string][]string{"x-api-key": {key}}}, nil); res.Status != want {
			t.Fatalf("README example, key %s: %d, want %d", key, res.Status, want)
		}
	}
}
