package plugin_test

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/govoy/govoy/filters/plugin"
)

// FuzzParseChain feeds arbitrary bytes to the chain parser as a packed Chain and as the JSON of a
// TypedStruct: it may reject them but must not panic (it runs inside Envoy's config load), and what
// it accepts must survive a merge and a route-level parse.
func FuzzParseChain(f *testing.F) {
	seed, err := plugin.ChainAny(plugin.Entry{Name: "t_a", Config: act("header,wait")}, plugin.Entry{Name: "t_b", Disabled: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed.GetValue(), `{"plugins":[{"name":"t_c","config":{"name":"count"}}]}`)
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00}, `{"plugins":[{"name":"t_a","typed_config":{"@type":"type.googleapis.com/govoy.plugin.v1.PluginConfig","name":"pass"}}]}`)
	f.Fuzz(func(t *testing.T, packed []byte, js string) {
		a := &anypb.Any{TypeUrl: "type.googleapis.com/govoy.plugin.v1.Chain", Value: packed}
		if c, err := plugin.ParseChain(a); err == nil {
			// a chain the parser accepts must re-encode and parse the same way
			if _, err := proto.Marshal(a); err != nil {
				t.Fatalf("accepted chain does not marshal: %v", err)
			}
			parent, perr := plugin.ConfigParser.Parse(a, fakeCallbacks{})
			if perr != nil {
				t.Fatalf("ParseChain accepted what ConfigParser rejects: %v", perr)
			}
			route, _ := plugin.ConfigParser.Parse(a, nil)
			m := plugin.ConfigParser.Merge(parent, route).(*plugin.ChainConfig)
			if m.Err() != nil || len(m.Plugins()) < len(c.Plugins()) {
				t.Fatalf("merging a valid chain onto itself: %v, %v vs %v", m.Err(), m.Plugins(), c.Plugins())
			}
		}
		if ts, err := plugin.ChainTypedStruct(js); err == nil {
			_, _ = plugin.ParseChain(ts)
			if r, _ := plugin.ConfigParser.Parse(ts, nil); r == nil {
				t.Fatal("route-level Parse returned no config")
			}
		}
	})
}
