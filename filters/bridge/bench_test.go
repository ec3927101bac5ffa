package bridge

import (
	"os"
	"testing"

	"github.com/govoy/govoy/filters/bridge/bridgepb"
)

// BenchmarkExchange: one JSON request to a Dubbo frame, and a POJO response frame (built
// in the loop too) back to JSON.
func BenchmarkExchange(b *testing.B) {
	c, err := NewConfig(&bridgepb.Config{Protocol: bridgepb.Config_DUBBO, PathTemplate: "/rpc/{service}/{method}"})
	if err != nil {
		b.Fatal(err)
	}
	req := Request{Path: "/rpc/org.example.GatewayService/Rename",
		Body: []byte(`{"args":[{"type":"org.example.User","value":{"iD":5,"name":"old","tags":["x","y"]}},{"type":"String","value":"new"}]}`)}
	b.ReportAllocs()
	for b.Loop() {
		frame, ex := c.Start(req)
		if ex.Refused() != nil || len(frame) == 0 {
			b.Fatal(ex.Refused())
		}
		resp := response(b, ex.id, 20, int32(respValue), map[any]any{"class": "org.example.User", "iD": int32(5), "name": "new", "tags": []any{"x", "y"}})
		if r := ex.OnUpstream(resp, false); r == nil || r.Status != 200 || len(r.JSON()) == 0 {
			b.Fatalf("%+v", r)
		}
	}
}

// BenchmarkBoltExchange: one JSON request (a POJO and a String) to a Bolt SofaRequest frame, and
// the SOFARPC provider's captured POJO response back to JSON.
func BenchmarkBoltExchange(b *testing.B) {
	c, err := NewConfig(&bridgepb.Config{Protocol: bridgepb.Config_BOLT, PathTemplate: "/rpc/{service}/{method}"})
	if err != nil {
		b.Fatal(err)
	}
	req := Request{Path: "/rpc/org.example.GatewayService/rename",
		Body: []byte(`{"args":[{"type":"org.example.User","value":{"id":7,"name":"old","age":30,"active":true,"score":1.5,"tags":["a","b"],"attrs":{"k":"v"}}},{"type":"String","value":"user-7"}]}`)}
	resp, err := os.ReadFile("sofahessian/testdata/frames/pojo-result.response.bin")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		frame, ex := c.Start(req)
		if ex.Refused() != nil || len(frame) == 0 {
			b.Fatal(ex.Refused())
		}
		if r := ex.OnUpstream(withID(resp, ex.id), false); r == nil || r.Status != 200 || len(r.JSON()) == 0 {
			b.Fatalf("%+v", r)
		}
	}
}
