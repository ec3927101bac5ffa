package integration

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	hessian "github.com/apache/dubbo-go-hessian2"
	xds "github.com/cncf/xds/go/xds/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/govoy/govoy/filters/configcheck"
	"github.com/govoy/govoy/filters/rpc/codec"
	"github.com/govoy/govoy/filters/rpc/codec/dubbo"
)

// End to end through the ABI host's network listener: a dubbo-go v3.3.0 consumer -> abihost running
// govoy.so's "govoy-rpc" network filter -> dubbo-go v3.3.0 providers. The peers are
// testdata/rpcpeers/dubbogo, their own module, built here with `go build`.

var (
	rpcPeerOnce sync.Once
	rpcPeerBin  string
	rpcPeerErr  error
)

func rpcPeer(t testing.TB) string {
	t.Helper()
	needBuild(t)
	rpcPeerOnce.Do(func() {
		rpcPeerBin = filepath.Join(workDir, "rpc-dubbogo-peer")
		cmd := exec.Command("go", "build", "-o", rpcPeerBin, ".")
		cmd.Dir = filepath.Join(repoRoot, "integration/testdata/rpcpeers/dubbogo")
		if b, err := cmd.CombinedOutput(); err != nil {
			rpcPeerErr = fmt.Errorf("build dubbo-go peers: %w\n%s", err, b)
		}
	})
	if rpcPeerErr != nil {
		t.Fatal(rpcPeerErr)
	}
	return rpcPeerBin
}

func rpcFreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type rpcProvider struct {
	addr string
	cmd  *exec.Cmd
}

// startRPCProvider runs a dubbo-go provider of org.example.Greeter answering "<name>:<arg>".
func startRPCProvider(t testing.TB, name, version, group string, delay time.Duration) *rpcProvider {
	t.Helper()
	bin := rpcPeer(t)
	port := rpcFreePort(t)
	cmd := exec.Command(bin, "server", "-port", fmt.Sprint(port), "-name", name, "-version", version, "-group", group, "-delay", delay.String())
	logs := &lockedBuf{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.Dir = t.TempDir()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("provider %s log tail:\n%s", name, tail(logs.String(), 3000))
		}
	})
	p := &rpcProvider{addr: fmt.Sprintf("127.0.0.1:%d", port), cmd: cmd}
	// Wait until it listens; bounded by a generous start-up limit.
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err == nil {
			c.Close()
			requireLoopbackOnly(t, "dubbo-go provider "+name, cmd.Process.Pid, port)
			return p
		}
		if i > 600 {
			t.Fatalf("provider %s not listening after 60s: %s", name, tail(logs.String(), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rpcConsume runs the dubbo-go consumer and returns its result lines ("ok ..." / "err ..."). The
// consumer waits (-hold) after its last call so its listening sockets can be checked: none but 127.x.
func rpcConsume(t *testing.T, addr string, args ...string) []string {
	t.Helper()
	cmd := exec.Command(rpcPeer(t), append([]string{"client", "-addr", addr, "-hold"}, args...)...)
	stderr := &lockedBuf{}
	cmd.Stderr = stderr
	cmd.Dir = t.TempDir()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	defer func() {
		if !waited { // a check failed: don't leave the held consumer behind
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	var lines []string
	done := false
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 4<<20) // dubbo-go's error logs are long lines
	for sc.Scan() {
		switch l := sc.Text(); {
		case l == "done":
			done = true
			requireLoopbackOnly(t, "dubbo-go consumer", cmd.Process.Pid, 0)
			stdin.Close() // ends -hold
		case strings.HasPrefix(l, "ok "), strings.HasPrefix(l, "err "):
			lines = append(lines, l)
		}
	}
	stdin.Close()               // ends -hold if "done" never came
	io.Copy(io.Discard, stdout) // after a scan error, so the consumer never blocks on a full pipe
	err = cmd.Wait()
	waited = true
	if err != nil || !done {
		t.Fatalf("consumer %v: %v (done line seen: %v)\n%s", args, err, done, tail(stderr.String(), 3000))
	}
	return lines
}

// childListeningOn returns the pid of this test process's child that has a listening TCP socket on
// port, on any address (startPeer keeps its *exec.Cmd; the port names the peer).
func childListeningOn(t testing.TB, port int) int {
	t.Helper()
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	me := strconv.Itoa(os.Getpid())
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil { // gone meanwhile
			continue
		}
		ppid := ""
		for _, l := range strings.Split(string(st), "\n") {
			if v, ok := strings.CutPrefix(l, "PPid:"); ok {
				ppid = strings.TrimSpace(v)
				break
			}
		}
		if ppid != me {
			continue
		}
		ls, err := procListeners(pid)
		if err != nil {
			continue
		}
		for _, ap := range ls {
			if int(ap.Port()) == port {
				return pid
			}
		}
	}
	t.Fatalf("no child process of the test listens on port %d", port)
	return 0
}

// rpcHost starts the ABI host with govoy.so's govoy-rpc filter configured by cfg (JSON).
func rpcHost(t testing.TB, cfg string) *host {
	t.Helper()
	t.Setenv("GODEBUG", "cgocheck=0") // as netEnv: Envoy's golang network filter needs it
	var v map[string]any
	if err := json.Unmarshal([]byte(cfg), &v); err != nil {
		t.Fatal(err)
	}
	s, err := structpb.NewStruct(v)
	if err != nil {
		t.Fatal(err)
	}
	a, err := anypb.New(&xds.TypedStruct{TypeUrl: "type.googleapis.com/govoy.rpc.proxy.v1.Config", Value: s})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := proto.Marshal(a)
	return startHost(t, buildGovoy(t), "--network", "--plugin-name", "govoy-rpc", "--config", writeFile(t, "rpc.pb", b))
}

func rpcWantLines(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %q, want %d lines like %q", what, got, len(want), want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) && !strings.Contains(got[i], want[i]) {
			t.Fatalf("%s: line %d = %q, want %q", what, i, got[i], want[i])
		}
	}
}

// dubboRouting is the routing scenario with dubbo-go peers: start runs govoy-rpc with a config
// (JSON) and returns the address it listens on.
func dubboRouting(t *testing.T, start func(cfg string) string) {
	v1 := startRPCProvider(t, "v1", "1.0.0", "", 0)
	v2 := startRPCProvider(t, "v2", "2.0.0", "", 0)
	gray := startRPCProvider(t, "gray", "1.0.0", "gray", 0)
	addr := start(fmt.Sprintf(`{
	  "protocols": ["dubbo", "bolt"],
	  "routes": [
	    {"match": {"service": "org.example.Greeter", "version": "2.0.0"}, "service": "v2"},
	    {"match": {"service": "org.example.Greeter", "group": "gray"}, "service": "gray"},
	    {"match": {"service": "org.example.Greeter"}, "service": "v1"}
	  ],
	  "services": [
	    {"name": "v1", "endpoints": [{"address": %q}]},
	    {"name": "v2", "endpoints": [{"address": %q}]},
	    {"name": "gray", "endpoints": [{"address": %q}]}
	  ]}`, v1.addr, v2.addr, gray.addr))
	rpcWantLines(t, "version 1.0.0", rpcConsume(t, addr, "-version", "1.0.0", "-n", "3", "-arg", "x"), "ok v1:x", "ok v1:x", "ok v1:x")
	rpcWantLines(t, "version 2.0.0", rpcConsume(t, addr, "-version", "2.0.0", "-arg", "y"), "ok v2:y")
	rpcWantLines(t, "group gray", rpcConsume(t, addr, "-version", "1.0.0", "-group", "gray", "-arg", "z"), "ok gray:z")
	rpcWantLines(t, "unknown interface", rpcConsume(t, addr, "-interface", "org.example.Nobody"), "govoy: no route")
}

func TestRPCDubboRoutingThroughHost(t *testing.T) {
	dubboRouting(t, func(cfg string) string { return rpcHost(t, cfg).addr })
}

// TestRealEnvoyContribRPC runs the routing scenario with govoy.so's govoy-rpc inside a contrib
// Envoy (ENVOY_BIN). The bootstrap it would use is checked offline in any case.
func TestRealEnvoyContribRPC(t *testing.T) {
	probe := rpcBootstrap(t, "/etc/envoy/govoy.so", `{"protocols":["dubbo"],"routes":[{"service":"s"}],
	  "services":[{"name":"s","endpoints":[{"address":"127.0.0.2:20880"}]}]}`)
	js, _ := json.Marshal(probe)
	if ps := configcheck.Check("rpc bootstrap", js); len(ps) != 0 {
		t.Fatalf("the bootstrap of the real-Envoy variant is invalid:\n%s", configcheck.Summary(ps))
	}
	bin := contribEnvoy(t)
	so := buildGovoy(t)
	dubboRouting(t, func(cfg string) string { return startEnvoy(t, bin, rpcBootstrap(t, so, cfg)) })
}

// rpcBootstrap is a static bootstrap whose one listener (127.0.0.1, port 0) runs so's govoy-rpc
// network filter with cfg (JSON), as envoy-configs/rpc.yaml does.
func rpcBootstrap(t *testing.T, so, cfg string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(cfg), &v); err != nil {
		t.Fatal(err)
	}
	addr := map[string]any{"socket_address": map[string]any{"address": "127.0.0.1", "port_value": 0}}
	return map[string]any{
		"admin": map[string]any{"address": addr},
		"static_resources": map[string]any{"listeners": []any{map[string]any{
			"name":    "rpc",
			"address": addr,
			"filter_chains": []any{map[string]any{"filters": []any{map[string]any{
				"name": "envoy.filters.network.golang",
				"typed_config": map[string]any{
					"@type":              "type.googleapis.com/envoy.extensions.filters.network.golang.v3alpha.Config",
					"is_terminal_filter": true,
					"library_id":         "govoy",
					"library_path":       so,
					"plugin_name":        "govoy-rpc",
					"plugin_config": map[string]any{
						"@type":    "type.googleapis.com/xds.type.v3.TypedStruct",
						"type_url": "type.googleapis.com/govoy.rpc.proxy.v1.Config",
						"value":    v,
					},
				},
			}}}},
		}}},
	}
}

func TestRPCDubboTimeoutAndKilledProvider(t *testing.T) {
	slow := startRPCProvider(t, "slow", "1.0.0", "slow", 3*time.Second)
	doomed := startRPCProvider(t, "doomed", "1.0.0", "doomed", 30*time.Second)
	rpcRelay := newRPCRelay(t, doomed.addr)
	h := rpcHost(t, fmt.Sprintf(`{
	  "protocols": ["dubbo"],
	  "routes": [
	    {"match": {"group": "slow"}, "service": "slow", "timeout": "0.2s"},
	    {"match": {"group": "doomed"}, "service": "doomed", "timeout": "60s"}
	  ],
	  "services": [
	    {"name": "slow", "endpoints": [{"address": %q}]},
	    {"name": "doomed", "endpoints": [{"address": %q}]}
	  ]}`, slow.addr, rpcRelay.addr()))
	// The consumer waits 10s; the route's 200ms timeout answers first with Dubbo's timeout status.
	rpcWantLines(t, "slow provider", rpcConsume(t, h.addr, "-version", "1.0.0", "-group", "slow", "-timeout", "10s"), "no response within 200ms")

	// The doomed provider is killed while the request waits upstream: the consumer gets an error
	// response, not a hang.
	done := make(chan []string, 1)
	go func() { done <- rpcConsume(t, h.addr, "-version", "1.0.0", "-group", "doomed", "-timeout", "30s") }()
	rpcRelay.waitRequest(t)
	doomed.cmd.Process.Kill()
	rpcRelay.cut()
	select {
	case got := <-done:
		rpcWantLines(t, "killed provider", got, "upstream connection closed")
	case <-time.After(25 * time.Second):
		t.Fatal("consumer hung after its provider died")
	}
	// Nobody listens any more: the next call says there is no provider.
	rpcWantLines(t, "after the kill", rpcConsume(t, h.addr, "-version", "1.0.0", "-group", "doomed"), "connect failed")
}

func TestRPCHeartbeatAnsweredByProxy(t *testing.T) {
	h := rpcHost(t, `{"protocols":["dubbo"],"routes":[{"service":"s"}],"services":[{"name":"s","endpoints":[{"address":"127.0.0.1:1"}]}]}`)
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for id := uint64(1); id <= 3; id++ {
		hb, _ := dubbo.Codec{}.Heartbeat(id).AppendWire(nil)
		c.Write(hb)
		f := rpcReadDubboFrame(t, c)
		if !f.IsHeartbeat() || f.Kind() != codec.KindResponse || f.ID() != id {
			t.Fatalf("heartbeat %d: got kind %s heartbeat %v id %d", id, f.Kind(), f.IsHeartbeat(), f.ID())
		}
	}
}

func rpcReadDubboFrame(t *testing.T, c net.Conn) codec.Frame {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	hdr := make([]byte, 16)
	if _, err := io.ReadFull(c, hdr); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 16+binary.BigEndian.Uint32(hdr[12:]))
	copy(b, hdr)
	if _, err := io.ReadFull(c, b[16:]); err != nil {
		t.Fatal(err)
	}
	f, _, err := dubbo.Codec{}.Decode(b, codec.FromUpstream, 0)
	if err != nil || f == nil {
		t.Fatalf("decode %x: %v", b, err)
	}
	return f
}

// rpcRelay forwards TCP to a provider and reports when a request (not a heartbeat) went through, so
// the test kills the provider exactly while a request is pending.
type rpcRelay struct {
	l     net.Listener
	to    string
	seen  chan struct{}
	once  sync.Once
	mu    sync.Mutex
	conns []net.Conn
}

func newRPCRelay(t *testing.T, to string) *rpcRelay {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &rpcRelay{l: l, to: to, seen: make(chan struct{})}
	t.Cleanup(r.cut)
	go func() {
		for {
			down, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", to)
			if err != nil {
				down.Close()
				continue
			}
			r.mu.Lock()
			r.conns = append(r.conns, down, up)
			r.mu.Unlock()
			go io.Copy(down, up)
			go r.pump(up, down)
		}
	}()
	return r
}

func (r *rpcRelay) addr() string { return r.l.Addr().String() }

func (r *rpcRelay) pump(up net.Conn, down net.Conn) {
	st := codec.NewStream(dubbo.Codec{}, codec.FromDownstream, 0)
	buf := make([]byte, 4096)
	for {
		n, err := down.Read(buf)
		if n > 0 {
			up.Write(buf[:n])
			st.Write(buf[:n])
			for {
				f, _ := st.Next()
				if f == nil {
					break
				}
				if !f.IsHeartbeat() && f.Kind() == codec.KindRequest {
					r.once.Do(func() { close(r.seen) })
				}
			}
		}
		if err != nil {
			up.Close()
			return
		}
	}
}

func (r *rpcRelay) waitRequest(t *testing.T) {
	t.Helper()
	select {
	case <-r.seen:
	case <-time.After(30 * time.Second):
		t.Fatal("no request reached the provider")
	}
}

// cut closes the relay's listener and connections (the provider's side of the network dies).
func (r *rpcRelay) cut() {
	r.l.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conns {
		c.Close()
	}
}

// rpcBench sends b.N Greet requests (hessian2, as dubbo-go encodes them) over parallel
// connections to addr, one in flight per connection, and reports p99 latency.
func rpcBench(b *testing.B, addr string) {
	var mu sync.Mutex
	var lat []time.Duration
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		var mine []time.Duration
		for id := int64(1); pb.Next(); id++ {
			frame, err := hessian.NewHessianCodec(nil).Write(
				hessian.Service{Path: "org.example.Greeter", Interface: "org.example.Greeter", Version: "1.0.0", Method: "Greet", Timeout: 5 * time.Second},
				hessian.DubboHeader{SerialID: dubbo.SerializationHessian2, Type: hessian.PackageRequest_TwoWay, ID: id},
				hessian.NewRequest([]any{"bench"}, nil))
			if err != nil {
				b.Error(err)
				return
			}
			start := time.Now()
			c.Write(frame)
			for {
				f := rpcReadFrame(b, c)
				if f == nil {
					return
				}
				if f.IsHeartbeat() {
					continue
				}
				if f.ID() != uint64(id) || f.Status() != codec.StatusOK {
					b.Errorf("response id %d status %d for %d", f.ID(), f.StatusCode(), id)
					return
				}
				break
			}
			mine = append(mine, time.Since(start))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-us")
	}
}

// rpcReadFrame reads one Dubbo frame; nil after an error (reported).
func rpcReadFrame(b *testing.B, c net.Conn) codec.Frame {
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	hdr := make([]byte, 16)
	if _, err := io.ReadFull(c, hdr); err != nil {
		b.Error(err)
		return nil
	}
	buf := make([]byte, 16+binary.BigEndian.Uint32(hdr[12:]))
	copy(buf, hdr)
	if _, err := io.ReadFull(c, buf[16:]); err != nil {
		b.Error(err)
		return nil
	}
	f, _, err := dubbo.Codec{}.Decode(buf, codec.FromUpstream, 0)
	if err != nil || f == nil {
		b.Errorf("decode: %v", err)
		return nil
	}
	return f
}

// BenchmarkRPCDubbo compares a dubbo-go provider called directly with the same calls through the
// ABI host running govoy-rpc (one Go network filter hop, shared multiplexed upstream connection).
func BenchmarkRPCDubbo(b *testing.B) {
	p := startRPCProvider(b, "bench", "1.0.0", "", 0)
	b.Run("direct", func(b *testing.B) { rpcBench(b, p.addr) })
	h := rpcHost(b, fmt.Sprintf(`{"protocols":["dubbo"],"routes":[{"service":"s"}],
	  "services":[{"name":"s","endpoints":[{"address":%q}]}]}`, p.addr))
	b.Run("via-host", func(b *testing.B) { rpcBench(b, h.addr) })
}
