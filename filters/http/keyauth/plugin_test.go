package keyauth_test

import (
	"strings"
	"testing"

	"github.com/govoy/govoy/filters/http/consumers/consumertest"
	"github.com/govoy/govoy/filters/http/keyauth"
	"github.com/govoy/govoy/filters/mockhost"
	"github.com/govoy/govoy/filters/plugin"
)

const (
	aliceKey  = "alice-key-0123456789"
	aliceKey2 = "alice-rotated-key-987654"
	bobKey    = "bob-key-0123456789ab"
)

func setup(t *testing.T, config string) (*mockhost.Host, any) {
	t.Helper()
	host := mockhost.New(plugin.FilterFactory, plugin.ConfigParser)
	cfg, err := parse(host, config)
	if err != nil {
		t.Fatalf("parse %s: %v", config, err)
	}
	return host, cfg
}

func parse(host *mockhost.Host, config string) (any, error) {
	a, err := plugin.ChainTypedStruct(`{"plugins":[{"name":"key_auth","config":` + config + `},{"name":"` + consumertest.Name + `"}]}`)
	if err != nil {
		return nil, err
	}
	return host.ParseFilterConfig(a)
}

const twoConsumers = `"consumers":[
	{"name":"alice","keys":["` + aliceKey + `","` + aliceKey2 + `"],"labels":{"tier":"gold"}},
	{"name":"bob","keys":["` + bobKey + `"]}]`

// The consumer is observed through the headers the probe plugin (consumertest) sets after key_auth.
func TestHeaderKeyIdentifiesConsumer(t *testing.T) {
	host, cfg := setup(t, `{`+twoConsumers+`}`)
	for key, want := range map[string]string{aliceKey: "alice", aliceKey2: "alice", bobKey: "bob"} {
		res := host.Do(t, cfg, mockhost.Request{Headers: map[string][]string{"X-API-Key": {key}}}, nil)
		if res.Status != 200 || res.Upstream == nil {
			t.Fatalf("key of %s: status %d", want, res.Status)
		}
		if got := res.Upstream.Headers.Get("x-probe-consumer"); got != want {
			t.Fatalf("key of %s: consumer %q", want, got)
		}
		// Without hide_credentials the upstream still sees the key.
		if res.Upstream.Headers.Get("x-api-key") != key {
			t.Fatal("key removed although hide_credentials is off")
		}
	}
	res := host.Do(t, cfg, mockhost.Request{Headers: map[string][]string{"x-api-key": {aliceKey}}}, nil)
	if got := res.Upstream.Headers.Get("x-probe-labels"); got != "tier=gold" {
		t.Fatalf("labels %q, want tier=gold", got)
	}
	if got := host.Counter("key_auth.authenticated"); got != 4 {
		t.Fatalf("authenticated counter %d, want 4", got)
	}
}

func TestMissingAndInvalidKeys(t *testing.T) {
	host, cfg := setup(t, `{`+twoConsumers+`,"realm":"shop"}`)
	cases := []struct {
		name    string
		headers map[string][]string
		body    string
		details string
	}{
		{"no key", nil, "missing API key\n", "govoy.key_auth.missing"},
		{"empty key", map[string][]string{"x-api-key": {""}}, "missing API key\n", "govoy.key_auth.missing"},
		{"unknown key", map[string][]string{"x-api-key": {"mallory-key-0123456789"}}, "invalid API key\n", "govoy.key_auth.invalid"},
		{"prefix of a key", map[string][]string{"x-api-key": {aliceKey[:len(aliceKey)-1]}}, "invalid API key\n", "govoy.key_auth.invalid"},
		{"key plus suffix", map[string][]string{"x-api-key": {aliceKey + "x"}}, "invalid API key\n", "govoy.key_auth.invalid"},
		{"case changed", map[string][]string{"x-api-key": {strings.ToUpper(aliceKey)}}, "invalid API key\n", "govoy.key_auth.invalid"},
		{"huge key", map[string][]string{"x-api-key": {strings.Repeat("k", 100_000)}}, "invalid API key\n", "govoy.key_auth.invalid"},
		{"key in another header", map[string][]string{"authorization": {aliceKey}}, "missing API key\n", "govoy.key_auth.missing"},
	}
	for _, tc := range cases {
		res := host.Do(t, cfg, mockhost.Request{Headers: tc.headers}, nil)
		if res.Status != 401 || res.Upstream != nil {
			t.Errorf("%s: status %d (upstream reached: %v), want 401", tc.name, res.Status, res.Upstream != nil)
			continue
		}
		if got := res.Headers.Get("www-authenticate"); got != `Key realm="shop"` {
			t.Errorf("%s: WWW-Authenticate %q", tc.name, got)
		}
		if string(res.Body) != tc.body || res.ResponseCodeDetails != tc.details {
			t.Errorf("%s: body %q details %q, want %q %q", tc.name, res.Body, res.ResponseCodeDetails, tc.body, tc.details)
		}
	}
	if m, r := host.Counter("key_auth.missing"), host.Counter("key_auth.rejected"); m != 3 || r != 5 {
		t.Fatalf("counters missing=%d rejected=%d, want 3 and 5", m, r)
	}
}

func TestQueryKeyAndHideCredentials(t *testing.T) {
	host, cfg := setup(t, `{`+twoConsumers+`,"header":"X-Key","query":"apikey","hide_credentials":true}`)

	res := host.Do(t, cfg, mockhost.Request{Path: "/p?a=1&apikey=" + bobKey + "&b=x%20y"}, nil)
	if res.Status != 200 || res.Upstream.Headers.Get("x-probe-consumer") != "bob" {
		t.Fatalf("query key: status %d", res.Status)
	}
	if res.Upstream.Path != "/p?a=1&b=x%20y" {
		t.Fatalf("upstream path %q, want the key removed and the rest untouched", res.Upstream.Path)
	}

	res = host.Do(t, cfg, mockhost.Request{Path: "/p?apikey=wrong-key-0123456789", Headers: map[string][]string{"x-key": {aliceKey}}}, nil)
	if res.Status != 200 || res.Upstream.Headers.Get("x-probe-consumer") != "alice" {
		t.Fatalf("header before query: status %d", res.Status)
	}
	if _, ok := res.Upstream.Headers["x-key"]; ok {
		t.Fatal("key header reached the upstream with hide_credentials")
	}
	if res.Upstream.Path != "/p?apikey=wrong-key-0123456789" {
		t.Fatalf("path %q changed although the key came from the header", res.Upstream.Path)
	}

	// The default header is not used once a header or query is configured.
	if res := host.Do(t, cfg, mockhost.Request{Headers: map[string][]string{"x-api-key": {aliceKey}}}, nil); res.Status != 401 {
		t.Fatalf("default header accepted with header X-Key configured: %d", res.Status)
	}
}

func TestBadConfigs(t *testing.T) {
	for _, tc := range []struct{ config, want string }{
		{`{}`, "Consumers"},
		{`{"consumers":[]}`, "Consumers"},
		{`{"consumers":[{"name":"a","keys":["short"]}]}`, "Keys[0]"},
		{`{"consumers":[{"name":"a","keys":[]}]}`, "Keys"},
		{`{"consumers":[{"name":"","keys":["` + aliceKey + `"]}]}`, "Name"},
		{`{"consumers":[{"name":"a b","keys":["` + aliceKey + `"]}]}`, "Name"},
		{`{"consumers":[{"name":"a","keys":["` + aliceKey + `"]},{"name":"a","keys":["` + bobKey + `"]}]}`, "Consumers[1].Name"},
		{`{"consumers":[{"name":"a","keys":["` + aliceKey + `"]},{"name":"b","keys":["` + bobKey + `","` + aliceKey + `"]}]}`, "Consumers[1].Keys[1]"},
		{`{` + twoConsumers + `,"header":"bad header"}`, "Header"},
		{`{` + twoConsumers + `,"query":"a&b"}`, "Query"},
		{`{` + twoConsumers + `,"realm":"a\"b"}`, "Realm"},
		{`{` + twoConsumers + `,"hide":true}`, "hide"},
	} {
		_, err := parse(mockhost.New(plugin.FilterFactory, plugin.ConfigParser), tc.config)
		if err == nil {
			t.Errorf("config %s accepted", tc.config)
			continue
		}
		if !strings.Contains(err.Error(), `"key_auth"`) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config %s: error %q does not name the plugin and %s", tc.config, err, tc.want)
		}
		// Errors never echo key material.
		for _, k := range []string{aliceKey, bobKey} {
			if strings.Contains(err.Error(), k) {
				t.Errorf("config %s: error %q contains a key", tc.config, err)
			}
		}
	}
}

func TestOrderAndName(t *testing.T) {
	p := keyauth.Plugin{}
	if p.Name() != "key_auth" || p.Order() != plugin.OrderAuthn {
		t.Fatalf("name %q order %d", p.Name(), p.Order())
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
	res := host.Do(t, cfg, mockhost.Request{Path: "/?apikey=mobile-app-key-rotated-0002"}, nil)
	if res.Status != 200 || res.Upstream.Path != "/" {
		t.Fatalf("README example: %d, upstream path %v", res.Status, res.Upstream)
	}
}
