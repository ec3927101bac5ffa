package envoybridge

import (
	"strings"
	"testing"

	hessian "github.com/apache/dubbo-go-hessian2"
	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"

	"github.com/govoy/govoy/filters/bridge"
	"github.com/govoy/govoy/filters/bridge/bridgepb"
	"github.com/govoy/govoy/filters/rpc/codec"
	"github.com/govoy/govoy/filters/rpc/codec/dubbo"
)

// Fakes of the SDK types: only the methods the bridge calls are implemented; any other call panics
// through the nil embedded interface, which the test would see.
type reqHeaders struct {
	api.RequestHeaderMap
	path string
	h    map[string]string
}

func (r *reqHeaders) Path() string { return r.path }
func (r *reqHeaders) Get(k string) (string, bool) {
	v, ok := r.h[k]
	return v, ok
}

type respHeaders struct {
	api.ResponseHeaderMap
	h map[string]string
}

func (r *respHeaders) Set(k, v string) { r.h[k] = v }

type buffer struct {
	api.BufferInstance
	b []byte
}

func (b *buffer) Bytes() []byte         { return b.b }
func (b *buffer) Set(p []byte) error    { b.b = append([]byte(nil), p...); return nil }
func (b *buffer) Len() int              { return len(b.b) }
func (b *buffer) Append(p []byte) error { b.b = append(b.b, p...); return nil }

func newStream(t *testing.T) api.HttpTcpBridge {
	cfg, err := bridge.NewConfig(&bridgepb.Config{Protocol: bridgepb.Config_DUBBO, PathTemplate: "/rpc/{service}/{method}",
		Headers: &bridgepb.Config_Headers{Group: "x-group"}})
	if err != nil {
		t.Fatal(err)
	}
	return Factory(cfg, nil)
}

// TestStreamPhases drives the bridge the way upstream_request.cc does: headers (StopAndBuffer),
// the whole body, then upstream bytes in pieces until the response is complete.
func TestStreamPhases(t *testing.T) {
	s := newStream(t)
	hdr := &reqHeaders{path: "/rpc/org.example.S/hi", h: map[string]string{"x-group": "g9", bridge.TimeoutHeader: "700"}}
	out := &buffer{}
	if st := s.EncodeHeaders(hdr, out, false); st != api.HttpTcpBridgeStopAndBuffer || out.Len() != 0 {
		t.Fatalf("EncodeHeaders: %v, %d bytes", st, out.Len())
	}
	body := &buffer{b: []byte(`{"args":[{"type":"String","value":"x"}]}`)}
	if st := s.EncodeData(body, true); st != api.HttpTcpBridgeContinue {
		t.Fatalf("EncodeData: %v", st)
	}
	f, n, err := dubbo.Codec{}.Decode(body.b, codec.FromDownstream, 0)
	if err != nil || n != len(body.b) {
		t.Fatalf("request frame: %v", err)
	}
	if r := f.Route(); r.Service != "org.example.S" || r.Method != "hi" || f.(*dubbo.Frame).WireMethod() != "$invoke" || r.Group != "g9" || r.Timeout.Milliseconds() != 700 {
		t.Fatalf("route %+v", r)
	}
	e := hessian.NewEncoder()
	e.Encode(int32(1))
	e.Encode("pong")
	resp := []byte{0xda, 0xbb, 2, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, byte(len(e.Buffer()))}
	copy(resp[4:12], body.b[4:12]) // same request id
	resp = append(resp, e.Buffer()...)
	rh := &respHeaders{h: map[string]string{}}
	up := &buffer{}
	up.Append(resp[:9])
	if st := s.OnUpstreamData(rh, up, false); st != api.HttpTcpBridgeStopAndBuffer || len(rh.h) != 0 {
		t.Fatalf("partial: %v %v", st, rh.h)
	}
	up.Append(resp[9:])
	if st := s.OnUpstreamData(rh, up, false); st != api.HttpTcpBridgeEndStream {
		t.Fatalf("complete: %v", st)
	}
	if rh.h[":status"] != "200" || rh.h["content-type"] != "application/json" || string(up.b) != `{"result":"pong"}` {
		t.Fatalf("response %v %s", rh.h, up.b)
	}
	s.OnDestroy()
}

// TestStreamPanicIsContained: a broken SDK object makes the bridge end the stream, not crash.
func TestStreamPanicIsContained(t *testing.T) {
	s := newStream(t)
	out := &buffer{}
	// Path() on a header map whose embedded interface is nil panics inside EncodeHeaders.
	if st := s.EncodeHeaders(&struct{ api.RequestHeaderMap }{}, out, true); st != api.HttpTcpBridgeEndStream || !strings.Contains(string(out.b), `"error":"internal"`) {
		t.Fatalf("panic not contained: %v %s", st, out.b)
	}
}

func TestParser(t *testing.T) {
	if _, err := (Parser{}).Parse(nil); err == nil {
		t.Fatal("nil config accepted")
	}
}
