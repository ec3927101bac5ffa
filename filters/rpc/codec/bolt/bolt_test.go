package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	hessian "github.com/apache/dubbo-go-hessian2"

	"github.com/govoy/govoy/filters/rpc/codec"
)

// sofaRequest mirrors the fields SOFARPC serializes for com.alipay.sofa.rpc.core.request.SofaRequest.
type sofaRequest struct {
	TargetAppName           string            `hessian:"targetAppName"`
	MethodName              string            `hessian:"methodName"`
	TargetServiceUniqueName string            `hessian:"targetServiceUniqueName"`
	RequestProps            map[string]string `hessian:"requestProps"`
	MethodArgSigs           []string          `hessian:"methodArgSigs"`
}

func (sofaRequest) JavaClassName() string { return "com.alipay.sofa.rpc.core.request.SofaRequest" }

func init() { hessian.RegisterPOJO(&sofaRequest{}) }

const sofaRequestClass = "com.alipay.sofa.rpc.core.request.SofaRequest"

// command is a test-side Bolt encoder, written from the protocol layout.
type command struct {
	proto, ver1, sw byte
	typ             byte
	cmd             uint16
	ver2            byte
	id              uint32
	codecID         byte
	timeout         int32
	status          uint16
	class           string
	header          [][2]string
	content         []byte
}

// null in a command's header stands for a null string (length -1).
const null = "\x00null"

func (c command) bytes() []byte {
	var b []byte
	b = append(b, c.proto)
	if c.proto == ProtoV2 {
		b = append(b, c.ver1)
	}
	b = append(b, c.typ)
	b = binary.BigEndian.AppendUint16(b, c.cmd)
	b = append(b, c.ver2)
	b = binary.BigEndian.AppendUint32(b, c.id)
	b = append(b, c.codecID)
	if c.proto == ProtoV2 {
		b = append(b, c.sw)
	}
	if c.typ == TypeResponse {
		b = binary.BigEndian.AppendUint16(b, c.status)
	} else {
		b = binary.BigEndian.AppendUint32(b, uint32(c.timeout))
	}
	var hdr []byte
	for _, kv := range c.header {
		for _, s := range kv {
			if s == null {
				hdr = binary.BigEndian.AppendUint32(hdr, math.MaxUint32) // length -1
				continue
			}
			hdr = binary.BigEndian.AppendUint32(hdr, uint32(len(s)))
			hdr = append(hdr, s...)
		}
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(c.class)))
	b = binary.BigEndian.AppendUint16(b, uint16(len(hdr)))
	b = binary.BigEndian.AppendUint32(b, uint32(len(c.content)))
	b = append(append(append(b, c.class...), hdr...), c.content...)
	if c.proto == ProtoV2 && c.ver1 == ver1CRC && c.sw&switchCRC != 0 {
		b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	}
	return b
}

// sofaCall builds a request shaped like a SOFARPC one: header map with the service unique name and
// method (the keys SOFARPC writes, see TestSOFARPCCapture), content = a hessian2 SofaRequest and
// the arguments (SOFARPC itself writes the content with sofa-hessian's draft grammar; the codec
// never reads it).
func sofaCall(t testing.TB, proto, ver1, sw byte, id uint32) []byte {
	t.Helper()
	e := hessian.NewEncoder()
	unique := "org.example.HelloService:1.0:blue"
	if err := e.Encode(&sofaRequest{TargetAppName: "hello-app", MethodName: "sayHello", TargetServiceUniqueName: unique, MethodArgSigs: []string{"java.lang.String"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.Encode("world"); err != nil {
		t.Fatal(err)
	}
	return command{
		proto: proto, ver1: ver1, sw: sw, typ: TypeRequest, cmd: CmdRPCRequest, ver2: 1, id: id, codecID: CodecHessian2, timeout: 3000,
		class: sofaRequestClass,
		header: [][2]string{
			{KeyService, unique}, {KeyTargetService, unique}, {KeyMethod, "sayHello"}, {KeyTargetApp, "hello-app"},
			{"sofa_head_generic_type", ""}, {"type", "sync"}, {"rpc_trace_context.sofaTraceId", "0a0b0c"},
		},
		content: e.Buffer(),
	}.bytes()
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

var shapes = []struct {
	name            string
	proto, ver1, sw byte
}{
	{"v1", ProtoV1, 0, 0},
	{"v2", ProtoV2, ver1Plain, 0},
	{"v2-crc", ProtoV2, ver1CRC, switchCRC},
}

func TestRequestRoundTrip(t *testing.T) {
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			b := sofaCall(t, sh.proto, sh.ver1, sh.sw, 21)
			f := mustDecode(t, b)
			if f.Err() != nil {
				t.Fatal(f.Err())
			}
			want := codec.Route{Service: "org.example.HelloService", Version: "1.0", Group: "blue", Method: "sayHello", Timeout: 3 * time.Second}
			if f.Route() != want {
				t.Fatalf("route %+v want %+v", f.Route(), want)
			}
			if f.Kind() != codec.KindRequest || f.ID() != 21 || f.IsHeartbeat() || f.Class() != sofaRequestClass || f.Version() != int(sh.proto) {
				t.Fatalf("kind %s id %d class %q version %d", f.Kind(), f.ID(), f.Class(), f.Version())
			}
			if v, _ := f.Headers().Get(KeyTargetApp); v != "hello-app" || f.Headers().Len() != 7 {
				t.Fatalf("headers: app %q len %d", v, f.Headers().Len())
			}
			// The content is untouched and still a SofaRequest the library can read.
			obj, err := hessian.NewDecoder(f.Content()).Decode()
			if err != nil || obj.(*sofaRequest).MethodName != "sayHello" {
				t.Fatalf("content: %v %v", obj, err)
			}
			out, _ := Codec{}.Encode(f, nil)
			if !bytes.Equal(out, b) {
				t.Fatal("unchanged frame re-encoded differently")
			}
			f.SetID(0xfffffffe)
			g := mustDecode(t, mustWire(t)(f, nil)) // CRC recomputed, else this fails
			if g.ID() != 0xfffffffe || g.Route() != want {
				t.Fatalf("after SetID: id %x route %+v", g.ID(), g.Route())
			}
		})
	}
}

func TestTargetServiceFallbackAndOneway(t *testing.T) {
	b := command{proto: ProtoV1, typ: TypeOnewayRequest, cmd: CmdRPCRequest, ver2: 1, id: 4, codecID: 1, timeout: -1,
		header: [][2]string{{KeyTargetService, "a.B:2.0"}, {KeyMethod, "m"}}}.bytes()
	f := mustDecode(t, b)
	if f.Route() != (codec.Route{Service: "a.B", Version: "2.0", Method: "m"}) || f.Kind() != codec.KindOnewayRequest {
		t.Fatalf("route %+v kind %s", f.Route(), f.Kind())
	}
	if _, err := (Codec{}).Hijack(f, codec.StatusTimeout, ""); !errors.Is(err, codec.ErrNotRequest) {
		t.Fatalf("hijack oneway: %v", err)
	}
}

func TestSetHeaderReencodes(t *testing.T) {
	for _, sh := range shapes {
		f := mustDecode(t, sofaCall(t, sh.proto, sh.ver1, sh.sw, 5))
		f.Headers().Set(KeyTargetApp, "other-app")
		f.Headers().Set("x-govoy-canary", "yes")
		out := mustWire(t)(f, nil)
		g := mustDecode(t, out)
		if a, _ := g.Headers().Get(KeyTargetApp); a != "other-app" || g.Headers().Len() != 8 || g.Route() != f.Route() || !bytes.Equal(g.Content(), f.Content()) {
			t.Fatalf("%s: app %q len %d route %+v", sh.name, a, g.Headers().Len(), g.Route())
		}
		if c, _ := g.Headers().Get("x-govoy-canary"); c != "yes" {
			t.Fatalf("%s: new header %q", sh.name, c)
		}
	}
}

func TestStreamByteByByte(t *testing.T) {
	var all []byte
	all = append(all, sofaCall(t, ProtoV1, 0, 0, 1)...)
	all = append(all, sofaCall(t, ProtoV2, ver1CRC, switchCRC, 2)...)
	all = append(all, mustWire(t)(Codec{}.Heartbeat(3), nil)...)
	all = append(all, command{proto: ProtoV2, ver1: ver1Plain, typ: TypeResponse, cmd: CmdRPCResponse, ver2: 1, id: 1, codecID: 1, status: StatusSuccess, class: "com.alipay.sofa.rpc.core.response.SofaResponse", content: []byte{'N'}}.bytes()...)
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
	if len(got) != 4 || got[0].ID() != 1 || got[1].ID() != 2 || !got[2].IsHeartbeat() || got[3].Kind() != codec.KindResponse || got[3].Status() != codec.StatusOK {
		t.Fatalf("got %d frames", len(got))
	}
	if got[1].Route().Method != "sayHello" || s.Buffered() != 0 {
		t.Fatalf("route %+v buffered %d", got[1].Route(), s.Buffered())
	}
}

func TestBadInput(t *testing.T) {
	good := sofaCall(t, ProtoV2, ver1CRC, switchCRC, 9)
	corrupt := append([]byte{}, good...)
	corrupt[len(corrupt)-10] ^= 0xff
	negative := sofaCall(t, ProtoV1, 0, 0, 9)
	negative[18] = 0x80 // contentLen < 0
	cases := map[string]struct {
		b    []byte
		want error
	}{
		"unknown protocol": {[]byte{9, 1}, codec.ErrMalformed},
		"unknown type":     {[]byte{1, 7}, codec.ErrMalformed},
		"unknown v2 ver1":  {[]byte{2, 9}, codec.ErrMalformed},
		"crc mismatch":     {corrupt, codec.ErrMalformed},
		"negative length":  {negative, codec.ErrMalformed},
		"oversized":        {command{proto: ProtoV1, typ: TypeRequest, cmd: 1, content: make([]byte, 2000)}.bytes()[:22], codec.ErrFrameTooLarge},
	}
	for name, tc := range cases {
		_, _, err := Codec{}.Decode(tc.b, codec.FromDownstream, 1024)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", name, err, tc.want)
		}
	}
	for i := 0; i < len(good); i++ { // every prefix is incomplete, never an error
		if f, n, err := (Codec{}).Decode(good[:i], codec.FromDownstream, 0); f != nil || n != 0 || err != nil {
			t.Fatalf("prefix %d: %v %d %v", i, f, n, err)
		}
	}
	// A header map that lies about a string length: frame decodes, Err says why.
	bad := command{proto: ProtoV1, typ: TypeRequest, cmd: 1, ver2: 1, id: 3, codecID: 1, header: [][2]string{{"k", "v"}}}.bytes()
	bad[22+3] = 200 // key length 200 inside a 10-byte map
	f := mustDecode(t, bad)
	if !errors.Is(f.Err(), codec.ErrBadContent) {
		t.Fatalf("bad header map: %v", f.Err())
	}
	if _, err := (Codec{}).Hijack(f, codec.StatusBadRequest, ""); err != nil {
		t.Fatal(err)
	}
}

func TestHeartbeat(t *testing.T) {
	for _, sh := range shapes {
		hb := command{proto: sh.proto, ver1: sh.ver1, sw: sh.sw, typ: TypeRequest, cmd: CmdHeartbeat, ver2: 1, id: 77, codecID: 1, timeout: -1}.bytes()
		f := mustDecode(t, hb)
		if !f.IsHeartbeat() || f.Kind() != codec.KindRequest {
			t.Fatalf("%s: heartbeat %v", sh.name, f.IsHeartbeat())
		}
		g := mustDecode(t, mustWire(t)(Codec{}.HeartbeatReply(f)))
		if !g.IsHeartbeat() || g.Kind() != codec.KindResponse || g.ID() != 77 || g.StatusCode() != StatusSuccess || g.Version() != int(sh.proto) || g.crc != f.crc {
			t.Fatalf("%s: reply kind %s id %d status %d version %d", sh.name, g.Kind(), g.ID(), g.StatusCode(), g.Version())
		}
	}
	own := mustDecode(t, mustWire(t)(Codec{}.Heartbeat(5), nil))
	if !own.IsHeartbeat() || own.ID() != 5 || own.Version() != ProtoV1 {
		t.Fatal("Heartbeat does not decode as a v1 heartbeat")
	}
	if _, err := (Codec{}).HeartbeatReply(mustDecode(t, sofaCall(t, 1, 0, 0, 1))); !errors.Is(err, codec.ErrNotRequest) {
		t.Fatalf("reply to a call: %v", err)
	}
}

func TestHijackStatuses(t *testing.T) {
	cases := map[codec.Status]uint32{
		codec.StatusNoRoute: StatusNoProcessor, codec.StatusNoProvider: StatusConnectionClosed, codec.StatusTimeout: StatusTimeout,
		codec.StatusRateLimited: StatusServerThreadpoolBusy, codec.StatusCircuitOpen: StatusServerThreadpoolBusy,
		codec.StatusBadRequest: StatusCodecException, codec.StatusServerError: StatusUnknown,
	}
	for _, sh := range shapes {
		req := mustDecode(t, sofaCall(t, sh.proto, sh.ver1, sh.sw, 1234))
		for st, code := range cases {
			g := mustDecode(t, mustWire(t)(Codec{}.Hijack(req, st, "ignored")))
			if g.StatusCode() != code || g.Kind() != codec.KindResponse || g.ID() != 1234 || g.CmdCode() != CmdRPCResponse || g.Version() != int(sh.proto) {
				t.Fatalf("%s %s: status %d kind %s id %d cmd %d", sh.name, st, g.StatusCode(), g.Kind(), g.ID(), g.CmdCode())
			}
			if st != codec.StatusCircuitOpen && g.Status() != st {
				t.Fatalf("%s: status maps back to %s", st, g.Status())
			}
		}
	}
}

func TestMatch(t *testing.T) {
	c := Codec{}
	req := sofaCall(t, ProtoV2, ver1CRC, switchCRC, 1)
	for n, want := range []codec.Match{codec.MatchMore, codec.MatchMore, codec.MatchMore, codec.MatchMore, codec.MatchMore, codec.MatchYes} {
		if got := c.Match(req[:n]); got != want {
			t.Fatalf("v2 prefix %d: %s want %s", n, got, want)
		}
	}
	if c.Match(sofaCall(t, ProtoV1, 0, 0, 1)[:4]) != codec.MatchYes || c.Match([]byte{0xda, 0xbb}) != codec.MatchNo || c.Match([]byte{1, 5}) != codec.MatchNo || c.Match([]byte("*1\r\n")) != codec.MatchNo {
		t.Fatal("match")
	}
}

func seeds(t testing.TB) map[string][]byte {
	req := mustDecode(t, sofaCall(t, ProtoV2, ver1CRC, switchCRC, 8))
	v1 := mustDecode(t, sofaCall(t, ProtoV1, 0, 0, 9))
	return map[string][]byte{
		"request-v1.bin":         sofaCall(t, ProtoV1, 0, 0, 1),
		"request-v2.bin":         sofaCall(t, ProtoV2, ver1Plain, 0, 2),
		"request-v2-crc.bin":     sofaCall(t, ProtoV2, ver1CRC, switchCRC, 3),
		"heartbeat-v1.bin":       mustWire(t)(Codec{}.Heartbeat(4), nil),
		"hijack-timeout-v2.bin":  mustWire(t)(Codec{}.Hijack(req, codec.StatusTimeout, "")),
		"hijack-timeout-v1.bin":  mustWire(t)(Codec{}.Hijack(v1, codec.StatusTimeout, "")),
		"hijack-busy-v1.bin":     mustWire(t)(Codec{}.Hijack(v1, codec.StatusRateLimited, "")),
		"hijack-no-route-v1.bin": mustWire(t)(Codec{}.Hijack(v1, codec.StatusNoRoute, "")),
		"response-v1.bin":        command{proto: ProtoV1, typ: TypeResponse, cmd: CmdRPCResponse, ver2: 1, id: 1, codecID: 1, class: "com.alipay.sofa.rpc.core.response.SofaResponse", content: []byte{'N'}}.bytes(),
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

// TestSOFARPCCapture decodes request frames a real SOFARPC 5.12.0 consumer sent over Bolt
// (captured by testdata/capture-sofarpc; the consumer's address in the trace id was rewritten to
// 127.0.0.1) and checks the routing fields against the consumer's configuration.
func TestSOFARPCCapture(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "sofarpc-request-*.bin"))
	if len(files) == 0 {
		t.Fatal("no captured SOFARPC frames in testdata (run filters/rpc/codec/testdata/capture-sofarpc)")
	}
	want := codec.Route{Service: "org.example.HelloService", Version: "1.0", Group: "blue", Method: "sayHello", Timeout: 3 * time.Second}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f := mustDecode(t, b)
		if f.Err() != nil || f.Route() != want || f.Kind() != codec.KindRequest || f.Version() != ProtoV1 || f.Class() != sofaRequestClass {
			t.Fatalf("%s: route %+v kind %s version %d class %q err %v", name, f.Route(), f.Kind(), f.Version(), f.Class(), f.Err())
		}
		if app, _ := f.Headers().Get("app"); app != "hello-client" {
			t.Fatalf("%s: app header %q", name, app)
		}
		// The content is sofa-hessian output, which uses the Hessian 2.0 draft grammar ('O' starts a
		// class definition): the codec never reads it, only carries it.
		c := f.Content()
		if len(c) == 0 || c[0] != 'O' || !bytes.Contains(c, []byte("org.example.HelloService:1.0:blue")) {
			t.Fatalf("%s: content %.60q", name, c)
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

// TestHeaderScanMatchesHeaders: routing reads the first service and method entries while
// decoding, and the header list built on demand holds the same entries, null ones dropped.
func TestHeaderScanMatchesHeaders(t *testing.T) {
	b := command{proto: ProtoV1, typ: TypeRequest, cmd: CmdRPCRequest, ver2: 1, id: 8, codecID: 1, timeout: 100,
		header: [][2]string{{null, "v"}, {KeyService, null}, {KeyService, "a.B:1:g:x"}, {KeyService, "c.D:2"},
			{"k", null}, {KeyMethod, "m"}, {KeyMethod, "m2"}, {KeyTargetService, "e.F"}}}.bytes()
	f := mustDecode(t, b)
	want := codec.Route{Service: "a.B", Version: "1", Group: "g:x", Method: "m", Timeout: 100 * time.Millisecond}
	if f.Err() != nil || f.Route() != want {
		t.Fatalf("route %+v (err %v), want %+v", f.Route(), f.Err(), want)
	}
	var got [][2]string
	f.Headers().Range(func(k, v string) bool {
		got = append(got, [2]string{k, v})
		return true
	})
	wantH := [][2]string{{KeyService, "a.B:1:g:x"}, {KeyService, "c.D:2"}, {KeyMethod, "m"}, {KeyMethod, "m2"}, {KeyTargetService, "e.F"}}
	if fmt.Sprint(got) != fmt.Sprint(wantH) {
		t.Fatalf("headers %v want %v", got, wantH)
	}
	// Unchanged headers copy through; a Set re-encodes and keeps the routing.
	f.Headers().Set("x", "y")
	g := mustDecode(t, mustWire(t)(f, nil))
	if v, _ := g.Headers().Get("x"); v != "y" || g.Route() != want || g.Headers().Len() != 6 {
		t.Fatalf("re-encoded: x %q route %+v len %d", v, g.Route(), g.Headers().Len())
	}
}
