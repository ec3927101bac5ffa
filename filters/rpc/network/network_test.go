package network

import (
	"strings"
	"testing"

	xds "github.com/cncf/xds/go/xds/type/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	_ "github.com/govoy/govoy/filters/rpc/codec/dubbo"
)

func typed(t *testing.T, typeURL string, v map[string]any) *anypb.Any {
	t.Helper()
	s, err := structpb.NewStruct(v)
	if err != nil {
		t.Fatal(err)
	}
	a, err := anypb.New(&xds.TypedStruct{TypeUrl: typeURL, Value: s})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestParseConfig(t *testing.T) {
	good := map[string]any{"protocols": []any{"dubbo"}, "routes": []any{map[string]any{"service": "s", "timeout": "1s"}}}
	cfg, err := ParseConfig(typed(t, configTypeURL, good))
	if err != nil || cfg.GetRoutes()[0].GetTimeout().AsDuration().Seconds() != 1 {
		t.Fatalf("typed struct: %v %v", cfg, err)
	}
	a, _ := anypb.New(cfg)
	if got, err := ParseConfig(a); err != nil || got.GetProtocols()[0] != "dubbo" {
		t.Fatalf("proto: %v %v", got, err)
	}
	for _, tc := range []struct {
		a    *anypb.Any
		want string
	}{
		{nil, "plugin_config is required"},
		{typed(t, "type.googleapis.com/other", good), "plugin_config.type_url"},
		{typed(t, configTypeURL, map[string]any{"bogus": 1}), "plugin_config.value"},
		{&anypb.Any{TypeUrl: "type.googleapis.com/google.protobuf.Empty"}, "unsupported type"},
	} {
		if _, err := ParseConfig(tc.a); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err %v, want %q", err, tc.want)
		}
	}
}

func TestFactoryIsCachedPerConfigAndBadConfigIsReported(t *testing.T) {
	bad := typed(t, configTypeURL, map[string]any{"protocols": []any{"dubbo"}, "routes": []any{map[string]any{"service": "missing"}}})
	f := configFactory{}.CreateFactoryFromConfig(bad).(*filterFactory)
	if f.proxy != nil || f.err == nil || !strings.Contains(f.err.Error(), `unknown service "missing"`) {
		t.Fatalf("bad config: %+v", f)
	}
	if again := (configFactory{}).CreateFactoryFromConfig(bad); again != f {
		t.Fatal("factory not cached per config object")
	}
}
