package dubbo

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	hessian "github.com/apache/dubbo-go-hessian2"

	"github.com/govoy/govoy/filters/rpc/codec"
)

type order struct {
	ID    int64
	Items []string
	Price float64
	Meta  map[string]string
}

func (order) JavaClassName() string { return "org.example.Order" }

func init() { hessian.RegisterPOJO(&order{}) }

// packRequest encodes a request the way dubbo-go does: dubbo-go's client codec is this library's
// HessianCodec.Write (path, version, method, parameter types, arguments, attachments).
func packRequest(t testing.TB, id int64, svc hessian.Service, args []any, att map[string]string) []byte {
	t.Helper()
	typ := hessian.PackageRequest_TwoWay
	b, err := hessian.NewHessianCodec(nil).Write(svc, hessian.DubboHeader{SerialID: SerializationHessian2, Type: typ, ID: id}, hessian.NewRequest(args, att))
	if err != nil {
		t.Fatalf("pack request: %v", err)
	}
	return b
}

func demoService() hessian.Service {
	return hessian.Service{Path: "org.example.DemoService", Interface: "org.example.DemoService", Group: "g1", Version: "1.0.0", Method: "sayHello", Timeout: 1500 * time.Millisecond}
}

func demoArgs() []any {
	return []any{"world", int32(7), &order{ID: 9, Items: []string{"a", "b"}, Price: 1.5, Meta: map[string]string{"k": "v"}}, []any{int64(1), "x"}, map[any]any{"m": int32(1)}}
}

func mustDecode(t testing.TB, b []byte) *Frame {
	t.Helper()
	f, n, err := Codec{}.Decode(b, codec.FromDownstream, 0)
	if err != nil || f == nil {
		t.Fatalf("decode: frame=%v err=%v", f, err)
	}
	if n != len(b) {
		t.Fatalf("decode used %d of %d bytes", n, len(b))
	}
	return f.(*Frame)
}

// libraryRequest decodes a request with dubbo-go-hessian2 in full, as a Dubbo provider would.
func libraryRequest(t testing.TB, b []byte) []any {
	t.Helper()
	hc := hessian.NewHessianCodec(bufio.NewReaderSize(bytes.NewReader(b), len(b)))
	var h hessian.DubboHeader
	if err := hc.ReadHeader(&h); err != nil {
		t.Fatalf("library header: %v", err)
	}
	out := make([]any, 7)
	if err := hc.ReadBody(out); err != nil {
		t.Fatalf("library body: %v", err)
	}
	return out
}

func TestRequestRoutingFieldsMatchLibrary(t *testing.T) {
	cases := []struct {
		name string
		svc  hessian.Service
		args []any
		att  map[string]string
	}{
		{"pojo and collections", demoService(), demoArgs(), map[string]string{"tag": "canary", "unicode": "值😀"}},
		{"no args", hessian.Service{Path: "a.B", Method: "ping"}, []any{}, nil},
		{"primitives", hessian.Service{Path: "a.C", Version: "2", Method: "m"}, []any{true, int64(5), 2.5, []byte("bin"), []string{"s"}}, map[string]string{}},
		{"long strings", hessian.Service{Path: "a.D", Method: "m"}, []any{strings.Repeat("長", 40000)}, map[string]string{"big": strings.Repeat("v", 5000)}},
		// Converted (surrogate pairs) and chunked strings do not point into the frame.
		{"non-ascii and chunked names", hessian.Service{Path: "a.値😀", Method: strings.Repeat("m", 40000), Group: "g😀", Version: "v😀", Timeout: time.Second}, []any{"x"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := packRequest(t, 42, tc.svc, tc.args, tc.att)
			f := mustDecode(t, b)
			if f.Err() != nil {
				t.Fatalf("Err: %v", f.Err())
			}
			lib := libraryRequest(t, b)
			r := f.Route()
			if f.DubboVersion() != lib[0] || r.Service != lib[1] || r.Version != lib[2] || r.Method != lib[3] || f.ParamTypes() != lib[4] {
				t.Fatalf("route %+v version %q types %q; library %v", r, f.DubboVersion(), f.ParamTypes(), lib[:5])
			}
			libAtt := lib[6].(map[string]string)
			for k, v := range libAtt {
				if k == "dubbo" { // the library adds the dubbo version to its map
					continue
				}
				if got, ok := f.Headers().Get(k); !ok || got != v {
					t.Fatalf("attachment %q: got %q want %q", k, got, v)
				}
			}
			if f.Headers().Len() != len(libAtt)-1 {
				t.Fatalf("%d attachments, library has %d", f.Headers().Len(), len(libAtt)-1)
			}
			if r.Group != tc.svc.Group || r.Timeout != tc.svc.Timeout {
				t.Fatalf("group %q timeout %v, want %q %v", r.Group, r.Timeout, tc.svc.Group, tc.svc.Timeout)
			}
			if f.Kind() != codec.KindRequest || f.ID() != 42 || f.IsHeartbeat() {
				t.Fatalf("kind %s id %d heartbeat %v", f.Kind(), f.ID(), f.IsHeartbeat())
			}
			out, err := f.AppendWire(nil)
			if err != nil || !bytes.Equal(out, b) {
				t.Fatalf("unchanged frame re-encoded differently (err %v)", err)
			}
		})
	}
}

func TestSetIDRewritesInPlace(t *testing.T) {
	b := packRequest(t, 1, demoService(), demoArgs(), nil)
	f := mustDecode(t, b)
	f.SetID(0x0102030405060708)
	out, _ := Codec{}.Encode(f, nil)
	g := mustDecode(t, out)
	if g.ID() != 0x0102030405060708 || g.Route() != f.Route() {
		t.Fatalf("id %x route %+v", g.ID(), g.Route())
	}
	if !bytes.Equal(out[16:], b[16:]) {
		t.Fatal("SetID touched the body")
	}
}

func TestSetAttachmentReencodes(t *testing.T) {
	b := packRequest(t, 3, demoService(), demoArgs(), map[string]string{"tag": "blue"})
	f := mustDecode(t, b)
	f.Headers().Set("tag", "green")
	f.Headers().Set("x-govoy", "1")
	out, err := f.AppendWire([]byte("prefix"))
	if err != nil {
		t.Fatal(err)
	}
	if string(out[:6]) != "prefix" {
		t.Fatal("AppendWire lost dst")
	}
	out = out[6:]
	lib := libraryRequest(t, out)
	att := lib[6].(map[string]string)
	if att["tag"] != "green" || att["x-govoy"] != "1" || att["group"] != "g1" || att["timeout"] != "1500" {
		t.Fatalf("library sees attachments %v", att)
	}
	g := mustDecode(t, out)
	if v, _ := g.Headers().Get("tag"); v != "green" || g.Route() != f.Route() || g.Err() != nil {
		t.Fatalf("re-decoded tag %q route %+v err %v", v, g.Route(), g.Err())
	}
}

// TestSetAttachmentOnNullAttachments: a body whose attachments are a hessian2 null (or missing)
// gets a map in that place, so the provider, and a decoder reading the frame again, see the new
// attachment; bytes after the null stay where they were.
func TestSetAttachmentOnNullAttachments(t *testing.T) {
	fields := []any{"2.0.2", "a.S", "1.0.0", "m", "Ljava/lang/String;", "x"}
	for name, body := range map[string][]byte{
		"null":                 hessianValues(t, append(fields, nil)...),
		"missing":              hessianValues(t, fields...),
		"null, then more data": append(hessianValues(t, append(fields, nil)...), 0x90),
	} {
		f := mustDecode(t, rawFrame(flagRequest|flagTwoWay|SerializationHessian2, 4, body))
		if f.Err() != nil || f.Headers().Len() != 0 {
			t.Fatalf("%s: err %v, %d headers", name, f.Err(), f.Headers().Len())
		}
		f.Headers().Set("x-govoy", "1")
		out, err := f.AppendWire(nil)
		if err != nil {
			t.Fatal(err)
		}
		g := mustDecode(t, out)
		if v, _ := g.Headers().Get("x-govoy"); v != "1" || g.Route() != f.Route() || g.Err() != nil {
			t.Fatalf("%s: re-decoded x-govoy %q route %+v err %v", name, v, g.Route(), g.Err())
		}
		if name != "null, then more data" {
			if att := libraryRequest(t, out)[6].(map[string]string); att["x-govoy"] != "1" {
				t.Fatalf("%s: the library sees attachments %v", name, att)
			}
		}
	}
}

func TestStreamByteByByte(t *testing.T) {
	req := packRequest(t, 10, demoService(), demoArgs(), nil)
	hb := Codec{}.Heartbeat(11)
	hbBytes, _ := hb.AppendWire(nil)
	rsp, err := hessian.NewHessianCodec(nil).Write(hessian.Service{}, hessian.DubboHeader{SerialID: 2, Type: hessian.PackageResponse, ID: 10, ResponseStatus: hessian.Response_OK}, hessian.NewResponse("hi", nil, map[string]string{"dubbo": "2.0.2"}))
	if err != nil {
		t.Fatal(err)
	}
	all := append(append(append([]byte{}, req...), hbBytes...), rsp...)
	s := codec.NewStream(Codec{}, codec.FromDownstream, 0)
	var got []codec.Frame
	for i := range all {
		s.Write(all[i : i+1])
		for {
			f, err := s.Next()
			if err != nil {
				t.Fatalf("byte %d: %v", i, err)
			}
			if f == nil {
				break
			}
			got = append(got, f)
		}
	}
	if len(got) != 3 {
		t.Fatalf("got %d frames", len(got))
	}
	if got[0].Route().Method != "sayHello" || !got[1].IsHeartbeat() || got[1].ID() != 11 || got[2].Kind() != codec.KindResponse || got[2].Status() != codec.StatusOK {
		t.Fatalf("frames: %+v / hb=%v / %s %s", got[0].Route(), got[1].IsHeartbeat(), got[2].Kind(), got[2].Status())
	}
	if s.Buffered() != 0 {
		t.Fatalf("%d bytes left", s.Buffered())
	}
}

func TestBadInput(t *testing.T) {
	if _, _, err := (Codec{}).Decode([]byte{0xca, 0xfe}, codec.FromDownstream, 0); !errors.Is(err, codec.ErrMalformed) {
		t.Fatalf("bad magic: %v", err)
	}
	if _, _, err := (Codec{}).Decode([]byte{0x00}, codec.FromDownstream, 0); !errors.Is(err, codec.ErrMalformed) {
		t.Fatalf("bad first byte: %v", err)
	}
	hdr := []byte{0xda, 0xbb, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff}
	if _, _, err := (Codec{}).Decode(hdr, codec.FromDownstream, 1<<20); !errors.Is(err, codec.ErrFrameTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
	if f, n, err := (Codec{}).Decode(hdr[:15], codec.FromDownstream, 0); f != nil || n != 0 || err != nil {
		t.Fatalf("partial header: %v %d %v", f, n, err)
	}
	// A sound frame with an unreadable body decodes, reports Err, and can be answered.
	bad := append(append([]byte{}, hdr[:12]...), 0, 0, 0, 3, 0x05, 'a', 'b')
	f := mustDecode(t, bad)
	if !errors.Is(f.Err(), codec.ErrBadContent) {
		t.Fatalf("bad body: %v", f.Err())
	}
	if _, err := (Codec{}).Hijack(f, codec.StatusBadRequest, "cannot read request"); err != nil {
		t.Fatalf("hijack bad request: %v", err)
	}
	// Another serialization: header fields work, routing fields are reported missing.
	other := packRequest(t, 5, demoService(), nil, nil)
	other[2] = other[2]&^serialMask | 6
	if g := mustDecode(t, other); !errors.Is(g.Err(), codec.ErrBadContent) || g.ID() != 5 {
		t.Fatalf("fastjson request: id %d err %v", g.ID(), g.Err())
	}
	if _, err := countParams("[[L"); err == nil {
		t.Fatal("bad descriptor accepted")
	}
}

func TestHeartbeat(t *testing.T) {
	b, err := hessian.NewHessianCodec(nil).Write(hessian.Service{}, hessian.DubboHeader{SerialID: 2, Type: hessian.PackageHeartbeat, ID: 77}, hessian.NewRequest([]any{}, nil))
	if err != nil {
		t.Fatal(err)
	}
	f := mustDecode(t, b)
	if !f.IsHeartbeat() || f.Kind() != codec.KindRequest || f.ID() != 77 {
		t.Fatalf("heartbeat %v kind %s id %d", f.IsHeartbeat(), f.Kind(), f.ID())
	}
	rep, err := Codec{}.HeartbeatReply(f)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := rep.AppendWire(nil)
	var h hessian.DubboHeader
	hc := hessian.NewHessianCodec(bufio.NewReader(bytes.NewReader(out)))
	if err := hc.ReadHeader(&h); err != nil {
		t.Fatal(err)
	}
	if h.Type&hessian.PackageHeartbeat == 0 || h.Type&hessian.PackageResponse == 0 || h.ID != 77 || h.ResponseStatus != hessian.Response_OK {
		t.Fatalf("library sees reply header %+v", h)
	}
	if g := mustDecode(t, out); !g.IsHeartbeat() || g.Kind() != codec.KindResponse {
		t.Fatal("reply does not decode as a heartbeat response")
	}
	if _, err := (Codec{}).HeartbeatReply(mustDecode(t, packRequest(t, 1, demoService(), nil, nil))); !errors.Is(err, codec.ErrNotRequest) {
		t.Fatalf("reply to a call: %v", err)
	}
}

func TestHijackParsedByClientDecoder(t *testing.T) {
	req := mustDecode(t, packRequest(t, 99, demoService(), demoArgs(), nil))
	cases := map[codec.Status]byte{
		codec.StatusNoRoute: 60, codec.StatusNoProvider: 60, codec.StatusTimeout: 31, codec.StatusRateLimited: 100,
		codec.StatusCircuitOpen: 100, codec.StatusBadRequest: 40, codec.StatusServerError: 80,
	}
	for st, code := range cases {
		msg := "govoy: " + st.String()
		rsp, err := Codec{}.Hijack(req, st, msg)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := rsp.AppendWire(nil)
		g := mustDecode(t, out)
		if g.StatusCode() != uint32(code) || g.ID() != 99 || g.Kind() != codec.KindResponse {
			t.Fatalf("%s: status %d id %d kind %s", st, g.StatusCode(), g.ID(), g.Kind())
		}
		// dubbo-go's client path: header, then the error body as the exception message.
		hc := hessian.NewHessianCodec(bufio.NewReader(bytes.NewReader(out)))
		var h hessian.DubboHeader
		if err := hc.ReadHeader(&h); err != nil {
			t.Fatal(err)
		}
		resp := &hessian.Response{}
		if err := hc.ReadBody(resp); err != nil {
			t.Fatal(err)
		}
		if h.ResponseStatus != code || resp.Exception == nil || !strings.Contains(resp.Exception.Error(), msg) {
			t.Fatalf("%s: library header %+v exception %v", st, h, resp.Exception)
		}
	}
	if g := mustDecode(t, mustWire(t)(Codec{}.Hijack(req, codec.StatusTimeout, "t"))); g.Status() != codec.StatusTimeout {
		t.Fatalf("timeout maps back to %s", g.Status())
	}
	oneway := packRequest(t, 5, demoService(), nil, nil)
	oneway[2] &^= flagTwoWay
	if _, err := (Codec{}).Hijack(mustDecode(t, oneway), codec.StatusTimeout, ""); !errors.Is(err, codec.ErrNotRequest) {
		t.Fatalf("hijack oneway: %v", err)
	}
}

// mustWire returns a function taking a (frame, error) pair, so it can wrap Hijack calls directly.
func mustWire(t testing.TB) func(codec.Frame, error) []byte {
	return func(f codec.Frame, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		b, err := f.AppendWire(nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

func TestMatch(t *testing.T) {
	c := Codec{}
	if c.Match(nil) != codec.MatchMore || c.Match([]byte{0xda}) != codec.MatchMore || c.Match([]byte{0xda, 0xbb}) != codec.MatchYes || c.Match([]byte{0xda, 0x00}) != codec.MatchNo || c.Match([]byte("GET")) != codec.MatchNo {
		t.Fatal("match")
	}
}

// seeds are the frames kept in testdata/ and in the fuzz corpus.
func seeds(t testing.TB) map[string][]byte {
	rsp, err := hessian.NewHessianCodec(nil).Write(hessian.Service{}, hessian.DubboHeader{SerialID: 2, Type: hessian.PackageResponse, ID: 10, ResponseStatus: hessian.Response_OK}, hessian.NewResponse(&order{ID: 1, Items: []string{"x"}}, nil, map[string]string{"dubbo": "2.0.2"}))
	if err != nil {
		t.Fatal(err)
	}
	req := mustDecode(t, packRequest(t, 8, demoService(), demoArgs(), nil))
	return map[string][]byte{
		"request-pojo.bin":        packRequest(t, 7, demoService(), demoArgs(), map[string]string{"tag": "canary"}),
		"request-noargs.bin":      packRequest(t, 1, hessian.Service{Path: "a.B", Method: "ping"}, []any{}, nil),
		"response-ok.bin":         rsp,
		"heartbeat.bin":           mustWire(t)(Codec{}.Heartbeat(3), nil),
		"hijack-timeout.bin":      mustWire(t)(Codec{}.Hijack(req, codec.StatusTimeout, "upstream timeout")),
		"hijack-no-provider.bin":  mustWire(t)(Codec{}.Hijack(req, codec.StatusNoProvider, "no provider for org.example.DemoService")),
		"hijack-rate-limited.bin": mustWire(t)(Codec{}.Hijack(req, codec.StatusRateLimited, "rate limited")),
		"heartbeat-reply.bin":     mustWire(t)(Codec{}.HeartbeatReply(mustDecode(t, mustWire(t)(Codec{}.Heartbeat(4), nil)))),
		"readonly-event.bin":      rawFrame(flagRequest|flagEvent|SerializationHessian2, 6, hessianValues(t, "R")),
		"generic-invoke.bin":      genericRequest(t, "$invoke", genericDesc, "sayHello"),
	}
}

// TestSeeds checks the committed seed frames still decode; GOVOY_UPDATE_SEEDS=1 rewrites them
// and the fuzz corpus.
func TestSeeds(t *testing.T) {
	s := seeds(t)
	if os.Getenv("GOVOY_UPDATE_SEEDS") == "1" {
		writeSeeds(t, s)
	}
	for name := range s {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatalf("%v (run with GOVOY_UPDATE_SEEDS=1 to create)", err)
		}
		if f := mustDecode(t, b); f.Err() != nil {
			t.Fatalf("%s: %v", name, f.Err())
		}
	}
}

// TestDubboGoCapture decodes request frames a real dubbo-go v3.3.0 consumer sent (captured by
// testdata/capture, see its main.go) and checks the routing fields against what the consumer was
// configured with and against a full decode by dubbo-go-hessian2.
func TestDubboGoCapture(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "dubbogo-request-*.bin"))
	if len(files) == 0 {
		t.Fatal("no captured dubbo-go frames in testdata (run filters/rpc/codec/testdata/capture)")
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f := mustDecode(t, b)
		if f.Err() != nil {
			t.Fatalf("%s: %v", name, f.Err())
		}
		// dubbo-go enforces its timeout itself and sends the attachment "timeout": "0".
		if v, _ := f.Headers().Get(KeyTimeout); v != "0" {
			t.Fatalf("%s: timeout attachment %q", name, v)
		}
		want := codec.Route{Service: "org.example.DemoService", Method: "SayHello", Version: "1.0.0", Group: "g1"}
		if f.Route() != want || f.Kind() != codec.KindRequest {
			t.Fatalf("%s: route %+v kind %s, want %+v", name, f.Route(), f.Kind(), want)
		}
		lib := libraryRequest(t, b)
		if f.DubboVersion() != lib[0] || f.ParamTypes() != lib[4] || len(lib[5].([]any)) != 2 {
			t.Fatalf("%s: version %q types %q, library %v", name, f.DubboVersion(), f.ParamTypes(), lib[:6])
		}
		for k, v := range lib[6].(map[string]string) {
			if got, ok := f.Headers().Get(k); k != "dubbo" && (!ok || got != v) {
				t.Fatalf("%s: attachment %q = %q, library %q", name, k, got, v)
			}
		}
	}
}

// TestJavaDubboCapture decodes request frames a real Java Dubbo 3.2.9 consumer sent (hessian2 by
// hessian-lite, an Order argument with a class definition; captured by testdata/capture-dubbo-java).
func TestJavaDubboCapture(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "java-request-*.bin"))
	if len(files) == 0 {
		t.Fatal("no captured Java Dubbo frames in testdata (run filters/rpc/codec/testdata/capture-dubbo-java)")
	}
	want := codec.Route{Service: "org.example.DemoService", Method: "sayHello", Version: "1.0.0", Group: "g1", Timeout: 2500 * time.Millisecond}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f := mustDecode(t, b)
		if f.Err() != nil || f.Route() != want || f.ParamTypes() != "Ljava/lang/String;Lorg/example/Order;" {
			t.Fatalf("%s: route %+v types %q err %v", name, f.Route(), f.ParamTypes(), f.Err())
		}
		if app, _ := f.Headers().Get("remote.application"); app != "demo-consumer" {
			t.Fatalf("%s: remote.application %q", name, app)
		}
		// Rewriting an attachment keeps the body readable by a full decoder.
		f.Headers().Set("tag", "canary")
		out := mustWire(t)(f, nil)
		if att := libraryRequest(t, out)[6].(map[string]string); att["tag"] != "canary" || att["timeout"] != "2500" {
			t.Fatalf("%s: re-encoded attachments %v", name, att)
		}
	}
}

// TestFrameAllocation pins the struct size allocFrame's buffer sizes assume, and checks a decoded
// frame costs one allocation.
func TestFrameAllocation(t *testing.T) {
	if got := unsafe.Sizeof(Frame{}); got != frameSize {
		t.Fatalf("Frame is %d bytes, frameSize says %d: update frameSize", got, frameSize)
	}
	for _, n := range []int{1, 100, 300, 500, 900, 2000, 4000, 5000} {
		f := allocFrame(n)
		if len(f.raw) != n || cap(f.raw) != n {
			t.Fatalf("allocFrame(%d): len %d cap %d", n, len(f.raw), cap(f.raw))
		}
	}
}

func TestParseMillisMatchesStrconv(t *testing.T) {
	for _, v := range []string{"0", "7", "3000", "007", "+5", "-1", "-0", "", "1a", " 1", "999999999999999999",
		"9223372036854775807", "9223372036854775808", "99999999999999999999", "1_000"} {
		got, gerr := parseMillis(v)
		want, werr := strconv.ParseInt(v, 10, 64)
		if got != want || (gerr == nil) != (werr == nil) {
			t.Errorf("%q: got %d, %v; strconv %d, %v", v, got, gerr, want, werr)
		}
	}
}

// Distinct classes for the argument lists below (hessian2 numbers class definitions in order).
type (
	c0 struct{ A int32 }
	c1 struct{ A int32 }
	c2 struct{ A int32 }
	c3 struct{ A int32 }
	c4 struct{ A int32 }
	c5 struct{ A int32 }
	c6 struct{ A int32 }
	c7 struct{ A, B string }
)

func (c0) JavaClassName() string { return "t.C0" }
func (c1) JavaClassName() string { return "t.C1" }
func (c2) JavaClassName() string { return "t.C2" }
func (c3) JavaClassName() string { return "t.C3" }
func (c4) JavaClassName() string { return "t.C4" }
func (c5) JavaClassName() string { return "t.C5" }
func (c6) JavaClassName() string { return "t.C6" }
func (c7) JavaClassName() string { return "t.C7" }

func init() {
	for _, p := range []hessian.POJO{&c0{}, &c1{}, &c2{}, &c3{}, &c4{}, &c5{}, &c6{}, &c7{}} {
		hessian.RegisterPOJO(p)
	}
}

// rawRequest encodes a request body with one encoder, so objects in the attachments refer to the
// class definitions the arguments made.
func rawRequest(t *testing.T, args []any, att map[any]any) []byte {
	t.Helper()
	types := strings.Repeat("Ljava/lang/Object;", len(args))
	vals := append(append([]any{"2.0.2", "a.S", "", "m", types}, args...), att)
	return rawFrame(flagRequest|flagTwoWay|SerializationHessian2, 9, hessianValues(t, vals...))
}

// rawFrame is a Dubbo frame with flags, request id id and body.
func rawFrame(flags, id byte, body []byte) []byte {
	b := []byte{magicHigh, magicLow, flags, 0, 0, 0, 0, 0, 0, 0, 0, id, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[12:], uint32(len(body)))
	return append(b, body...)
}

// hessianValues encodes vs with one encoder, one after the other.
func hessianValues(t testing.TB, vs ...any) []byte {
	t.Helper()
	e := hessian.NewEncoder()
	for _, v := range vs {
		if err := e.Encode(v); err != nil {
			t.Fatal(err)
		}
	}
	return e.Buffer()
}

// TestLazyAttachmentsWithObjects: the header list built on demand matches the attachments, also
// when attachment values are objects of classes the arguments defined (few classes: read from the
// saved class table; many: the arguments are skipped again), and re-encoding keeps them.
func TestLazyAttachmentsWithObjects(t *testing.T) {
	few := []any{&c7{A: "x", B: "y"}}
	many := []any{&c0{1}, &c1{2}, &c2{3}, &c3{4}, &c4{5}, &c5{6}, &c6{7}, &c7{A: "x", B: "y"}}
	for name, args := range map[string][]any{"few classes": few, "many classes": many} {
		t.Run(name, func(t *testing.T) {
			att := map[any]any{"group": "g", "timeout": "250", "obj": &c7{A: "p", B: "q"}, "version": "2.1", "tag": "t1"}
			b := rawRequest(t, args, att)
			f := mustDecode(t, b)
			if f.Err() != nil {
				t.Fatal(f.Err())
			}
			want := codec.Route{Service: "a.S", Method: "m", Version: "2.1", Group: "g", Timeout: 250 * time.Millisecond}
			if f.Route() != want {
				t.Fatalf("route %+v want %+v", f.Route(), want)
			}
			h := f.Headers()
			if h.Len() != 4 {
				t.Fatalf("%d headers, want the 4 string ones", h.Len())
			}
			for _, k := range []string{"group", "timeout", "version", "tag"} {
				if v, _ := h.Get(k); v != att[k] {
					t.Fatalf("%s = %q want %q", k, v, att[k])
				}
			}
			h.Set("x-added", "1")
			out, err := f.AppendWire(nil)
			if err != nil {
				t.Fatal(err)
			}
			g := mustDecode(t, out)
			if v, _ := g.Headers().Get("x-added"); g.Err() != nil || v != "1" || g.Headers().Len() != 5 || g.Route() != want {
				t.Fatalf("re-encoded: err %v x-added %q len %d route %+v", g.Err(), v, g.Headers().Len(), g.Route())
			}
			// The library reads the re-encoded body, object attachment included.
			d := hessian.NewDecoder(g.Body())
			var last any
			for range 5 + len(args) + 1 {
				if last, err = d.Decode(); err != nil {
					t.Fatalf("library decode: %v", err)
				}
			}
			m, _ := last.(map[any]any)
			if o, _ := m["obj"].(*c7); o == nil || o.A != "p" || m["x-added"] != "1" {
				t.Fatalf("library attachments %v", last)
			}
		})
	}
}

// genericRequest encodes a generic invocation the way Java's GenericService.$invoke (and govoy's
// HTTP bridge) sends it: method, parameter types and arguments of the real call as the three
// arguments of $invoke (or $invokeAsync).
func genericRequest(t testing.TB, wireMethod, types string, first any) []byte {
	t.Helper()
	body := hessianValues(t, "2.0.2", "org.example.Greeter", "1.0.0", wireMethod, types, first,
		[]string{"java.lang.String"}, []any{"world"}, map[any]any{"group": "g1", "generic": "true", "timeout": "900"})
	return rawFrame(flagRequest|flagTwoWay|SerializationHessian2, 5, body)
}

// TestGenericInvocationRoutesOnRealMethod: a generic call's Route names the method its first
// argument carries, so routes and per-method limits treat it like the typed call; the bytes sent
// on are untouched (the provider still sees $invoke).
func TestGenericInvocationRoutesOnRealMethod(t *testing.T) {
	cases := []struct {
		name, wire, types string
		first             any
		method            string // Route().Method
		generic           bool
	}{
		{"$invoke", "$invoke", genericDesc, "sayHello", "sayHello", true},
		{"$invokeAsync", "$invokeAsync", genericDesc, "sayHello", "sayHello", true},
		{"non-ASCII method", "$invoke", genericDesc, "grüße", "grüße", true},
		{"long method", "$invoke", genericDesc, strings.Repeat("m", 300), strings.Repeat("m", 300), true},
		{"null method", "$invoke", genericDesc, nil, "$invoke", false},
		{"empty method", "$invoke", genericDesc, "", "$invoke", false},
		{"not the generic signature", "$invoke", strings.Repeat("Ljava/lang/Object;", 3), "sayHello", "$invoke", false},
		{"other $ method", "$echo", genericDesc, "sayHello", "$echo", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := genericRequest(t, c.wire, c.types, c.first)
			f := mustDecode(t, b)
			if f.Err() != nil {
				t.Fatal(f.Err())
			}
			r := f.Route()
			if r.Method != c.method || f.IsGeneric() != c.generic || f.WireMethod() != c.wire {
				t.Fatalf("method %q generic %v wire %q; want %q %v %q", r.Method, f.IsGeneric(), f.WireMethod(), c.method, c.generic, c.wire)
			}
			if r.Service != "org.example.Greeter" || r.Version != "1.0.0" || r.Group != "g1" || r.Timeout != 900*time.Millisecond {
				t.Fatalf("route %+v", r)
			}
			// Setting an attachment re-encodes them and nothing else: the provider reads the same call.
			f.Headers().Set("x-tag", "canary")
			out, err := f.AppendWire(nil)
			if err != nil {
				t.Fatal(err)
			}
			got := libraryRequest(t, out)
			if got[3] != c.wire || got[4] != c.types {
				t.Fatalf("the provider would read method %v types %v", got[3], got[4])
			}
			if g := mustDecode(t, out); g.Route() != r || g.WireMethod() != c.wire {
				t.Fatalf("re-encoded route %+v wire %q", g.Route(), g.WireMethod())
			}
		})
	}
}

// TestReadOnlyEventIsGoAway: a provider's read-only event (oneway or two-way, the data "R") is a
// go-away notice; heartbeats, other events and calls are not.
func TestReadOnlyEventIsGoAway(t *testing.T) {
	const ev byte = flagRequest | flagEvent | SerializationHessian2
	r := hessianValues(t, "R")
	for name, c := range map[string]struct {
		b    []byte
		want bool
	}{
		"oneway read-only":    {rawFrame(ev, 6, r), true},
		"two-way read-only":   {rawFrame(ev|flagTwoWay, 6, r), true},
		"long-form string":    {rawFrame(ev, 6, []byte{'S', 0, 1, 'R'}), true},
		"other event data":    {rawFrame(ev, 6, hessianValues(t, "RR")), false},
		"trailing bytes":      {rawFrame(ev, 6, append(r, 'N')), false},
		"truncated string":    {rawFrame(ev, 6, []byte{0x02, 'R'}), false},
		"read-only response":  {rawFrame(flagEvent|SerializationHessian2, 6, r), false},
		"not an event":        {rawFrame(flagRequest|SerializationHessian2, 6, r), false},
		"other serialization": {rawFrame(flagRequest|flagEvent|6, 6, r), false},
		"heartbeat":           {mustWire(t)(Codec{}.Heartbeat(3), nil), false},
		"call":                {packRequest(t, 1, demoService(), demoArgs(), nil), false},
	} {
		f := mustDecode(t, c.b)
		if f.IsGoAway() != c.want {
			t.Errorf("%s: IsGoAway %v", name, !c.want)
		}
		if c.want && f.IsHeartbeat() {
			t.Errorf("%s: also a heartbeat", name)
		}
	}
}
