package bridge

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	hessian "github.com/apache/dubbo-go-hessian2"
	"github.com/apache/dubbo-go-hessian2/java_exception"
	xdstypev3 "github.com/cncf/xds/go/xds/type/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/govoy/govoy/filters/bridge/bridgepb"
	"github.com/govoy/govoy/filters/rpc/codec"
	"github.com/govoy/govoy/filters/rpc/codec/dubbo"
)

func mustConfig(t *testing.T, pb *bridgepb.Config) *Config {
	t.Helper()
	c, err := NewConfig(pb)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pathConfig(t *testing.T) *Config {
	return mustConfig(t, &bridgepb.Config{
		Protocol:       bridgepb.Config_DUBBO,
		PathTemplate:   "/rpc/{service}/{method}",
		Headers:        &bridgepb.Config_Headers{Version: "x-rpc-version", Group: "X-Rpc-Group"},
		DefaultTimeout: durationpb.New(1500 * time.Millisecond),
		DefaultGroup:   "dg",
	})
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		pb   *bridgepb.Config
		want string
	}{
		{&bridgepb.Config{}, "Protocol"},
		{&bridgepb.Config{Protocol: 7}, "Protocol"},
		{&bridgepb.Config{Protocol: bridgepb.Config_DUBBO, PathTemplate: "rpc/{service}"}, "PathTemplate"},
		{&bridgepb.Config{Protocol: bridgepb.Config_DUBBO, PathTemplate: "/rpc/{svc}"}, "path_template"},
		{&bridgepb.Config{Protocol: bridgepb.Config_DUBBO, PathTemplate: "/rpc/x{service}"}, "path_template"},
		{&bridgepb.Config{Protocol: bridgepb.Config_DUBBO, PathTemplate: "/{method}/{method}"}, "twice"},
		{&bridgepb.Config{Protocol: bridgepb.Config_DUBBO, Headers: &bridgepb.Config_Headers{Service: "bad header"}}, "Service"},
		{&bridgepb.Config{Protocol: bridgepb.Config_DUBBO, DefaultTimeout: durationpb.New(2 * time.Hour)}, "DefaultTimeout"},
		{&bridgepb.Config{Protocol: bridgepb.Config_DUBBO, BodyFields: bridgepb.Config_BODY_FIELDS_OFF}, "nothing names the service"},
	}
	for _, c := range cases {
		_, err := NewConfig(c.pb)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want it to name %q", c.pb, err, c.want)
		}
	}
}

func TestParseAny(t *testing.T) {
	packed, _ := anypb.New(&bridgepb.Config{Protocol: bridgepb.Config_DUBBO})
	if c, err := ParseAny(packed); err != nil || c.Timeout != DefaultTimeout {
		t.Fatalf("packed: %v %v", c, err)
	}
	v, _ := structpb.NewStruct(map[string]any{"protocol": "DUBBO", "path_template": "/{service}/{method}", "default_timeout": "2s"})
	ts, _ := anypb.New(&xdstypev3.TypedStruct{TypeUrl: "type.googleapis.com/" + ConfigTypeName, Value: v})
	c, err := ParseAny(ts)
	if err != nil || c.Timeout != 2*time.Second || c.template == nil {
		t.Fatalf("typed struct: %+v %v", c, err)
	}
	bad, _ := structpb.NewStruct(map[string]any{"protocol": "DUBBO", "path_tempalte": "/x"})
	ts, _ = anypb.New(&xdstypev3.TypedStruct{TypeUrl: "type.googleapis.com/" + ConfigTypeName, Value: bad})
	if _, err := ParseAny(ts); err == nil || !strings.Contains(err.Error(), "path_tempalte") {
		t.Fatalf("unknown field: %v", err)
	}
	other, _ := anypb.New(durationpb.New(time.Second))
	if _, err := ParseAny(other); err == nil || !strings.Contains(err.Error(), "google.protobuf.Duration") {
		t.Fatalf("wrong type: %v", err)
	}
	if _, err := ParseAny(nil); err == nil {
		t.Fatal("nil config accepted")
	}
}

func hdr(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseRequestSources(t *testing.T) {
	c := pathConfig(t)
	call, err := c.ParseRequest(Request{
		Path:   "/rpc/org.example.Svc/sayHello?x=1",
		Header: hdr(map[string]string{"x-rpc-version": "1.0.0", TimeoutHeader: "250"}),
		Body:   []byte(`{"method":"ignored","args":[{"type":"String","value":"w"},{"type":"int","value":7},{"type":"long[]","value":[1,2]},{"type":"org.example.User","value":{"name":"n","age":3,"score":1.5}}]}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if call.Service != "org.example.Svc" || call.Method != "sayHello" || call.Version != "1.0.0" || call.Group != "dg" || call.Timeout != 250*time.Millisecond {
		t.Fatalf("call %+v", call)
	}
	wantTypes := []string{"java.lang.String", "int", "long[]", "org.example.User"}
	for i, w := range wantTypes {
		if call.Types[i] != w {
			t.Fatalf("types %v", call.Types)
		}
	}
	if call.Args[0] != "w" || call.Args[1] != int32(7) {
		t.Fatalf("args %#v", call.Args)
	}
	if l := call.Args[2].([]any); l[0] != int64(1) || l[1] != int64(2) {
		t.Fatalf("long[] %#v", l)
	}
	if u := call.Args[3].(map[any]any); u["name"] != "n" || u["age"] != int64(3) || u["score"] != 1.5 {
		t.Fatalf("pojo %#v", u)
	}

	// Body fields and parameterTypes, when the path does not name them.
	c = mustConfig(t, &bridgepb.Config{Protocol: bridgepb.Config_DUBBO, DefaultVersion: "2.0"})
	call, err = c.ParseRequest(Request{Path: "/", Body: []byte(`{"service":"S","method":"m","group":"g","parameterTypes":["java.lang.Boolean","double"],"args":[true,2.5],"attachments":{"k":"v"}}`)})
	if err != nil {
		t.Fatal(err)
	}
	if call.Service != "S" || call.Method != "m" || call.Version != "2.0" || call.Group != "g" || call.Args[0] != true || call.Args[1] != 2.5 || call.Attachments["k"] != "v" {
		t.Fatalf("call %+v", call)
	}
}

func TestParseRequestErrors(t *testing.T) {
	c := mustConfig(t, &bridgepb.Config{Protocol: bridgepb.Config_DUBBO})
	pc := pathConfig(t)
	cases := []struct {
		c     *Config
		r     Request
		field string
	}{
		{c, Request{Body: []byte(`{"service":`)}, "body"},
		{c, Request{Body: []byte(`{"service":"S","method":"m"} x`)}, "body"},
		{c, Request{Body: []byte(`{"service":3}`)}, "service"},
		{c, Request{Body: []byte(`{"servce":"S"}`)}, "servce"},
		{c, Request{Body: []byte(`{"method":"m"}`)}, "service"},
		{c, Request{Body: []byte(`{"service":"S"}`)}, "method"},
		{c, Request{Body: []byte(`{"service":"S","method":"m","args":[1]}`)}, "args[0]"},
		{c, Request{Body: []byte(`{"service":"S","method":"m","args":[{"value":1}]}`)}, "args[0].type"},
		{c, Request{Body: []byte(`{"service":"S","method":"m","args":[{"type":"int","value":"x"}]}`)}, "args[0].value"},
		{c, Request{Body: []byte(`{"service":"S","method":"m","args":[{"type":"int","value":3000000000}]}`)}, "args[0].value"},
		{c, Request{Body: []byte(`{"service":"S","method":"m","args":[{"type":"String","value":"a"},{"type":"int","value":null}]}`)}, "args[1].value"},
		{c, Request{Body: []byte(`{"service":"S","method":"m","args":[{"type":"String[]","value":["a",1]}]}`)}, "args[0].value[1]"},
		{c, Request{Body: []byte(`{"service":"S","method":"m","parameterTypes":["int"],"args":[]}`)}, "args"},
		{c, Request{Body: []byte(`{"service":"S","method":"m","parameterTypes":["int"],"args":[1.5]}`)}, "args[0]"},
		{c, Request{Header: hdr(map[string]string{TimeoutHeader: "soon"}), Body: []byte(`{"service":"S","method":"m"}`)}, TimeoutHeader},
		{pc, Request{Path: "/other/S/m"}, "path"},
	}
	for _, tc := range cases {
		_, err := tc.c.ParseRequest(tc.r)
		var be *BadRequestError
		if !errors.As(err, &be) || be.Field != tc.field {
			t.Errorf("%s: error %v, want field %q", tc.r.Body, err, tc.field)
		}
	}
}

// TestEncodeDubboRoundTrip decodes the gateway's frame with the govoy-rpc dubbo codec and the
// hessian2 decoder, as a provider would read it.
func TestEncodeDubboRoundTrip(t *testing.T) {
	call := &Call{Service: "org.example.Svc", Method: "sayHello", Version: "1.0.0", Group: "g1", Timeout: 1200 * time.Millisecond,
		Types: []string{"java.lang.String", "int"}, Args: []any{"w", int32(7)}, Attachments: map[string]string{"trace": "t1", "group": "ignored"}}
	frame, err := EncodeDubbo(nil, call, 42)
	if err != nil {
		t.Fatal(err)
	}
	f, n, err := dubbo.Codec{}.Decode(frame, codec.FromDownstream, 0)
	if err != nil || n != len(frame) || f.Err() != nil {
		t.Fatalf("decode: %v n=%d/%d frame err %v", err, n, len(frame), f.Err())
	}
	df := f.(*dubbo.Frame)
	r := f.Route()
	if f.Kind() != codec.KindRequest || f.ID() != 42 || r.Service != "org.example.Svc" || r.Method != "sayHello" || df.WireMethod() != "$invoke" || r.Version != "1.0.0" || r.Group != "g1" || r.Timeout != 1200*time.Millisecond {
		t.Fatalf("kind %s id %d route %+v", f.Kind(), f.ID(), r)
	}
	if df.ParamTypes() != genericDesc || df.DubboVersion() != dubboVersion {
		t.Fatalf("param types %q version %q", df.ParamTypes(), df.DubboVersion())
	}
	if v, _ := f.Headers().Get("trace"); v != "t1" {
		t.Fatalf("attachment trace = %q", v)
	}
	if v, _ := f.Headers().Get("generic"); v != "true" {
		t.Fatalf("attachment generic = %q", v)
	}
	d := hessian.NewDecoder(df.Body())
	var got []any
	for i := 0; i < 8; i++ {
		v, err := d.Decode()
		if err != nil {
			t.Fatalf("value %d: %v", i, err)
		}
		got = append(got, v)
	}
	if got[5] != "sayHello" {
		t.Fatalf("method %v", got[5])
	}
	types, args := describe(got[6]), describe(got[7])
	if types != `["java.lang.String","int"]` || args != `["w",7]` {
		t.Fatalf("types %s args %s", types, args)
	}
}

// response builds a Dubbo hessian2 response frame the way providers write it.
func response(t testing.TB, id uint64, status byte, values ...any) []byte {
	t.Helper()
	e := hessian.NewEncoder()
	for _, v := range values {
		if err := e.Encode(v); err != nil {
			t.Fatal(err)
		}
	}
	b := []byte{0xda, 0xbb, dubbo.SerializationHessian2, status}
	b = appendUint64(b, id)
	b = appendUint32(b, uint32(len(e.Buffer())))
	return append(b, e.Buffer()...)
}

func TestResponses(t *testing.T) {
	c := mustConfig(t, &bridgepb.Config{Protocol: bridgepb.Config_DUBBO})
	req := Request{Body: []byte(`{"service":"S","method":"m"}`)}
	frame, ex := c.Start(req)
	if ex.Refused() != nil {
		t.Fatal(ex.Refused())
	}
	f, _, err := dubbo.Codec{}.Decode(frame, codec.FromDownstream, 0)
	if err != nil {
		t.Fatal(err)
	}
	id := f.ID()
	hijack := func(st codec.Status, msg string) []byte {
		h, err := dubbo.Codec{}.Hijack(f, st, msg)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := h.AppendWire(nil)
		return b
	}
	hb, _ := dubbo.Codec{}.Heartbeat(99).AppendWire(nil)
	cases := []struct {
		name   string
		bytes  []byte
		status int
		body   string
	}{
		{"value", response(t, id, dubbo.StatusOK, int32(respValue), map[any]any{"name": "n", "tags": []any{"a"}}), 200, `{"result":{"name":"n","tags":["a"]}}`},
		{"value with attachments", response(t, id, dubbo.StatusOK, int32(respValueWithAttachments), "hi", map[any]any{"dubbo": "2.0.2"}), 200, `{"result":"hi"}`},
		{"null", response(t, id, dubbo.StatusOK, int32(respNull)), 200, `{"result":null}`},
		{"exception", response(t, id, dubbo.StatusOK, int32(respException), java_exception.NewThrowable("boom")), 500, `{"error":"exception","message":"boom","exception":"java.lang.Throwable"}`},
		{"server heartbeat first", append(hb, response(t, id, dubbo.StatusOK, int32(respValue), int64(5))...), 200, `{"result":5}`},
		{"not found", hijack(codec.StatusNoProvider, "no provider for S"), 404, `{"error":"dubbo status 60","message":"no provider for S"}`},
		{"timeout", hijack(codec.StatusTimeout, "waited 3s"), 504, `{"error":"dubbo status 31","message":"waited 3s"}`},
		{"server error", hijack(codec.StatusServerError, "oops"), 502, `{"error":"dubbo status 80","message":"oops"}`},
		{"overloaded", hijack(codec.StatusRateLimited, "full"), 503, `{"error":"dubbo status 100","message":"full"}`},
	}
	for _, tc := range cases {
		// Every proper prefix is incomplete; the whole answer decodes.
		for i := 0; i < len(tc.bytes); i += 7 {
			if r := ex.OnUpstream(tc.bytes[:i], false); r != nil {
				t.Fatalf("%s: prefix %d gave %+v", tc.name, i, r)
			}
		}
		r := ex.OnUpstream(tc.bytes, false)
		if r == nil || r.Status != tc.status || string(r.JSON()) != tc.body {
			t.Errorf("%s: got %+v %s, want %d %s", tc.name, r, r.JSON(), tc.status, tc.body)
		}
	}
	// Upstream closed early, or sent garbage: 502, never a hang.
	full := response(t, id, dubbo.StatusOK, int32(respNull))
	if r := ex.OnUpstream(full[:10], true); r == nil || r.Status != http.StatusBadGateway || !strings.Contains(r.Message, "closed") {
		t.Fatalf("early close: %+v", r)
	}
	if r := ex.OnUpstream([]byte("HTTP/1.1 400"), false); r == nil || r.Status != http.StatusBadGateway || !strings.Contains(r.Message, "bad magic") {
		t.Fatalf("garbage: %+v", r)
	}
}

// TestRefusedRequest: a bad request sends a heartbeat and answers 400 when its reply arrives.
func TestRefusedRequest(t *testing.T) {
	c := mustConfig(t, &bridgepb.Config{Protocol: bridgepb.Config_DUBBO})
	frame, ex := c.Start(Request{Body: []byte(`{"service":"S","method":"m","args":[{"type":"int","value":"x"}]}`)})
	if ex.Refused() == nil {
		t.Fatal("bad request not refused")
	}
	f, _, err := dubbo.Codec{}.Decode(frame, codec.FromDownstream, 0)
	if err != nil || !f.IsHeartbeat() || f.Kind() != codec.KindRequest {
		t.Fatalf("refused request sent %v heartbeat=%v err %v", f, f != nil && f.IsHeartbeat(), err)
	}
	reply, _ := dubbo.Codec{}.HeartbeatReply(f)
	b, _ := reply.AppendWire(nil)
	r := ex.OnUpstream(b, false)
	if r == nil || r.Status != http.StatusBadRequest || string(r.JSON()) != `{"error":"bad request","message":"args[0].value: want a JSON integer for int","field":"args[0].value"}` {
		t.Fatalf("refused: %+v %s", r, r.JSON())
	}
	// Without a reply (upstream closes), still the 400.
	if r := ex.OnUpstream(nil, true); r == nil || r.Status != http.StatusBadRequest {
		t.Fatalf("refused on close: %+v", r)
	}
}

func TestToJSON(t *testing.T) {
	in := map[any]any{int32(1): []string{"a"}, "m": map[string]any{"x": map[any]any{true: nil}}, "e": errors.New("bad")}
	v, err := toJSON(in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"1":["a"],"e":{"class":"*errors.errorString","message":"bad"},"m":{"x":{"true":null}}}` {
		t.Fatalf("%s", b)
	}
}

// rawResponse is a Dubbo response frame with the given hessian2 body bytes.
func rawResponse(id uint64, status byte, body []byte) []byte {
	b := []byte{0xda, 0xbb, dubbo.SerializationHessian2, status}
	b = appendUint64(b, id)
	b = appendUint32(b, uint32(len(body)))
	return append(b, body...)
}

// TestHostileDubboResponses: response bodies a broken or hostile provider can write, each of
// which dubbo-go-hessian2 and a plain tree walk would turn into a panic, a stack overflow (which
// ends the process) or an endless walk. Malformed ones become a 502 that says why; a value that
// holds itself (a Java object graph with back references) is answered with the cycle as null, as
// the Bolt side does.
func TestHostileDubboResponses(t *testing.T) {
	c := mustConfig(t, &bridgepb.Config{Protocol: bridgepb.Config_DUBBO})
	_, ex := c.Start(Request{Body: []byte(`{"service":"S","method":"m"}`)})
	// Level i of doubling is a list holding level i-1 twice, by reference: 2^40 values in 200 bytes.
	doubling := []byte{0x91, 'X', 0x90 + 41, 0x79, 0x91} // kind 1; a 41-value list; level 0 = [1]
	for i := 1; i <= 40; i++ {
		doubling = append(doubling, 0x7a, 'Q', 0x90+byte(i), 'Q', 0x90+byte(i)) // refs: 0 the outer list, i level i-1
	}
	deep := []byte{0x91}
	for range 200 {
		deep = append(deep, 0x79)
	}
	deep = append(deep, 'N')
	cases := []struct {
		name   string
		status byte
		body   []byte
		code   int
		want   string // in the JSON answer
	}{
		{"list that holds itself", dubbo.StatusOK, []byte{0x91, 0x7a, 0x91, 'Q', 0x90}, 200, `{"result":[1,null]}`},
		{"map that holds itself", dubbo.StatusOK, []byte{0x91, 'H', 0x01, 'a', 'Q', 0x90, 0x01, 'b', 0x92, 'Z'}, 200, `{"result":{"a":null,"b":2}}`},
		{"shared, not cyclic", dubbo.StatusOK, []byte{0x91, 0x7a, 0x79, 0x91, 'Q', 0x91}, 200, `{"result":[[1],[1]]}`},
		{"map keyed by bytes", dubbo.StatusOK, []byte{0x91, 'H', 0x21, 'x', 0x90, 'Z'}, 502, "malformed hessian2 value"},
		{"200 nested lists", dubbo.StatusOK, deep, 502, "malformed response body"},
		{"2^40 values by reference", dubbo.StatusOK, doubling, 502, "more than 1048576 values"},
		{"error message that holds itself", dubbo.StatusServerError, []byte{0x79, 'Q', 0x90}, 502, `"message":"[null]"`},
	}
	for _, tc := range cases {
		r := ex.OnUpstream(rawResponse(ex.id, tc.status, tc.body), false)
		if r == nil {
			t.Fatalf("%s: no answer", tc.name)
		}
		if body := r.JSON(); r.Status != tc.code || !strings.Contains(string(body), tc.want) || !json.Valid(body) {
			t.Errorf("%s: got %d %s, want %d with %s", tc.name, r.Status, body, tc.code, tc.want)
		}
	}
}
