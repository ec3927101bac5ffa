package network

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/anypb"

	"github.com/govoy/govoy/filters/internal/typedconfig"
	_ "github.com/govoy/govoy/filters/rpc/codec/dubbo"
)

const configTypeURL = "type.googleapis.com/govoy.rpc.proxy.v1.Config"

func typed(t *testing.T, typeURL string, v map[string]any) *anypb.Any {
	t.Helper()
	a, err := typedconfig.Wrap(typeURL, v)
	if err != nil {
		t.Fatal(err)
	}
	return a
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
