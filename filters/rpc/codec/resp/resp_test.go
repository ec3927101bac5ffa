package resp

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govoy/govoy/filters/rpc/codec"
)

func cmd(args ...string) []byte {
	b := fmt.Appendf(nil, "*%d\r\n", len(args))
	for _, a := range args {
		b = fmt.Appendf(b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b
}

func mustDecode(t testing.TB, b []byte, side codec.Side) *Frame {
	t.Helper()
	f, n, err := Codec{}.Decode(b, side, 0)
	if err != nil || f == nil || n != len(b) {
		t.Fatalf("decode %q: frame=%v n=%d err=%v", b, f, n, err)
	}
	return f.(*Frame)
}

func TestCommandRoute(t *testing.T) {
	f := mustDecode(t, cmd("set", "user:1", "v"), codec.FromDownstream)
	if f.Route() != (codec.Route{Method: "SET", Service: "user:1"}) || f.Kind() != codec.KindRequest || f.Args() != 3 || f.Arg(2) != "v" {
		t.Fatalf("route %+v", f.Route())
	}
	in := mustDecode(t, []byte("get  k1\r\n"), codec.FromDownstream)
	if in.Route() != (codec.Route{Method: "GET", Service: "k1"}) {
		t.Fatalf("inline route %+v", in.Route())
	}
	if !mustDecode(t, cmd("PING"), codec.FromDownstream).IsHeartbeat() || mustDecode(t, cmd("PING", "hi"), codec.FromDownstream).IsHeartbeat() {
		t.Fatal("heartbeat detection")
	}
	f.Headers().Set("k", "v")
	if _, err := f.AppendWire(nil); err == nil {
		t.Fatal("headers on a RESP frame encoded")
	}
}

func TestBadInput(t *testing.T) {
	cases := map[string]struct {
		b    string
		side codec.Side
		want error
	}{
		"count not a number":    {"*x\r\n", codec.FromDownstream, codec.ErrMalformed},
		"argument not bulk":     {"*1\r\n:1\r\n", codec.FromDownstream, codec.ErrMalformed},
		"missing CR":            {"*1\n", codec.FromDownstream, codec.ErrMalformed},
		"bulk without CRLF":     {"$1\r\nab\r\n", codec.FromUpstream, codec.ErrMalformed},
		"unknown reply type":    {"?x\r\n", codec.FromUpstream, codec.ErrMalformed},
		"huge bulk":             {"$99999999\r\n", codec.FromUpstream, codec.ErrFrameTooLarge},
		"endless line":          {strings.Repeat("a", 2000), codec.FromDownstream, codec.ErrFrameTooLarge},
		"deep nesting":          {strings.Repeat("*1\r\n", MaxDepth+1) + ":1\r\n", codec.FromUpstream, codec.ErrMalformed},
		"zero-argument command": {"*0\r\n", codec.FromDownstream, codec.ErrMalformed},
	}
	for name, tc := range cases {
		if _, _, err := (Codec{}).Decode([]byte(tc.b), tc.side, 1024); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v want %v", name, err, tc.want)
		}
	}
	full := cmd("SET", "k", strings.Repeat("v", 100))
	for i := 0; i < len(full); i++ {
		if f, n, err := (Codec{}).Decode(full[:i], codec.FromDownstream, 0); f != nil || n != 0 || err != nil {
			t.Fatalf("prefix %d: %v %d %v", i, f, n, err)
		}
	}
}

func TestHijackAndHeartbeat(t *testing.T) {
	req := mustDecode(t, cmd("GET", "k"), codec.FromDownstream)
	for _, st := range []codec.Status{codec.StatusNoRoute, codec.StatusNoProvider, codec.StatusTimeout, codec.StatusRateLimited, codec.StatusCircuitOpen, codec.StatusBadRequest, codec.StatusServerError} {
		h, err := Codec{}.Hijack(req, st, "line1\r\nline2")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := h.AppendWire(nil)
		g := mustDecode(t, b, codec.FromUpstream)
		want := st
		if st == codec.StatusBadRequest {
			want = codec.StatusServerError // both are plain ERR
		}
		if !g.IsError() || g.Status() != want || strings.Count(string(b), "\r\n") != 1 {
			t.Fatalf("%s: %q decodes as %s", st, b, g.Status())
		}
	}
	if _, err := (Codec{}).Hijack(req, codec.StatusOK, ""); err == nil {
		t.Fatal("hijack with OK accepted")
	}
	hb := Codec{}.Heartbeat(0)
	rep, err := Codec{}.HeartbeatReply(hb)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := rep.AppendWire(nil); string(b) != "+PONG\r\n" {
		t.Fatalf("reply %q", b)
	}
	if _, err := (Codec{}).HeartbeatReply(req); !errors.Is(err, codec.ErrNotRequest) {
		t.Fatalf("reply to GET: %v", err)
	}
}

// startRedis runs a real redis-server on a free loopback port in a temp dir.
func startRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().(*net.TCPAddr)
	l.Close()
	dir := t.TempDir()
	c := exec.Command(bin, "--bind", "127.0.0.1", "--port", fmt.Sprint(addr.Port), "--save", "", "--appendonly", "no", "--dir", dir)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	for i := 0; i < 100; i++ {
		if conn, err := net.Dial("tcp", addr.String()); err == nil {
			conn.Close()
			return addr.String()
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("redis-server did not listen on %s", addr)
	return ""
}

// TestAgainstRealRedis sends commands a client would and cuts the server's replies with the codec,
// one byte at a time, in RESP2 and RESP3.
func TestAgainstRealRedis(t *testing.T) {
	addr := startRedis(t)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	type step struct {
		req     []byte
		wantErr bool
		prefix  string // reply starts with
	}
	steps := []step{
		{cmd("PING"), false, "+PONG"},
		{cmd("SET", "k1", strings.Repeat("v", 5000)), false, "+OK"},
		{cmd("GET", "k1"), false, "$5000"},
		{cmd("GET", "missing"), false, "$-1"},
		{cmd("RPUSH", "l", "a", "b", "c"), false, ":3"},
		{cmd("LRANGE", "l", "0", "-1"), false, "*3"},
		{cmd("HSET", "h", "f1", "x", "f2", "y"), false, ":2"},
		{cmd("NOSUCHCMD"), true, "-ERR"},
		{cmd("INCR", "l"), true, "-WRONGTYPE"},
		{cmd("HELLO", "3"), false, "%"},
		{cmd("HGETALL", "h"), false, "%2"},
		{cmd("SMEMBERS", "nothing"), false, "~0"},
		{[]byte("PING\r\n"), false, "+PONG"}, // inline
	}
	up := codec.NewStream(Codec{}, codec.FromUpstream, 0)
	rd := bufio.NewReader(conn)
	for i, st := range steps {
		req := mustDecode(t, st.req, codec.FromDownstream)
		out, _ := Codec{}.Encode(req, nil)
		if _, err := conn.Write(out); err != nil {
			t.Fatal(err)
		}
		var rep codec.Frame
		for rep == nil {
			c, err := rd.ReadByte()
			if err != nil {
				t.Fatalf("step %d (%s): read: %v", i, req.Route().Method, err)
			}
			up.Write([]byte{c})
			if rep, err = up.Next(); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
		}
		b, _ := rep.AppendWire(nil)
		rf := rep.(*Frame)
		if !strings.HasPrefix(string(b), st.prefix) || rf.IsError() != st.wantErr || (rf.Status() != codec.StatusOK) != st.wantErr {
			t.Fatalf("step %d (%s): reply %.40q error=%v status=%s", i, req.Route().Method, b, rf.IsError(), rf.Status())
		}
	}
	if up.Buffered() != 0 || rd.Buffered() != 0 {
		t.Fatalf("unconsumed bytes: %d %d", up.Buffered(), rd.Buffered())
	}
}

func TestMatch(t *testing.T) {
	c := Codec{}
	if c.Match(nil) != codec.MatchMore || c.Match([]byte("*")) != codec.MatchMore || c.Match([]byte("*1")) != codec.MatchYes || c.Match([]byte("GET")) != codec.MatchNo || c.Match([]byte{0xda, 0xbb}) != codec.MatchNo {
		t.Fatal("match")
	}
}

func seeds() map[string]struct {
	b    []byte
	side codec.Side
} {
	type s = struct {
		b    []byte
		side codec.Side
	}
	return map[string]s{
		"command-set":    {cmd("SET", "k", "v"), codec.FromDownstream},
		"command-inline": {[]byte("PING\r\n"), codec.FromDownstream},
		"reply-array":    {[]byte("*3\r\n$1\r\na\r\n:2\r\n*-1\r\n"), codec.FromUpstream},
		"reply-resp3":    {[]byte("%1\r\n+k\r\n|1\r\n+ttl\r\n:3\r\n~1\r\n,1.5\r\n"), codec.FromUpstream},
		"reply-error":    {[]byte("-ERR unknown command\r\n"), codec.FromUpstream},
	}
}

// TestSeeds checks the committed seeds still decode; GOVOY_UPDATE_SEEDS=1 rewrites them and the
// fuzz corpus (whose first byte selects the side).
func TestSeeds(t *testing.T) {
	if os.Getenv("GOVOY_UPDATE_SEEDS") == "1" {
		dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, s := range seeds() {
			if err := os.WriteFile(filepath.Join("testdata", name+".resp"), s.b, 0o644); err != nil {
				t.Fatal(err)
			}
			in := append([]byte{byte(s.side)}, s.b...)
			if err := os.WriteFile(filepath.Join(dir, "seed-"+name), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", in), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, s := range seeds() {
		b, err := os.ReadFile(filepath.Join("testdata", name+".resp"))
		if err != nil {
			t.Fatalf("%v (run with GOVOY_UPDATE_SEEDS=1 to create)", err)
		}
		mustDecode(t, b, s.side)
	}
}

func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		side := codec.Side(in[0] & 1)
		b := in[1:]
		fr, n, err := Codec{}.Decode(b, side, 1<<16)
		if err != nil {
			if !errors.Is(err, codec.ErrMalformed) && !errors.Is(err, codec.ErrFrameTooLarge) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if fr == nil {
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("n=%d of %d", n, len(b))
		}
		_, _ = fr.Route(), fr.Status()
		if side == codec.FromDownstream {
			if _, err := (Codec{}).Hijack(fr, codec.StatusTimeout, "x"); err != nil {
				t.Fatal(err)
			}
		}
	})
}
