package integration

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/govoy/govoy/filters/rpc/codec"
	"github.com/govoy/govoy/filters/rpc/codec/bolt"
)

// SOFARPC 5.12.0 (Bolt) peers from testdata/rpcpeers/sofarpc, built with Maven (offline when the
// local repository has them) into this test binary's work dir.

var (
	sofaOnce sync.Once
	sofaCP   string // java classpath: classes + dependencies
	sofaErr  error
)

func sofaPeers(t *testing.T) string {
	t.Helper()
	needBuild(t)
	for _, tool := range []string{"mvn", "java"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("SOFARPC peers need Maven and a JDK (apt-get install maven default-jdk-headless): %v", err)
		}
	}
	sofaOnce.Do(func() {
		dir := filepath.Join(workDir, "sofarpc")
		src := filepath.Join(repoRoot, "integration/testdata/rpcpeers/sofarpc")
		if b, err := exec.Command("cp", "-r", src, dir).CombinedOutput(); err != nil {
			sofaErr = fmt.Errorf("copy sofarpc peers: %v %s", err, b)
			return
		}
		os.RemoveAll(filepath.Join(dir, "target")) // a build left in the source tree by hand
		build := func(offline bool) ([]byte, error) {
			args := []string{"-q", "-B", "compile", "dependency:build-classpath", "-Dmdep.outputFile=target/classpath.txt"}
			if offline {
				args = append([]string{"-o"}, args...)
			}
			cmd := exec.Command("mvn", args...)
			cmd.Dir = dir
			return cmd.CombinedOutput()
		}
		if _, err := build(true); err != nil {
			if b, err := build(false); err != nil {
				sofaErr = fmt.Errorf("mvn build of sofarpc peers: %w\n%s", err, tail(string(b), 3000))
				return
			}
		}
		deps, err := os.ReadFile(filepath.Join(dir, "target/classpath.txt"))
		if err != nil {
			sofaErr = err
			return
		}
		sofaCP = filepath.Join(dir, "target/classes") + ":" + strings.TrimSpace(string(deps))
	})
	if sofaErr != nil {
		t.Fatal(sofaErr)
	}
	return sofaCP
}

// launchSofa starts org.example.Peer with args in a JVM whose stdout lines are kept (javaProc of
// rpc_java_test.go); jvmFlags go before the class. SOFARPC writes its logs under the temp dir.
func launchSofa(t *testing.T, what string, jvmFlags []string, args ...string) *javaProc {
	t.Helper()
	cp := sofaPeers(t)
	tmp := t.TempDir()
	jargs := append([]string{
		"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xss512k", // start fast on a small machine
		"-Djava.net.preferIPv4Stack=true", "-Duser.home=" + tmp, "-Dlogging.path=" + tmp,
	}, jvmFlags...)
	jargs = append(jargs, "-cp", cp, "org.example.Peer")
	cmd := exec.Command("java", append(jargs, args...)...)
	cmd.Dir = tmp
	p := &javaProc{what: what, cmd: cmd, logs: &lockedBuf{}}
	cmd.Stderr = p.logs
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", what, tail(p.logs.String(), 5000))
		}
	})
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.logs.Write([]byte(sc.Text() + "\n"))
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
		}
		p.mu.Lock()
		p.eof = true
		p.mu.Unlock()
	}()
	return p
}

// sofaRPCProvider is a SOFARPC provider of HelloService: sayHello(x) = "NAME:x", slow(x, ms) the
// same after ms; it prints "CALL METHOD ARG" as each call arrives.
type sofaRPCProvider struct {
	*javaProc
	name, addr string
}

// launchSofaRPCProvider starts a provider serving every uniqueId of uniqueIDs (comma-separated, an
// empty entry: none); waitReady(t, "READY") waits for its export.
func launchSofaRPCProvider(t *testing.T, name, uniqueIDs string, jvmFlags ...string) *sofaRPCProvider {
	t.Helper()
	port := rpcFreePort(t)
	return &sofaRPCProvider{
		javaProc: launchSofa(t, "sofarpc provider "+name, jvmFlags, "server", strconv.Itoa(port), name, uniqueIDs),
		name:     name,
		addr:     fmt.Sprintf("127.0.0.1:%d", port),
	}
}

// from returns the caller address the provider logged for its one call with arg.
func (p *sofaRPCProvider) from(t *testing.T, arg string) string {
	t.Helper()
	l := p.seen(" " + arg + " from=")
	if len(l) != 1 {
		t.Fatalf("provider %s logged %q for %s, want one call", p.name, l, arg)
	}
	_, from, _ := strings.Cut(l[0], " from=")
	return from
}

// sofaConsumer is one long-lived SOFARPC consumer JVM ("Peer console") taking calls on stdin.
type sofaConsumer struct{ *javaProc }

// launchSofaConsumer starts the console; a positive heartbeat makes SOFABolt ping connections
// idle that long (its default is 15s).
func launchSofaConsumer(t *testing.T, heartbeat time.Duration) *sofaConsumer {
	t.Helper()
	var flags []string
	if heartbeat > 0 {
		flags = append(flags, "-Dbolt.tcp.heartbeat.interval="+strconv.FormatInt(heartbeat.Milliseconds(), 10))
	}
	return &sofaConsumer{launchSofa(t, "sofarpc consumer", flags, "console")}
}

// sofaCall is one console command: n calls (call i gets "ARG-i" when n > 1, at once when parallel).
type sofaCall struct {
	addr, uniqueID string
	timeout        time.Duration // the consumer's own (SOFARPC ConsumerConfig.timeout)
	n              int
	parallel       bool
	method         string // sayHello (default) or slow
	arg            string
	millis         int // slow's sleep
}

// call runs c and returns its "ok ..." / "err ..." lines. One call at a time (from any goroutine).
func (s *sofaConsumer) call(c sofaCall) ([]string, error) {
	if c.n == 0 {
		c.n = 1
	}
	if c.timeout == 0 {
		c.timeout = 10 * time.Second
	}
	if c.method == "" {
		c.method = "sayHello"
	}
	uid := c.uniqueID
	if uid == "" {
		uid = "-"
	}
	cmd := fmt.Sprintf("call %s %s %d %d %t %s %s %d", c.addr, uid, c.timeout.Milliseconds(), c.n, c.parallel, c.method, c.arg, c.millis)
	if _, err := io.WriteString(s.stdin, cmd+"\n"); err != nil {
		return nil, fmt.Errorf("consumer stdin: %w", err)
	}
	var got []string
	for {
		// Bounded: each call ends by its own timeout at the latest.
		l, err := s.take(c.timeout*time.Duration(c.n) + 30*time.Second)
		if err != nil {
			return got, fmt.Errorf("%s: %w", cmd, err)
		}
		switch {
		case l == "end":
			return got, nil
		case strings.HasPrefix(l, "ok "), strings.HasPrefix(l, "err "):
			got = append(got, l)
		case strings.HasPrefix(l, "bad "):
			return got, fmt.Errorf("%s: consumer refused: %s", cmd, l)
		}
	}
}

func (s *sofaConsumer) mustCall(t *testing.T, c sofaCall) []string {
	t.Helper()
	got, err := s.call(c)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// A SOFARPC consumer -> abihost (govoy-rpc, protocol sniffed among dubbo and bolt) -> SOFARPC
// providers chosen by uniqueId (the codec's group).
func TestRPCSofaBoltRoutingThroughHost(t *testing.T) {
	blue := launchSofaRPCProvider(t, "blue", "blue")
	green := launchSofaRPCProvider(t, "green", "green")
	sc := launchSofaConsumer(t, 0)
	blue.waitReady(t, "READY")
	green.waitReady(t, "READY")
	sc.waitReady(t, "READY")
	h := rpcHost(t, fmt.Sprintf(`{
	  "protocols": ["dubbo", "bolt"],
	  "routes": [
	    {"match": {"service": "org.example.HelloService", "group": "blue"}, "service": "blue"},
	    {"match": {"service": "org.example.HelloService", "group": "green"}, "service": "green"}
	  ],
	  "services": [
	    {"name": "blue", "endpoints": [{"address": %q}]},
	    {"name": "green", "endpoints": [{"address": %q}]}
	  ]}`, blue.addr, green.addr))
	rpcWantLines(t, "uniqueId blue", sc.mustCall(t, sofaCall{addr: h.addr, uniqueID: "blue", n: 2, arg: "x"}), "ok blue:x-0", "ok blue:x-1")
	rpcWantLines(t, "uniqueId green", sc.mustCall(t, sofaCall{addr: h.addr, uniqueID: "green", arg: "y"}), "ok green:y")
	// No route: the bolt codec answers Bolt's NO_PROCESSOR status, which SOFARPC reports by name
	// (Bolt error responses carry no message the client shows).
	rpcWantLines(t, "uniqueId red", sc.mustCall(t, sofaCall{addr: h.addr, uniqueID: "red", arg: "z"}), "NO_PROCESSOR")
}

// TestRPCSofaFailures: a SOFARPC consumer -> abihost (govoy-rpc) -> SOFARPC providers when
// things go wrong: slow providers and timeouts, Bolt heartbeats answered by the proxy and never
// forwarded, the proxy's own heartbeats keeping idle upstream connections, malformed Bolt frames
// from a raw client, a provider killed with calls in flight. Each JVM starts once; the counters
// come from the library's metrics endpoint (GOVOY_METRICS_ADDR).
func TestRPCSofaFailures(t *testing.T) {
	const hb = 500 * time.Millisecond // the consumer's Bolt idle heartbeat
	start := time.Now()
	sofaPeers(t)
	t.Logf("SOFARPC peers built in %s", time.Since(start).Round(time.Millisecond))
	// Each provider serves no uniqueId (the pool), "t" and "c" (timeout routes) and "hb"
	// (heartbeat route).
	p1 := launchSofaRPCProvider(t, "p1", ",t,c,hb")
	p2 := launchSofaRPCProvider(t, "p2", ",t,c,hb")
	// p3 closes connections idle for 1.5s (SOFABolt's server idle check; the default is 90s).
	p3 := launchSofaRPCProvider(t, "p3", "idle", "-Dbolt.tcp.server.idle.interval=1500")
	sc := launchSofaConsumer(t, hb)
	p1.waitReady(t, "READY")
	p2.waitReady(t, "READY")
	p3.waitReady(t, "READY")
	sc.waitReady(t, "READY")
	t.Logf("JVMs ready after %s", time.Since(start).Round(time.Millisecond))

	// The heartbeat route's upstream goes through a relay: the provider's side of the wire.
	upRelay := newBoltRelay(t, p1.addr)
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", rpcFreePort(t))
	t.Setenv("GOVOY_METRICS_ADDR", metricsAddr)
	// upstream_heartbeat_interval: long enough that the proxy's own pings never show upstream here.
	h := rpcHost(t, fmt.Sprintf(`{
	  "protocols": ["dubbo", "bolt"],
	  "statPrefix": "sofa_fail",
	  "upstream_heartbeat_interval": "600s",
	  "routes": [
	    {"match": {"service": "org.example.HelloService", "group": "hb"}, "service": "hb"},
	    {"match": {"service": "org.example.HelloService", "group": "t"}, "service": "p1", "timeout": "0.3s"},
	    {"match": {"service": "org.example.HelloService", "group": "c"}, "service": "p1"},
	    {"match": {"service": "org.example.HelloService", "group": "idle"}, "service": "p3"},
	    {"match": {"service": "org.example.HelloService"}, "service": "pool", "retries": 1, "timeout": "60s"}
	  ],
	  "services": [
	    {"name": "hb", "endpoints": [{"address": %q}]},
	    {"name": "p1", "endpoints": [{"address": %q}]},
	    {"name": "p3", "endpoints": [{"address": %q}]},
	    {"name": "pool", "endpoints": [{"address": %q}, {"address": %q}]}
	  ]}`, upRelay.addr(), p1.addr, p3.addr, p1.addr, p2.addr))
	waitMetrics(t, metricsAddr)
	const pfx = "stat_prefix=sofa_fail"
	metric := func(t *testing.T, name string, labels ...string) float64 {
		return sumRPC(scrapeRPC(t, metricsAddr), name, append([]string{pfx}, labels...)...)
	}

	// First, while the heartbeat route's upstream is the proxy's only upstream connection: a
	// forwarded heartbeat would have nowhere else to go.
	t.Run("heartbeats", func(t *testing.T) {
		down := newBoltRelay(t, h.addr)
		rpcWantLines(t, "before idle", sc.mustCall(t, sofaCall{addr: down.addr(), uniqueID: "hb", arg: "hb1"}), "ok p1:hb1")
		time.Sleep(6 * hb) // idle: SOFABolt pings every 0.5s and gives up after 3 unanswered
		rpcWantLines(t, "after idle", sc.mustCall(t, sofaCall{addr: down.addr(), uniqueID: "hb", arg: "hb2"}), "ok p1:hb2")
		dc := down.counts()
		// A raw client's heartbeats, v1 and v2 with CRC32 (SOFARPC sends v1): answered in kind.
		raw, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		raw.Write(append(boltHeartbeatV1(41), boltHeartbeatV2CRC(42)...))
		st := codec.NewStream(bolt.Codec{}, codec.FromUpstream, 0)
		for _, want := range []struct {
			id    uint64
			proto int
		}{{41, bolt.ProtoV1}, {42, bolt.ProtoV2}} {
			f := readBoltFrame(t, raw, st) // the codec checks the answer's CRC32
			if !f.IsHeartbeat() || f.Kind() != codec.KindResponse || f.ID() != want.id || f.Version() != want.proto || f.StatusCode() != bolt.StatusSuccess {
				t.Fatalf("heartbeat %d: answered with heartbeat %v kind %s id %d proto %d status %d",
					want.id, f.IsHeartbeat(), f.Kind(), f.ID(), f.Version(), f.StatusCode())
			}
		}
		if len(dc.hbReqs) < 3 {
			t.Fatalf("the SOFARPC consumer sent %d heartbeats in %s idle, want >= 3", len(dc.hbReqs), 6*hb)
		}
		// Each heartbeat answered, in order (the last may still be on its way back).
		if n := len(dc.hbResps); n < len(dc.hbReqs)-1 || fmt.Sprint(dc.hbResps) != fmt.Sprint(dc.hbReqs[:n]) {
			t.Fatalf("heartbeat requests %v answered with %v", dc.hbReqs, dc.hbResps)
		}
		if dc.accepted != 1 {
			t.Fatalf("the consumer connected %d times (answered heartbeats keep one connection)", dc.accepted)
		}
		uc := upRelay.counts()
		if uc.requests != 2 || len(uc.hbReqs) != 0 || len(uc.hbResps) != 0 {
			t.Fatalf("upstream saw %d requests, heartbeats %v (answers %v); want the 2 calls and no heartbeat",
				uc.requests, uc.hbReqs, uc.hbResps)
		}
		// The consumer's (maybe one more since counts) and the raw client's two.
		if got := metric(t, "govoy_rpc_heartbeats_total"); got < float64(len(dc.hbResps)+2) || got > float64(len(dc.hbReqs)+3) {
			t.Fatalf("heartbeats_total %v, want between %d and %d", got, len(dc.hbResps)+2, len(dc.hbReqs)+3)
		}
		if got := metric(t, "govoy_rpc_upstream_pings_total"); got != 0 {
			t.Fatalf("upstream_pings_total %v, want 0", got)
		}
	})

	t.Run("upstream heartbeats", func(t *testing.T) {
		// A second proxy pings its idle upstream connections every 0.3s; the first never does
		// (600s), so p3 closes its connection: the control that p3's idle limit bites.
		pingAddr := fmt.Sprintf("127.0.0.1:%d", rpcFreePort(t))
		t.Setenv("GOVOY_METRICS_ADDR", pingAddr)
		h2 := rpcHost(t, fmt.Sprintf(`{"protocols": ["bolt"], "statPrefix": "sofa_ping", "upstream_heartbeat_interval": "0.3s",
		  "routes": [{"service": "p3"}], "services": [{"name": "p3", "endpoints": [{"address": %q}]}]}`, p3.addr))
		waitMetrics(t, pingAddr)
		for _, x := range []struct{ arg, addr string }{{"i1-ping", h2.addr}, {"i1-none", h.addr}} {
			rpcWantLines(t, x.arg, sc.mustCall(t, sofaCall{addr: x.addr, uniqueID: "idle", arg: x.arg}), "ok p3:"+x.arg)
		}
		time.Sleep(3 * time.Second) // twice p3's idle limit
		for _, x := range []struct{ arg, addr string }{{"i2-ping", h2.addr}, {"i2-none", h.addr}} {
			rpcWantLines(t, x.arg, sc.mustCall(t, sofaCall{addr: x.addr, uniqueID: "idle", arg: x.arg}), "ok p3:"+x.arg)
		}
		if a, b := p3.from(t, "i1-none"), p3.from(t, "i2-none"); a == b {
			t.Fatalf("without pings the upstream connection %s outlived p3's 1.5s idle limit", a)
		}
		if a, b := p3.from(t, "i1-ping"), p3.from(t, "i2-ping"); a != b {
			t.Fatalf("upstream connection to p3 changed across the idle period despite pings: %s then %s", a, b)
		}
		if got := sumRPC(scrapeRPC(t, pingAddr), "govoy_rpc_upstream_pings_total", "stat_prefix=sofa_ping"); got < 5 {
			t.Fatalf("upstream_pings_total %v in 3s of silence at 0.3s, want >= 5", got)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		// The route's 300ms answers long before the consumer's 20s: Bolt status TIMEOUT, which
		// SOFABolt raises as InvokeTimeoutException and SOFARPC as SofaTimeOutException.
		before := metric(t, "govoy_rpc_timeouts_total")
		t0 := time.Now()
		got := sc.mustCall(t, sofaCall{addr: h.addr, uniqueID: "t", timeout: 20 * time.Second, method: "slow", arg: "late", millis: 3000})
		took := time.Since(t0)
		t.Logf("route timeout: %q after %s", got, took.Round(time.Millisecond))
		rpcWantLines(t, "route timeout", got, "err SofaTimeOutException code=200:")
		if took >= 20*time.Second {
			t.Fatalf("the consumer's own 20s timer ended the call (%s), not the route's 300ms", took)
		}
		if d := metric(t, "govoy_rpc_timeouts_total") - before; d != 1 {
			t.Fatalf("timeouts_total moved by %v, want 1", d)
		}
		// No route timeout: the consumer's 500ms travels in the Bolt request header and the proxy
		// uses it; its timer or the consumer's own ends the call, a timeout either way.
		got = sc.mustCall(t, sofaCall{addr: h.addr, uniqueID: "c", timeout: 500 * time.Millisecond, method: "slow", arg: "late2", millis: 3000})
		rpcWantLines(t, "caller timeout", got, "err SofaTimeOutException code=200:")
		// The proxy's timer fires too (maybe just after the consumer's): bounded wait for it.
		for deadline := time.Now().Add(10 * time.Second); metric(t, "govoy_rpc_timeouts_total")-before != 2; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timeouts_total moved by %v, want 2 (the header's 500ms)", metric(t, "govoy_rpc_timeouts_total")-before)
			}
		}
		// The connection still serves calls; the late answers are dropped by the proxy.
		rpcWantLines(t, "after timeouts", sc.mustCall(t, sofaCall{addr: h.addr, uniqueID: "t", arg: "after"}), "ok p1:after")
		if got := metric(t, "govoy_rpc_method_requests_total", "service=org.example.HelloService", "result=timeout"); got != 2 {
			t.Fatalf("method_requests_total{result=timeout} %v, want 2", got)
		}
	})

	t.Run("malformed", func(t *testing.T) {
		rpcWantLines(t, "before", sc.mustCall(t, sofaCall{addr: h.addr, uniqueID: "t", arg: "m1"}), "ok p1:m1")
		conns, bad := metric(t, "govoy_rpc_connections_total"), metric(t, "govoy_rpc_malformed_total")
		for name, frame := range map[string][]byte{
			"negative class length": boltV1Request(0xffff),
			"CRC32 mismatch":        boltV2RequestBadCRC(),
		} {
			c, err := net.Dial("tcp", h.addr)
			if err != nil {
				t.Fatal(err)
			}
			c.Write(frame)
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			b, err := io.ReadAll(c) // the proxy closes the connection: EOF, not the deadline
			c.Close()
			if err != nil || len(b) != 0 {
				t.Fatalf("%s: read %x, %v; want the connection closed without an answer", name, b, err)
			}
		}
		rpcWantLines(t, "after", sc.mustCall(t, sofaCall{addr: h.addr, uniqueID: "t", arg: "m2"}), "ok p1:m2")
		if d := metric(t, "govoy_rpc_malformed_total") - bad; d != 2 {
			t.Fatalf("malformed_total moved by %v, want 2", d)
		}
		// Only the two raw connections are new: the consumer's connection was not touched.
		if d := metric(t, "govoy_rpc_connections_total") - conns; d != 2 {
			t.Fatalf("connections_total moved by %v, want 2", d)
		}
	})

	t.Run("provider killed", func(t *testing.T) {
		// Four slow calls at once over the pool; round robin puts two on each provider.
		type result struct {
			lines []string
			err   error
		}
		done := make(chan result, 1)
		go func() {
			l, err := sc.call(sofaCall{addr: h.addr, timeout: 30 * time.Second, n: 4, parallel: true, method: "slow", arg: "doomed", millis: 4000})
			done <- result{l, err}
		}()
		for deadline := time.Now().Add(20 * time.Second); len(p1.seen("CALL slow doomed"))+len(p2.seen("CALL slow doomed")) < 4; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the slow calls did not all arrive: p1 %q, p2 %q", p1.seen("doomed"), p2.seen("doomed"))
			}
		}
		victim, survivor := p2, p1
		if len(p2.seen("CALL slow doomed")) == 0 {
			victim, survivor = p1, p2
		}
		resets := metric(t, "govoy_rpc_upstream_resets_total")
		victim.cmd.Process.Kill() // SIGKILL
		t.Logf("killed %s with %q in flight", victim.name, victim.seen("CALL slow doomed"))
		var r result
		select {
		case r = <-done:
		case <-time.After(25 * time.Second):
			t.Fatal("the consumer hung after its provider died")
		}
		if r.err != nil {
			t.Fatal(r.err)
		}
		if len(r.lines) != 4 {
			t.Fatalf("got %q, want 4 answers", r.lines)
		}
		killed := 0
		for i, l := range r.lines {
			arg := fmt.Sprintf("doomed-%d", i)
			switch {
			case len(victim.seen("CALL slow "+arg+" ")) == 1:
				killed++
				// The proxy's server error is Bolt status UNKNOWN: SOFABolt raises InvokeException,
				// SOFARPC a SofaRpcException of type 299 (CLIENT_UNDECLARED_ERROR).
				rpcWantLines(t, "call on the killed provider", []string{l}, "err SofaRpcException code=299:")
				rpcWantLines(t, "call on the killed provider", []string{l}, "Rpc invocation exception: UNKNOWN")
			default:
				rpcWantLines(t, "call on the surviving provider", []string{l}, "ok "+survivor.name+":"+arg)
			}
		}
		if killed == 0 {
			t.Fatalf("no call was in flight on %s: %q", victim.name, r.lines)
		}
		if d := metric(t, "govoy_rpc_upstream_resets_total") - resets; d != float64(killed) {
			t.Fatalf("upstream_resets_total moved by %v, want %d", d, killed)
		}
		// Recovery: the dead endpoint stays in the pool (no passive health check), refuses the
		// connects of the calls that pick it, and the route's retry moves them to the survivor.
		retries, failures := metric(t, "govoy_rpc_retries_total"), metric(t, "govoy_rpc_upstream_failures_total")
		got := sc.mustCall(t, sofaCall{addr: h.addr, n: 4, arg: "again"})
		wantOneOf(t, "after the kill", got, 4, "ok "+survivor.name+":again")
		if d := metric(t, "govoy_rpc_retries_total") - retries; d < 1 {
			t.Fatalf("retries_total moved by %v: no call of 4 went (round robin) to the dead endpoint", d)
		}
		if d := metric(t, "govoy_rpc_upstream_failures_total") - failures; d < 1 {
			t.Fatalf("upstream_failures_total moved by %v, want >= 1", d)
		}
	})
	if l := h.logs(t); strings.Contains(l, "panic") {
		t.Errorf("the host logged a panic:\n%s", tail(l, 3000))
	}
}

// boltV1Request is a Bolt v1 RPC request header with the given class length and nothing else.
func boltV1Request(classLen uint16) []byte {
	b := make([]byte, 22)
	b[0], b[1] = bolt.ProtoV1, bolt.TypeRequest
	binary.BigEndian.PutUint16(b[2:], bolt.CmdRPCRequest)
	b[4] = 1                             // ver2
	binary.BigEndian.PutUint32(b[5:], 7) // request id
	b[9] = bolt.CodecHessian2
	binary.BigEndian.PutUint32(b[10:], 1000) // timeout ms
	binary.BigEndian.PutUint16(b[14:], classLen)
	return b
}

// boltV2RequestBadCRC is an empty Bolt v2 request that asks for a CRC32 and carries a wrong one.
func boltV2RequestBadCRC() []byte {
	b := make([]byte, 24, 28)
	b[0], b[1], b[2] = bolt.ProtoV2, 2, bolt.TypeRequest // ver1 2: CRC allowed
	binary.BigEndian.PutUint16(b[3:], bolt.CmdRPCRequest)
	b[5] = 1
	binary.BigEndian.PutUint32(b[6:], 8)
	b[10], b[11] = bolt.CodecHessian2, 0x01 // switch: CRC on
	binary.BigEndian.PutUint32(b[12:], 1000)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b)^0xdeadbeef)
}

// boltHeartbeatV1 is a Bolt v1 heartbeat request, as SOFABolt sends them.
func boltHeartbeatV1(id uint32) []byte {
	b := make([]byte, 22)
	b[0], b[1] = bolt.ProtoV1, bolt.TypeRequest
	binary.BigEndian.PutUint16(b[2:], bolt.CmdHeartbeat)
	b[4] = 1
	binary.BigEndian.PutUint32(b[5:], id)
	b[9] = bolt.CodecHessian2
	binary.BigEndian.PutUint32(b[10:], 1000)
	return b
}

// boltHeartbeatV2CRC is a Bolt v2 heartbeat request carrying a (correct) CRC32.
func boltHeartbeatV2CRC(id uint32) []byte {
	b := make([]byte, 24, 28)
	b[0], b[1], b[2] = bolt.ProtoV2, 2, bolt.TypeRequest
	binary.BigEndian.PutUint16(b[3:], bolt.CmdHeartbeat)
	b[5] = 1
	binary.BigEndian.PutUint32(b[6:], id)
	b[10], b[11] = bolt.CodecHessian2, 0x01
	binary.BigEndian.PutUint32(b[12:], 1000)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

// readBoltFrame reads the next frame of st from c (bounded by a read deadline).
func readBoltFrame(t *testing.T, c net.Conn, st *codec.Stream) *bolt.Frame {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 4096)
	for {
		f, err := st.Next()
		if err != nil {
			t.Fatal(err)
		}
		if f != nil {
			return f.(*bolt.Frame)
		}
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("read Bolt frame: %v", err)
		}
		st.Write(buf[:n])
	}
}

// boltRelay forwards TCP to an address and counts, with govoy's bolt codec, the heartbeat
// requests going there, the heartbeat answers coming back, and the RPC requests going there.
type boltRelay struct {
	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
	c     boltCounts
}

type boltCounts struct {
	accepted        int
	requests        int      // RPC requests (not heartbeats) sent through
	hbReqs, hbResps []uint64 // heartbeat request ids there, answer ids back
}

func newBoltRelay(t *testing.T, to string) *boltRelay {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &boltRelay{l: l}
	t.Cleanup(func() {
		l.Close()
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, c := range r.conns {
			c.Close()
		}
	})
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
			r.c.accepted++
			r.conns = append(r.conns, down, up)
			r.mu.Unlock()
			go r.pump(down, up, codec.FromDownstream)
			go r.pump(up, down, codec.FromUpstream)
		}
	}()
	return r
}

func (r *boltRelay) addr() string { return r.l.Addr().String() }

func (r *boltRelay) pump(from, to net.Conn, dir codec.Side) {
	st := codec.NewStream(bolt.Codec{}, dir, 0)
	buf := make([]byte, 16<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 {
			// Count before forwarding: once a caller has the answer, counts() includes the frame.
			st.Write(buf[:n])
			for {
				f, ferr := st.Next()
				if f == nil || ferr != nil {
					break
				}
				r.mu.Lock()
				switch {
				case f.IsHeartbeat() && f.Kind() == codec.KindRequest && dir == codec.FromDownstream:
					r.c.hbReqs = append(r.c.hbReqs, f.ID())
				case f.IsHeartbeat() && f.Kind() == codec.KindResponse && dir == codec.FromUpstream:
					r.c.hbResps = append(r.c.hbResps, f.ID())
				case !f.IsHeartbeat() && f.Kind() != codec.KindResponse && dir == codec.FromDownstream:
					r.c.requests++
				}
				r.mu.Unlock()
			}
			to.Write(buf[:n])
		}
		if err != nil {
			to.Close()
			return
		}
	}
}

func (r *boltRelay) counts() boltCounts {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.c
	c.hbReqs = append([]uint64(nil), c.hbReqs...)
	c.hbResps = append([]uint64(nil), c.hbResps...)
	return c
}

// TestRPCSofaTimeoutWhileConnecting: a request that arrives while its upstream connection is still
// connecting waits in the upstream's queue; when its timeout answers the caller first, the proxy
// drops it from that queue, so the provider never runs a call whose caller was told it timed out
// (and may have retried it), as Envoy drops a request from a pool's pending list when it times out.
func TestRPCSofaTimeoutWhileConnecting(t *testing.T) {
	p1 := launchSofaRPCProvider(t, "p1", "late")
	sc := launchSofaConsumer(t, 0)
	p1.waitReady(t, "READY")
	sc.waitReady(t, "READY")

	t.Run("timed-out request sent late", func(t *testing.T) {
		// An endpoint whose connects hang: a listener with backlog 0 and one unaccepted connection
		// in its queue; Linux drops further SYNs until the queue has room.
		ln, addr := backlogZeroListener(t)
		filler, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer filler.Close()
		if c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond); err == nil {
			c.Close()
			t.Skip("this kernel completes connects to a full accept queue")
		}
		h := rpcHost(t, fmt.Sprintf(`{"protocols": ["bolt"],
		  "routes": [{"service": "slowconnect", "timeout": "0.3s"}],
		  "services": [{"name": "slowconnect", "endpoints": [{"address": %q}]}]}`, addr))
		got := sc.mustCall(t, sofaCall{addr: h.addr, uniqueID: "late", arg: "late3"})
		rpcWantLines(t, "while connecting", got, "err SofaTimeOutException code=200:")

		// Make room: the proxy's SYN retransmission (1s, 3s) now connects; relay it to p1.
		first, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		first.Close()
		ln.(*net.TCPListener).SetDeadline(time.Now().Add(8 * time.Second))
		up, err := ln.Accept()
		if err != nil {
			t.Fatalf("the proxy never connected, so nothing could be sent late: %v", err)
		}
		defer up.Close()
		prov, err := net.Dial("tcp", p1.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer prov.Close()
		go io.Copy(prov, up)
		go io.Copy(up, prov)
		for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if l := p1.seen(" late3 "); len(l) > 0 {
				t.Fatalf("p1 ran %q after the proxy had answered the caller with a timeout", l)
			}
		}
	})
}

// backlogZeroListener listens on a free loopback port with an accept backlog of 0.
func backlogZeroListener(t *testing.T) (net.Listener, string) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "backlog0")
	defer f.Close()
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	ln, err := net.FileListener(f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln, ln.Addr().String()
}
