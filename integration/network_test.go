package integration

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	xds "github.com/cncf/xds/go/xds/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// echoServer is a TCP upstream that echoes what it reads and closes after the peer's FIN.
func echoServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return l.Addr().String()
}

func netConfig(t *testing.T, upstream string) string {
	t.Helper()
	v, _ := structpb.NewStruct(map[string]any{"upstream": upstream})
	a, err := anypb.New(&xds.TypedStruct{TypeUrl: "type.googleapis.com/abinet.Config", Value: v})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := proto.Marshal(a)
	return writeFile(t, "net.pb", b)
}

// readLine reads one line; the deadline only bounds a hung test.
func readLine(t *testing.T, c net.Conn, r *bufio.Reader) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read: %v (got %q)", err, line)
	}
	return strings.TrimSuffix(line, "\n")
}

// Envoy's golang network filter "is designed to be run with GODEBUG=cgocheck=0" (its docs): the
// SDK passes Go strings holding Go pointers to C for filter state.
func netEnv(t *testing.T) { t.Setenv("GODEBUG", "cgocheck=0") }

func TestNetworkFilterProxiesThroughGoUpstream(t *testing.T) {
	needBuild(t)
	netEnv(t)
	h := startHost(t, netSO, "--network", "--plugin-name", "abinet", "--config", netConfig(t, echoServer(t)))
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	c.Write([]byte("hello\n"))
	if got := readLine(t, c, r); got != "go:hello" {
		t.Fatalf("got %q", got)
	}
	c.Write([]byte("again\n"))
	if got := readLine(t, c, r); got != "go:again" {
		t.Fatalf("got %q", got)
	}
	// Addresses through envoyGoFilterDownstreamInfo.
	c.Write([]byte("state?\n"))
	if got, want := readLine(t, c, r), "peer="+c.LocalAddr().String()+" local="+h.addr; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	c.Close()
	var s stats
	for i := 0; i < 100; i++ { // bounded wait for the close to travel host -> Go -> upstream
		if s = h.stats(t); s.Counters["net.downstream_closed"] == 1 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	want := map[string]uint64{"net.downstream_conns": 1, "net.downstream_closed": 1, "net.upstream_conns": 1,
		"net.upstream_ready": 1}
	for k, v := range want {
		if s.Counters[k] != v {
			t.Fatalf("%s = %d, want %d (%v)", k, s.Counters[k], v, s.Counters)
		}
	}
	// Go saw the downstream close and closed its upstream, whose LocalClose came back to Go.
	var logs string
	for i := 0; i < 100; i++ {
		if logs = h.logs(t); strings.Contains(logs, "abinet upstream event LocalClose") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, want := range []string{"abinet downstream event RemoteClose", "abinet upstream event LocalClose"} {
		if !strings.Contains(logs, want) {
			t.Fatalf("host logs lack %q:\n%s", want, logs)
		}
	}
}

func TestNetworkFilterUpstreamFailure(t *testing.T) {
	needBuild(t)
	netEnv(t)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := l.Addr().String()
	l.Close()
	h := startHost(t, netSO, "--network", "--plugin-name", "abinet", "--config", netConfig(t, dead))
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("x\n"))
	r := bufio.NewReader(c)
	if got := readLine(t, c, r); got != "upstream failure 2" { // RemoteConnectionFailure
		t.Fatalf("got %q", got)
	}
	// The Go side wrote with end_stream: the host closes after flushing.
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("want EOF after end_stream, got %v", err)
	}
	if s := h.stats(t); s.Counters["net.upstream_fail"] != 1 {
		t.Fatalf("counters %v", s.Counters)
	}
}
