package proxy

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/anypb"

	"github.com/govoy/govoy/filters/internal/typedconfig"
	_ "github.com/govoy/govoy/filters/rpc/codec/resp" // a registered protocol without request ids
)

func typedStruct(t *testing.T, typeURL string, v map[string]any) *anypb.Any {
	t.Helper()
	a, err := typedconfig.Wrap(typeURL, v)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

const configURL = "type.googleapis.com/govoy.rpc.proxy.v1.Config"

// TestParseAnyAndCheck: both forms Envoy hands over decode to the same config, decoding errors say
// which layer failed, and Check refuses what New refuses, naming the field, without starting an
// xDS client.
func TestParseAnyAndCheck(t *testing.T) {
	good := map[string]any{"protocols": []any{"dubbo"}, "routes": []any{map[string]any{"service": "s", "timeout": "1s"}},
		"services": []any{map[string]any{"name": "s", "endpoints": []any{map[string]any{"address": "127.0.0.2:20880"}}}}}
	cfg, err := ParseAny(typedStruct(t, configURL, good))
	if err != nil || cfg.GetRoutes()[0].GetTimeout().AsDuration().Seconds() != 1 {
		t.Fatalf("typed struct: %v %v", cfg, err)
	}
	a, _ := anypb.New(cfg)
	if got, err := ParseAny(a); err != nil || got.GetProtocols()[0] != "dubbo" || Check(got) != nil {
		t.Fatalf("packed: %v %v %v", got, err, Check(got))
	}
	for _, tc := range []struct {
		a    *anypb.Any
		want string
	}{
		{nil, "plugin_config is required"},
		{typedStruct(t, "type.googleapis.com/other", good), `plugin_config: TypedStruct.type_url is "type.googleapis.com/other"`},
		{typedStruct(t, configURL, map[string]any{"bogus": 1}), `unknown field "bogus"`},
		{&anypb.Any{TypeUrl: "type.googleapis.com/google.protobuf.Empty"}, "is not govoy.rpc.proxy.v1.Config or a TypedStruct naming it"},
	} {
		if _, err := ParseAny(tc.a); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err %v, want %q", err, tc.want)
		}
	}
	for _, tc := range []struct {
		cfg  map[string]any
		want string
	}{
		{map[string]any{"protocols": []any{"dubbo"}, "routes": []any{map[string]any{"service": "missing"}}}, `routes[0].service: unknown service "missing"`},
		{map[string]any{"protocols": []any{"nope"}, "routes": []any{map[string]any{"service": "s"}}}, "protocols"},
		{map[string]any{"protocols": []any{"resp"}, "routes": []any{map[string]any{"service": "s"}}}, "no request ids"},
		{map[string]any{"protocols": []any{"dubbo"}, "routes": []any{}}, "Routes"},
		{map[string]any{"protocols": []any{"dubbo"}, "routes": []any{map[string]any{"service": "s"}},
			"services": []any{map[string]any{"name": "s", "endpoints": []any{map[string]any{"address": "nohost"}}}}}, `services[0]: endpoints[0].address: "nohost" is not host:port`},
		{map[string]any{"protocols": []any{"dubbo"}, "routes": []any{map[string]any{"service": "s"}},
			"services": []any{map[string]any{"name": "s", "lbPolicy": "CONSISTENT_HASH"}}}, "hash_key: required"},
	} {
		cfg, err := ParseAny(typedStruct(t, configURL, tc.cfg))
		if err != nil {
			t.Fatal(err)
		}
		if err := Check(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Check: %v, want %q", err, tc.want)
		}
	}
	// With an xds source, routes may name services the table will bring; Check starts no client.
	xdsCfg, err := ParseAny(typedStruct(t, configURL, map[string]any{"protocols": []any{"dubbo"},
		"routes": []any{map[string]any{"service": "from-registry"}}, "xds": map[string]any{"address": "127.0.0.1:1", "nodeId": "n"}}))
	if err != nil || Check(xdsCfg) != nil {
		t.Fatalf("xds config: %v %v", err, Check(xdsCfg))
	}
}
