package bridge

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/govoy/govoy/filters/bridge/bridgepb"
	"github.com/govoy/govoy/filters/bridge/sofahessian"
	"github.com/govoy/govoy/filters/rpc/codec"
	"github.com/govoy/govoy/filters/rpc/codec/bolt"
)

func boltConfig(t testing.TB) *Config {
	c, err := NewConfig(&bridgepb.Config{
		Protocol:       bridgepb.Config_BOLT,
		PathTemplate:   "/rpc/{service}/{method}",
		Headers:        &bridgepb.Config_Headers{Version: "x-rpc-version", Group: "x-rpc-group"},
		DefaultTimeout: durationpb.New(1500 * time.Millisecond),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// boltRequest starts a request and decodes the frame it writes with the bolt codec.
func boltRequest(t *testing.T, c *Config, r Request) (*bolt.Frame, *Exchange) {
	t.Helper()
	frame, ex := c.Start(r)
	f, n, err := bolt.Codec{}.Decode(frame, codec.FromDownstream, 0)
	if err != nil || f == nil || n != len(frame) {
		t.Fatalf("bolt decode of our frame: %v (%d of %d bytes)", err, n, len(frame))
	}
	return f.(*bolt.Frame), ex
}

func TestBoltRequestFrame(t *testing.T) {
	c := boltConfig(t)
	f, ex := boltRequest(t, c, Request{
		Path:   "/rpc/org.example.GatewayService/rename",
		Header: hdr(map[string]string{"x-rpc-group": "blue", TimeoutHeader: "800"}),
		Body: []byte(`{"attachments":{"tenant":"t1"},"args":[
			{"type":"org.example.User","value":{"id":5,"name":"old","tags":["x"],"friend":{"class":"org.example.User","name":"f"},"attrs":{"k":"v"}}},
			{"type":"String","value":"new"},
			{"type":"int[]","value":[1,2]},
			{"type":"String[]","value":["a",null]},
			{"type":"Set","value":["s"]},
			{"type":"java.util.TreeMap","value":{"b":1,"a":2}},
			{"type":"long","value":7},
			{"type":"byte[]","value":[1,-1]},
			{"type":"Object","value":{"n":3000000000,"f":1.5}}]}`),
	})
	if ex.Refused() != nil {
		t.Fatal(ex.Refused())
	}
	const target = "org.example.GatewayService:1.0:blue"
	if f.Class() != sofahessian.RequestClass || f.Kind() != codec.KindRequest || f.IsHeartbeat() || f.Version() != bolt.ProtoV1 ||
		f.Timeout() != 800 || f.ID() != ex.id || f.CodecID() != bolt.CodecHessian2 {
		t.Fatalf("frame: class %q kind %v timeout %d id %d/%d", f.Class(), f.Kind(), f.Timeout(), f.ID(), ex.id)
	}
	if rt := f.Route(); rt.Service != "org.example.GatewayService" || rt.Version != "1.0" || rt.Group != "blue" || rt.Method != "rename" {
		t.Fatalf("route the bolt codec reads: %+v", rt)
	}
	if v, _ := f.Headers().Get(bolt.KeyTargetService); v != target {
		t.Fatalf("%s = %q", bolt.KeyTargetService, v)
	}
	r, err := sofahessian.DecodeRequest(f.Content())
	if err != nil {
		t.Fatal(err)
	}
	wantSigs := "org.example.User,java.lang.String,[I,[Ljava.lang.String;,java.util.Set,java.util.TreeMap,long,[B,java.lang.Object"
	if r.Method != "rename" || r.TargetService != target || strings.Join(r.ArgSigs, ",") != wantSigs {
		t.Fatalf("SofaRequest %s %s %v", r.Method, r.TargetService, r.ArgSigs)
	}
	if v, _ := r.Props.Get("tenant"); v != "t1" {
		t.Errorf("requestProps %v", r.Props)
	}
	// The Java types travel with the values: the POJO and its nested "class" as objects, arrays
	// and collections as typed lists, sized integers as int or long.
	u := r.Args[0].(*sofahessian.Object)
	friend, _ := u.Get("friend")
	id, _ := u.Get("id")
	if u.Class != "org.example.User" || friend.(*sofahessian.Object).Class != "org.example.User" || id != int32(5) {
		t.Errorf("POJO: %+v", u)
	}
	if l := r.Args[2].(*sofahessian.List); l.Type != "[int" || l.Items[1] != int32(2) {
		t.Errorf("int[]: %+v", l)
	}
	if l := r.Args[3].(*sofahessian.List); l.Type != "[string" || l.Items[1] != nil {
		t.Errorf("String[]: %+v", l)
	}
	if l := r.Args[4].(*sofahessian.List); l.Type != "java.util.HashSet" {
		t.Errorf("Set: %+v", l)
	}
	if m := r.Args[5].(*sofahessian.Map); m.Type != "java.util.TreeMap" || m.Keys[0] != "a" {
		t.Errorf("TreeMap: %+v", m)
	}
	if r.Args[6] != int64(7) || !bytes.Equal(r.Args[7].([]byte), []byte{1, 0xff}) {
		t.Errorf("long, byte[]: %#v %#v", r.Args[6], r.Args[7])
	}
	if m := r.Args[8].(*sofahessian.Map); m.Values[1] != int64(3000000000) || m.Values[0] != 1.5 {
		t.Errorf("Object: %+v", m)
	}
}

// TestBoltMatchesConsumer: for the same call our request carries the very bytes the SOFARPC
// consumer wrote for the SofaRequest fields and arguments (requestProps differ: the consumer adds
// its app name and tracer context).
func TestBoltMatchesConsumer(t *testing.T) {
	cases := []struct{ file, method, body string }{
		{"string", "sayHello", `{"args":[{"type":"String","value":"world"},{"type":"int","value":3}]}`},
		{"long", "twice", `{"parameterTypes":["long"],"args":[1099511627776]}`},
		{"exception", "fail", `{"parameterTypes":["java.lang.String"],"args":["on purpose"]}`},
	}
	for _, tc := range cases {
		raw, err := os.ReadFile(filepath.Join("sofahessian/testdata/frames", tc.file+".request.bin"))
		if err != nil {
			t.Fatal(err)
		}
		jf, _, err := bolt.Codec{}.Decode(raw, codec.FromDownstream, 0)
		if err != nil {
			t.Fatal(err)
		}
		java, err := sofahessian.DecodeRequest(jf.(*bolt.Frame).Content())
		if err != nil {
			t.Fatal(err)
		}
		f, _ := boltRequest(t, boltConfig(t), Request{Path: "/rpc/org.example.GatewayService/" + tc.method, Body: []byte(tc.body)})
		ours, err := sofahessian.DecodeRequest(f.Content())
		if err != nil {
			t.Fatal(err)
		}
		// Re-encode the consumer's request with our props: byte-equal to what we sent.
		java.Props = ours.Props
		want, err := sofahessian.AppendRequest(nil, java)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f.Content(), want) {
			t.Errorf("%s: we sent\n%x\nthe consumer's call is\n%x", tc.file, f.Content(), want)
		}
		for _, k := range []string{bolt.KeyService, bolt.KeyMethod} {
			a, _ := f.Headers().Get(k)
			b, _ := jf.Headers().Get(k)
			if a != b {
				t.Errorf("%s: header %s = %q, the consumer sends %q", tc.file, k, a, b)
			}
		}
	}
}

// withID rewrites the request id of a captured v1 response frame.
func withID(b []byte, id uint64) []byte {
	b = bytes.Clone(b)
	binary.BigEndian.PutUint32(b[5:], uint32(id))
	return b
}

// TestBoltResponses: the provider's captured answers and the statuses a Bolt peer (or govoy's
// own bolt proxy) can send, each to its HTTP status.
func TestBoltResponses(t *testing.T) {
	f, ex := boltRequest(t, boltConfig(t), Request{Path: "/rpc/S/m", Body: []byte(`{}`)})
	captured := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("sofahessian/testdata/frames", name+".response.bin"))
		if err != nil {
			t.Fatal(err)
		}
		return withID(b, ex.id)
	}
	hijack := func(st codec.Status) []byte {
		h, err := bolt.Codec{}.Hijack(f, st, "")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := h.AppendWire(nil)
		return b
	}
	hb, _ := bolt.Codec{}.Heartbeat(ex.id + 1).AppendWire(nil)
	other := captured("string")
	binary.BigEndian.PutUint32(other[5:], uint32(ex.id+1))
	cases := []struct {
		name   string
		bytes  []byte
		status int
		body   string
	}{
		{"string", captured("string"), 200, `{"result":"hello world x3"}`},
		{"long", captured("long"), 200, `{"result":2199023255552}`},
		{"list", captured("list"), 200, `{"result":["c","b","a"]}`},
		{"map", captured("map"), 200, `{"result":{"one":1,"three":3}}`},
		{"pojo", captured("pojo-result"), 200, `{"result":{"active":true,"age":30,"attrs":{"k":"v"},"class":"org.example.User","friend":null,"id":7,"name":"user-7","score":1.5,"tags":["a","b"]}}`},
		{"exception", captured("exception"), 500, `{"error":"exception","message":"provider failed: on purpose","exception":"java.lang.IllegalStateException"}`},
		{"unknown service", captured("unknown-service"), 404, `{"error":"sofarpc error","message":"RPC-020100010: RPC cannot find service: [org.example.GatewayService:9.9] "}`},
		{"other frames first", append(append(hb, other...), captured("long")...), 200, `{"result":2199023255552}`},
		{"timeout", hijack(codec.StatusTimeout), 504, `{"error":"bolt status 7 TIMEOUT","message":"provider answered TIMEOUT"}`},
		{"busy", hijack(codec.StatusRateLimited), 503, `{"error":"bolt status 4 SERVER_THREADPOOL_BUSY","message":"provider answered SERVER_THREADPOOL_BUSY"}`},
		{"no processor", hijack(codec.StatusNoRoute), 404, `{"error":"bolt status 6 NO_PROCESSOR","message":"provider answered NO_PROCESSOR"}`},
		{"server error", hijack(codec.StatusServerError), 502, `{"error":"bolt status 3 UNKNOWN","message":"provider answered UNKNOWN"}`},
	}
	for _, tc := range cases {
		for i := 0; i < len(tc.bytes); i += 5 {
			if r := ex.OnUpstream(tc.bytes[:i], false); r != nil {
				t.Fatalf("%s: prefix %d gave %+v", tc.name, i, r)
			}
		}
		r := ex.OnUpstream(tc.bytes, false)
		if r == nil || r.Status != tc.status || string(r.JSON()) != tc.body {
			t.Errorf("%s: got %+v %s, want %d %s", tc.name, r, r.JSON(), tc.status, tc.body)
		}
	}
	if r := ex.OnUpstream(captured("string")[:30], true); r == nil || r.Status != http.StatusBadGateway || !strings.Contains(r.Message, "closed") {
		t.Fatalf("early close: %+v", r)
	}
	if r := ex.OnUpstream([]byte("HTTP/1.1 400"), false); r == nil || r.Status != http.StatusBadGateway || !strings.Contains(r.Message, "bolt") {
		t.Fatalf("garbage: %+v", r)
	}
	bad := captured("string")
	bad[len(bad)-18] = 0x43 // 'C' (final grammar) inside the SofaResponse
	if r := ex.OnUpstream(bad, false); r == nil || r.Status != http.StatusBadGateway || !strings.Contains(r.Message, "unknown code 0x43") {
		t.Fatalf("bad content: %+v", r)
	}
}

// TestBoltRefused: a bad request becomes a Bolt heartbeat, and its reply the 400.
func TestBoltRefused(t *testing.T) {
	c := boltConfig(t)
	for body, field := range map[string]string{
		`{"args":[{"type":"int","value":"x"}]}`: "args[0].value",
		`{"argz":[]}`:                           "argz",
		`{"args":[{"type":"x.` + strings.Repeat("a", 5000) + `","value":1}]}`: "args",
	} {
		f, ex := boltRequest(t, c, Request{Path: "/rpc/S/m", Body: []byte(body)})
		if ex.Refused() == nil || !f.IsHeartbeat() || f.Kind() != codec.KindRequest || f.ID() != ex.id {
			t.Fatalf("%s: refused %v, sent heartbeat %v", field, ex.Refused(), f.IsHeartbeat())
		}
		reply, err := bolt.Codec{}.HeartbeatReply(f)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := reply.AppendWire(nil)
		r := ex.OnUpstream(b, false)
		var out map[string]string
		if r == nil || r.Status != http.StatusBadRequest || json.Unmarshal(r.JSON(), &out) != nil || out["field"] != field {
			t.Errorf("%s: %+v %s", field, r, r.JSON())
		}
	}
}

func TestJavaSig(t *testing.T) {
	for in, want := range map[string]string{
		"int": "int", "java.lang.String": "java.lang.String", "int[]": "[I", "long[][]": "[[J",
		"java.lang.String[]": "[Ljava.lang.String;", "org.example.User[][]": "[[Lorg.example.User;", "boolean[]": "[Z",
	} {
		if got, err := javaSig(in); err != nil || got != want {
			t.Errorf("javaSig(%s) = %s %v, want %s", in, got, err, want)
		}
	}
	for in, want := range map[string]string{"java.lang.String": "[string", "int": "[int", "java.lang.Object": "[object", "int[]": "[[int", "a.B": "[a.B"} {
		if got := hessianArrayType(in); got != want {
			t.Errorf("hessianArrayType(%s) = %s, want %s", in, got, want)
		}
	}
}
