package integration

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/govoy/govoy/filters/rpc/codec"
	"github.com/govoy/govoy/filters/rpc/codec/dubbo"
)

// End to end with the Java reference implementation: Java Dubbo 3.2.9 consumers and providers
// (testdata/rpcpeers/dubbojava, built with Maven) through the ABI host running govoy.so's govoy-rpc
// network filter, and across with the dubbo-go peers of rpc_test.go.
//
// Java Dubbo binds 0.0.0.0 when told 127.x; the peers use their own Transporter extension to keep
// the socket on 127.0.0.1, and every test checks that in /proc/net/tcp while the JVM runs.

var (
	dubboJavaOnce sync.Once
	dubboJavaCP   string // classes + dependencies
	dubboJavaErr  error
)

// dubboJavaPeers builds testdata/rpcpeers/dubbojava once (Maven offline first: setup warmed the
// local repository) and returns its classpath.
func dubboJavaPeers(t testing.TB) string {
	t.Helper()
	needBuild(t)
	for _, tool := range []string{"mvn", "java"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("Java Dubbo peers need Maven and a JDK (apt-get install maven default-jdk-headless): %v", err)
		}
	}
	dubboJavaOnce.Do(func() {
		dir := filepath.Join(workDir, "dubbojava")
		if b, err := exec.Command("cp", "-r", filepath.Join(repoRoot, "integration/testdata/rpcpeers/dubbojava"), dir).CombinedOutput(); err != nil {
			dubboJavaErr = fmt.Errorf("copy Java Dubbo peers: %v %s", err, b)
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
				dubboJavaErr = fmt.Errorf("mvn build of Java Dubbo peers: %w\n%s", err, tail(string(b), 3000))
				return
			}
		}
		deps, err := os.ReadFile(filepath.Join(dir, "target/classpath.txt"))
		if err != nil {
			dubboJavaErr = err
			return
		}
		dubboJavaCP = filepath.Join(dir, "target/classes") + ":" + strings.TrimSpace(string(deps))
	})
	if dubboJavaErr != nil {
		t.Fatal(dubboJavaErr)
	}
	return dubboJavaCP
}

// javaProc is a running JVM whose stdout lines are kept (and fed to a consumer's calls).
type javaProc struct {
	what  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	logs  *lockedBuf // stderr and stdout

	mu    sync.Mutex
	lines []string
	next  int // first line not yet taken by take
	eof   bool
}

// launchJava starts a JVM on the peers' classpath; waitReady then waits for its first line.
func launchJava(t testing.TB, what, class string, args ...string) *javaProc {
	t.Helper()
	cp := dubboJavaPeers(t)
	tmp := t.TempDir()
	// Dubbo resolves the machine's name for its own (advertised) address: keep that on loopback.
	hosts := filepath.Join(tmp, "hosts")
	name, _ := os.Hostname()
	if err := os.WriteFile(hosts, []byte("127.0.0.1 "+name+" localhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	jargs := []string{
		"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xss512k", // start fast on a small machine
		"-Djava.net.preferIPv4Stack=true", // AF_INET sockets: /proc/net/tcp shows them plainly
		"-Djdk.net.hosts.file=" + hosts, "-Ddubbo.network.interface.ignored=.*",
		// hessian-lite serializes exceptions (and BigInteger, at start-up) by reflection.
		"--add-opens", "java.base/java.lang=ALL-UNNAMED", "--add-opens", "java.base/java.math=ALL-UNNAMED",
		"-cp", cp, class,
	}
	cmd := exec.Command("java", append(jargs, args...)...)
	cmd.Dir = tmp
	p := &javaProc{what: what, cmd: cmd, logs: &lockedBuf{}}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errOut, err := cmd.StderrPipe()
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
		sc := bufio.NewScanner(errOut)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			// JUL's "date logger" lines, and a warning Dubbo logs each time it looks for its own
			// address with every interface ignored, drown the rest.
			l := sc.Text()
			if !strings.Contains(l, "JclLogger") && !strings.Contains(l, `"networkInterface" is null`) {
				p.logs.Write([]byte(l + "\n"))
			}
		}
	}()
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

// take returns the next unread stdout line, waiting up to limit.
func (p *javaProc) take(limit time.Duration) (string, error) {
	deadline := time.Now().Add(limit)
	for {
		p.mu.Lock()
		if p.next < len(p.lines) {
			l := p.lines[p.next]
			p.next++
			p.mu.Unlock()
			return l, nil
		}
		eof := p.eof
		p.mu.Unlock()
		if eof {
			return "", fmt.Errorf("%s exited: %s", p.what, tail(p.logs.String(), 3000))
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%s said nothing for %s", p.what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitReady waits for the first line to start with prefix (JVM start-up and Dubbo export).
func (p *javaProc) waitReady(t testing.TB, prefix string) {
	t.Helper()
	l, err := p.take(120 * time.Second)
	if err == nil && !strings.HasPrefix(l, prefix) {
		err = fmt.Errorf("%s: first line %q, want %q", p.what, l, prefix)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// seen returns the stdout lines so far that contain s.
func (p *javaProc) seen(s string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, l := range p.lines {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// javaProvider runs org.example.Provider: Greeter on 127.0.0.1:port for each "VERSION:GROUP"
// export, answering "NAME/VERSION/GROUP:arg"; heartbeat sets the server's idle limit (3x).
type javaProvider struct {
	*javaProc
	name string
	addr string
}

func launchJavaProvider(t testing.TB, name string, heartbeat time.Duration, exports ...string) *javaProvider {
	port := rpcFreePort(t)
	args := append([]string{strconv.Itoa(port), name, strconv.FormatInt(heartbeat.Milliseconds(), 10)}, exports...)
	return &javaProvider{
		javaProc: launchJava(t, "Java Dubbo provider "+name, "org.example.Provider", args...),
		name:     name,
		addr:     fmt.Sprintf("127.0.0.1:%d", port),
	}
}

// javaConsumer runs org.example.Consumer, one JVM for all the calls of a test.
type javaConsumer struct{ *javaProc }

func launchJavaConsumer(t testing.TB, heartbeat time.Duration) *javaConsumer {
	return &javaConsumer{launchJava(t, "Java Dubbo consumer", "org.example.Consumer", strconv.FormatInt(heartbeat.Milliseconds(), 10))}
}

// javaCall is one consumer command: n calls of method with arg (see Consumer.java; with n > 1
// call i gets "ARG-i"; parallel sends them at once, call i sleeping millis*(n-i)).
type javaCall struct {
	addr, intf, version, group, method string
	timeout                            time.Duration
	n                                  int
	parallel                           bool
	arg                                string
	millis                             int    // Slow's sleep
	attach                             string // "KEY:VALUE", an attachment on every call
	serialization                      string // default hessian2
	oneway                             bool
	generic                            bool // GenericService.$invoke even for Greeter
}

// call runs c and returns its "ok ..." / "err ..." lines. One call at a time (from any goroutine).
func (j *javaConsumer) call(c javaCall) ([]string, error) {
	f := []string{"call", "addr=" + c.addr, "timeout=" + strconv.FormatInt(c.timeout.Milliseconds(), 10),
		"n=" + strconv.Itoa(c.n), "parallel=" + strconv.FormatBool(c.parallel), "millis=" + strconv.Itoa(c.millis),
		"oneway=" + strconv.FormatBool(c.oneway), "generic=" + strconv.FormatBool(c.generic)}
	for k, v := range map[string]string{"intf": c.intf, "version": c.version, "group": c.group, "method": c.method,
		"arg": c.arg, "attach": c.attach, "serialization": c.serialization} {
		if v != "" {
			f = append(f, k+"="+v)
		}
	}
	cmd := strings.Join(f, " ")
	if _, err := io.WriteString(j.stdin, cmd+"\n"); err != nil {
		return nil, fmt.Errorf("consumer stdin: %w", err)
	}
	var got []string
	for {
		// Bounded: every call has its own timeout, and the proxy answers within its route's.
		l, err := j.take(c.timeout*time.Duration(c.n) + 30*time.Second)
		if err != nil {
			return got, fmt.Errorf("%.200s: %w", cmd, err)
		}
		switch {
		case l == "end":
			return got, nil
		case strings.HasPrefix(l, "ok "), strings.HasPrefix(l, "err "):
			got = append(got, l)
		case strings.HasPrefix(l, "bad "):
			return got, fmt.Errorf("%.200s: consumer refused: %s", cmd, l)
		}
	}
}

func (j *javaConsumer) mustCall(t *testing.T, c javaCall) []string {
	t.Helper()
	got, err := j.call(c)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// procListeners returns the local addresses of the TCP sockets pid listens on, read from
// /proc/net/tcp{,6} and the process's socket inodes.
func procListeners(pid int) ([]netip.AddrPort, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return nil, err
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	var out []netip.AddrPort
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(file)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return nil, err
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] { // 0A: TCP_LISTEN
				continue
			}
			ap, err := parseProcAddr(f[1])
			if err != nil {
				return nil, fmt.Errorf("%s: %q: %w", file, f[1], err)
			}
			out = append(out, ap)
		}
	}
	return out, nil
}

// parseProcAddr reads "0100007F:1F90": the address as the kernel's 32-bit words in host (little
// endian) order, the port in hex.
func parseProcAddr(s string) (netip.AddrPort, error) {
	h, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("no port")
	}
	raw, err := hex.DecodeString(h)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("bad address")
	}
	for i := 0; i < len(raw); i += 4 {
		binary.BigEndian.PutUint32(raw[i:], binary.LittleEndian.Uint32(raw[i:]))
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad port")
	}
	a, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
}

// requireLoopbackOnly fails unless every socket pid listens on is bound to a 127.x address, and,
// with wantPort > 0, one of them is 127.0.0.1:wantPort.
func requireLoopbackOnly(t testing.TB, what string, pid, wantPort int) {
	t.Helper()
	ls, err := procListeners(pid)
	if err != nil {
		t.Fatalf("%s: listening sockets: %v", what, err)
	}
	found := false
	for _, ap := range ls {
		if !ap.Addr().Is4() || !ap.Addr().IsLoopback() {
			t.Fatalf("%s listens on %s, not on a 127.x address (all: %v)", what, ap, ls)
		}
		found = found || int(ap.Port()) == wantPort && ap.Addr() == netip.MustParseAddr("127.0.0.1")
	}
	if wantPort > 0 && !found {
		t.Fatalf("%s: no listener on 127.0.0.1:%d (all: %v)", what, wantPort, ls)
	}
}

// providerPort is the port of addr "127.0.0.1:PORT".
func providerPort(t testing.TB, addr string) int {
	t.Helper()
	_, p, _ := net.SplitHostPort(addr)
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// hbRelay forwards one downstream's TCP to the proxy and counts Dubbo heartbeats each way.
type hbRelay struct {
	l        net.Listener
	mu       sync.Mutex
	accepted int
	reqIDs   []uint64      // heartbeat requests, consumer -> proxy
	respIDs  []uint64      // heartbeat responses, proxy -> consumer
	routes   []codec.Route // other requests, consumer -> proxy, as govoy's codec reads them
	conns    []net.Conn
}

func newHBRelay(t *testing.T, to string) *hbRelay {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &hbRelay{l: l}
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
			r.accepted++
			r.conns = append(r.conns, down, up)
			r.mu.Unlock()
			go r.pump(down, up, codec.FromDownstream, &r.reqIDs, codec.KindRequest)
			go r.pump(up, down, codec.FromUpstream, &r.respIDs, codec.KindResponse)
		}
	}()
	return r
}

func (r *hbRelay) addr() string { return r.l.Addr().String() }

func (r *hbRelay) pump(from, to net.Conn, dir codec.Side, ids *[]uint64, kind codec.Kind) {
	st := codec.NewStream(dubbo.Codec{}, dir, 0)
	buf := make([]byte, 16<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 {
			// Count before forwarding: once a caller has the bytes, counts() includes them.
			st.Write(buf[:n])
			for {
				f, ferr := st.Next()
				if f == nil || ferr != nil {
					break
				}
				r.mu.Lock()
				if f.IsHeartbeat() && f.Kind() == kind {
					*ids = append(*ids, f.ID())
				} else if !f.IsHeartbeat() && f.Kind() == codec.KindRequest {
					r.routes = append(r.routes, f.Route())
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

func (r *hbRelay) counts() (accepted int, reqs, resps []uint64, routes []codec.Route) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.accepted, append([]uint64(nil), r.reqIDs...), append([]uint64(nil), r.respIDs...), append([]codec.Route(nil), r.routes...)
}

// wantOneOf checks every line starts with one of prefixes and returns how often each was seen.
func wantOneOf(t *testing.T, what string, got []string, n int, prefixes ...string) map[string]int {
	t.Helper()
	if len(got) != n {
		t.Fatalf("%s: got %q, want %d lines", what, got, n)
	}
	seen := map[string]int{}
	for _, l := range got {
		ok := false
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				seen[p]++
				ok = true
				break
			}
		}
		if !ok {
			t.Fatalf("%s: line %q is none of %q", what, l, prefixes)
		}
	}
	return seen
}

// lastFrom returns the "from=HOST:PORT" of the provider's last CALL line for arg.
func lastFrom(t *testing.T, p *javaProvider, arg string) string {
	t.Helper()
	lines := p.seen(" " + arg + " from=")
	if len(lines) == 0 {
		t.Fatalf("provider %s logged no call with %q", p.name, arg)
	}
	_, from, _ := strings.Cut(lines[len(lines)-1], " from=")
	from, _, _ = strings.Cut(from, " ")
	return from
}

// TestRPCJavaDubbo: Java Dubbo consumer -> abihost (govoy-rpc) -> Java Dubbo providers, and across
// with dubbo-go: interface/version/group routing, exceptions, timeouts, heartbeats both ways, and a
// provider killed while a request waits on it. Each JVM starts once.
func TestRPCJavaDubbo(t *testing.T) {
	// Heartbeat 2s: Java clients ping connections idle for 2s and reconnect after 6s of silence;
	// Java servers close connections silent for 6s.
	const hb = 2 * time.Second
	start := time.Now()
	dubboJavaPeers(t)
	t.Logf("Java peers built in %s", time.Since(start).Round(time.Millisecond))
	p1 := launchJavaProvider(t, "p1", hb, "1.0.0:", "2.0.0:", "1.0.0:gray")
	p2 := launchJavaProvider(t, "p2", hb, "1.0.0:", "2.0.0:")
	jc := launchJavaConsumer(t, hb)
	goProv := startRPCProvider(t, "go", "1.0.0", "go", 0)
	p1.waitReady(t, "LISTENING ")
	p2.waitReady(t, "LISTENING ")
	jc.waitReady(t, "READY")
	t.Logf("JVMs ready after %s", time.Since(start).Round(time.Millisecond))
	requireLoopbackOnly(t, "Java provider p1", p1.cmd.Process.Pid, providerPort(t, p1.addr))
	requireLoopbackOnly(t, "Java provider p2", p2.cmd.Process.Pid, providerPort(t, p2.addr))

	h := rpcHost(t, fmt.Sprintf(`{
	  "protocols": ["dubbo"],
	  "upstream_heartbeat_interval": "0.5s",
	  "routes": [
	    {"match": {"service": "org.example.Greeter", "group": "go"}, "service": "go"},
	    {"match": {"service": "org.example.Greeter", "method": "Slow", "version": "2.0.0"}, "service": "p2", "timeout": "0.3s"},
	    {"match": {"service": "org.example.Greeter", "version": "2.0.0"}, "service": "p2"},
	    {"match": {"service": "org.example.Greeter", "group": "gray"}, "service": "p1"},
	    {"match": {"service": "org.example.Greeter", "headers": {"x-tag": "canary"}}, "service": "p1"},
	    {"match": {"service": "org.example.Greeter"}, "service": "pool", "retries": 1, "timeout": "60s"}
	  ],
	  "services": [
	    {"name": "go", "endpoints": [{"address": %q}]},
	    {"name": "p1", "endpoints": [{"address": %q}]},
	    {"name": "p2", "endpoints": [{"address": %q}]},
	    {"name": "pool", "endpoints": [{"address": %q}, {"address": %q}]}
	  ]}`, goProv.addr, p1.addr, p2.addr, p1.addr, p2.addr))
	at := func(c javaCall) javaCall {
		if c.addr == "" {
			c.addr = h.addr
		}
		if c.timeout == 0 {
			c.timeout = 5 * time.Second
		}
		if c.n == 0 {
			c.n = 1
		}
		return c
	}

	t.Run("routing", func(t *testing.T) {
		got := jc.mustCall(t, at(javaCall{version: "1.0.0", method: "Greet", n: 4, arg: "x"}))
		if seen := wantOneOf(t, "pool", got, 4, "ok p1/1.0.0/:x", "ok p2/1.0.0/:x"); len(seen) != 2 {
			t.Fatalf("round robin over p1 and p2 answered %q", got)
		}
		rpcWantLines(t, "version 2.0.0", jc.mustCall(t, at(javaCall{version: "2.0.0", method: "Greet", n: 2, arg: "y"})),
			"ok p2/2.0.0/:y", "ok p2/2.0.0/:y")
		rpcWantLines(t, "group gray", jc.mustCall(t, at(javaCall{version: "1.0.0", group: "gray", method: "Greet", arg: "z"})),
			"ok p1/1.0.0/gray:z")
		// No route: the proxy answers status 60 with its message, which Java Dubbo shows. (A Java
		// consumer sends version "0.0.0" when it has none; a generic call names its real method.)
		rpcWantLines(t, "unknown interface", jc.mustCall(t, at(javaCall{intf: "org.example.Nobody", method: "Greet", arg: "n"})),
			"govoy: no route for :org.example.Nobody:0.0.0.Greet")
		// The proxy's calls come from loopback too.
		if from := lastFrom(t, p1, "z"); !strings.HasPrefix(from, "127.") {
			t.Fatalf("p1 was called from %s", from)
		}
	})

	t.Run("attachments", func(t *testing.T) {
		// Java's attachment map routes (x-tag=canary -> p1 only) and reaches the provider intact.
		got := jc.mustCall(t, at(javaCall{version: "1.0.0", method: "Greet", n: 3, arg: "tag", attach: "x-tag:canary"}))
		rpcWantLines(t, "x-tag canary", got, "ok p1/1.0.0/:tag-0", "ok p1/1.0.0/:tag-1", "ok p1/1.0.0/:tag-2")
		if l := p1.seen(" tag-2 from="); len(l) != 1 || !strings.HasSuffix(l[0], " x-tag=canary") {
			t.Fatalf("p1 got the canary call as %q", l)
		}
	})

	t.Run("multiplexed", func(t *testing.T) {
		// Twenty calls at once on the consumer's one connection and the proxy's one upstream
		// connection; call i sleeps 40ms*(20-i), so answers come back in reverse order and must
		// still reach the right callers.
		const n = 20
		got := jc.mustCall(t, at(javaCall{version: "1.0.0", group: "gray", method: "Slow", n: n, parallel: true, arg: "m", millis: 40}))
		if len(got) != n {
			t.Fatalf("got %d answers: %q", len(got), got)
		}
		for i, l := range got {
			if want := fmt.Sprintf("ok p1/1.0.0/gray:m-%d", i); l != want {
				t.Fatalf("call %d answered %q, want %q", i, l, want)
			}
		}
	})

	t.Run("large", func(t *testing.T) {
		// 300 KB each way: frames cut across many reads on both sides.
		big := strings.Repeat("x", 300<<10)
		got := jc.mustCall(t, at(javaCall{version: "2.0.0", method: "Greet", arg: big}))
		if len(got) != 1 || got[0] != "ok p2/2.0.0/:"+big {
			t.Fatalf("300 KB call: got %d lines, first %.100q", len(got), got)
		}
	})

	t.Run("oneway", func(t *testing.T) {
		// return=false: a oneway request is forwarded, nothing comes back, the connection goes on.
		rpcWantLines(t, "oneway", jc.mustCall(t, at(javaCall{version: "2.0.0", method: "Greet", arg: "ow", oneway: true})), "ok null")
		rpcWantLines(t, "after oneway", jc.mustCall(t, at(javaCall{version: "2.0.0", method: "Greet", arg: "after-ow"})), "ok p2/2.0.0/:after-ow")
		if l := p2.seen(" ow from="); len(l) != 1 {
			t.Fatalf("p2 got the oneway call %d times", len(l))
		}
	})

	t.Run("fastjson2", func(t *testing.T) {
		// Dubbo 3.2's default serialization: the proxy cannot read its routing fields and says so
		// (status 40) instead of guessing or closing the connection.
		got := jc.mustCall(t, at(javaCall{version: "2.0.0", method: "Greet", arg: "fj", serialization: "fastjson2"}))
		rpcWantLines(t, "fastjson2", got, "err org.apache.dubbo.rpc.RpcException")
		rpcWantLines(t, "fastjson2", got, "serialization id 23")
		rpcWantLines(t, "after fastjson2", jc.mustCall(t, at(javaCall{version: "2.0.0", method: "Greet", arg: "after-fj"})), "ok p2/2.0.0/:after-fj")
	})

	t.Run("exception", func(t *testing.T) {
		rpcWantLines(t, "Fail", jc.mustCall(t, at(javaCall{version: "2.0.0", method: "Fail", arg: "boom"})),
			"err java.lang.IllegalStateException: p2/2.0.0/ failed: boom")
	})

	t.Run("timeout", func(t *testing.T) {
		// The route's 300ms answers long before the consumer's 10s, with Dubbo's server timeout
		// status (Java Dubbo: RpcException code 2, TIMEOUT_EXCEPTION).
		got := jc.mustCall(t, at(javaCall{version: "2.0.0", method: "Slow", timeout: 10 * time.Second, arg: "late", millis: 2000}))
		rpcWantLines(t, "route timeout", got, "err org.apache.dubbo.rpc.RpcException code=2:")
		rpcWantLines(t, "route timeout", got, "govoy: no response within 300ms")
		// No route timeout: the consumer's own 500ms travels with the request and one of the two
		// (consumer timer or proxy) ends it; either way a timeout, not a hang.
		got = jc.mustCall(t, at(javaCall{version: "1.0.0", group: "gray", method: "Slow", timeout: 500 * time.Millisecond, arg: "late2", millis: 2000}))
		rpcWantLines(t, "caller timeout", got, "err org.apache.dubbo.rpc.RpcException code=2:")
		// The connection still serves calls; the late answers are dropped by the proxy.
		rpcWantLines(t, "after timeouts", jc.mustCall(t, at(javaCall{version: "2.0.0", method: "Greet", arg: "after"})), "ok p2/2.0.0/:after")
	})

	t.Run("cross", func(t *testing.T) {
		// dubbo-go consumer -> proxy -> Java providers.
		rpcWantLines(t, "dubbo-go to Java", rpcConsume(t, h.addr, "-version", "2.0.0", "-n", "2", "-arg", "fromgo"),
			"ok p2/2.0.0/:fromgo", "ok p2/2.0.0/:fromgo")
		rpcWantLines(t, "dubbo-go to Java group", rpcConsume(t, h.addr, "-version", "1.0.0", "-group", "gray", "-arg", "g"),
			"ok p1/1.0.0/gray:g")
		// Java consumer -> proxy -> dubbo-go provider.
		rpcWantLines(t, "Java to dubbo-go", jc.mustCall(t, at(javaCall{version: "1.0.0", group: "go", method: "Greet", n: 2, arg: "fromjava"})),
			"ok go:fromjava", "ok go:fromjava")
	})

	t.Run("heartbeats", func(t *testing.T) {
		// The consumer reaches the proxy through a relay counting heartbeats; p2's idle limit is 6s
		// and the proxy pings upstream every 0.5s of silence.
		relay := newHBRelay(t, h.addr)
		rpcWantLines(t, "before idle", jc.mustCall(t, at(javaCall{addr: relay.addr(), version: "2.0.0", method: "Greet", arg: "hb1"})), "ok p2/2.0.0/:hb1")
		before := lastFrom(t, p2, "hb1")
		time.Sleep(3*hb + time.Second) // idle: past the consumer's and p2's idle limits
		rpcWantLines(t, "after idle", jc.mustCall(t, at(javaCall{addr: relay.addr(), version: "2.0.0", method: "Greet", arg: "hb2"})), "ok p2/2.0.0/:hb2")
		accepted, reqs, resps, routes := relay.counts()
		// govoy's codec reads what the Java consumer put in its requests, the timeout attachment
		// (which the proxy uses when the route sets none) included.
		want := codec.Route{Service: "org.example.Greeter", Method: "Greet", Version: "2.0.0", Timeout: 5 * time.Second}
		if len(routes) != 2 || routes[0] != want || routes[1] != want {
			t.Fatalf("requests read as %+v, want 2 x %+v", routes, want)
		}
		if len(reqs) < 2 {
			t.Fatalf("the Java consumer sent %d heartbeats in %s idle, want >= 2", len(reqs), 3*hb+time.Second)
		}
		if fmt.Sprint(reqs) != fmt.Sprint(resps) {
			t.Fatalf("heartbeat requests %v answered with %v", reqs, resps)
		}
		// Answered heartbeats keep the consumer on its connection (else it reconnects after 6s).
		if accepted != 1 {
			t.Fatalf("the consumer connected %d times", accepted)
		}
		// The proxy's heartbeats kept its upstream connection to p2 (else p2 closes it after 6s).
		if after := lastFrom(t, p2, "hb2"); after != before {
			t.Fatalf("upstream connection to p2 changed across the idle period: %s then %s", before, after)
		}
	})

	t.Run("provider killed", func(t *testing.T) {
		// A slow call waits on one of the pool's providers; that provider dies.
		type result struct {
			lines []string
			err   error
		}
		done := make(chan result, 1)
		go func() {
			l, err := jc.call(at(javaCall{version: "1.0.0", method: "Slow", timeout: 30 * time.Second, arg: "doomed", millis: 20000}))
			done <- result{l, err}
		}()
		var victim, survivor *javaProvider
		for deadline := time.Now().Add(20 * time.Second); victim == nil; time.Sleep(20 * time.Millisecond) {
			switch {
			case len(p1.seen("doomed")) > 0:
				victim, survivor = p1, p2
			case len(p2.seen("doomed")) > 0:
				victim, survivor = p2, p1
			case time.Now().After(deadline):
				t.Fatal("the slow call reached no provider")
			}
		}
		victim.cmd.Process.Kill()
		t.Logf("killed %s while the slow call waited on it", victim.name)
		select {
		case r := <-done:
			if r.err != nil {
				t.Fatal(r.err)
			}
			rpcWantLines(t, "killed provider", r.lines, "upstream connection closed")
		case <-time.After(25 * time.Second):
			t.Fatal("the consumer hung after its provider died")
		}
		// Recovery: the dead endpoint refuses connections and the route's retry moves on.
		got := jc.mustCall(t, at(javaCall{version: "1.0.0", method: "Greet", n: 4, arg: "again"}))
		wantOneOf(t, "after the kill", got, 4, "ok "+survivor.name+"/1.0.0/:again")
	})
	// The consumer, too, listens on loopback only (Dubbo 3 opens no port for a consumer).
	requireLoopbackOnly(t, "Java consumer", jc.cmd.Process.Pid, 0)
}

// TestRPCJavaDubboGenericAndReadOnly: govoy-rpc treats two Java Dubbo behaviours as a Java consumer
// connected directly does.
//
//   - generic calls: a generic call ($invoke, as Java tools and govoy's own HTTP bridge send) names
//     the real method in its first argument; routes (and per-method limits and metrics) see that
//     method, as they would for the typed call.
//   - read-only event: a Java provider that starts closing sends Dubbo's read-only event to its
//     consumers; a direct Java consumer stops calling it at once, and so does the proxy (that
//     provider's consumer), counting it in govoy_rpc_upstream_goaways_total.
func TestRPCJavaDubboGenericAndReadOnly(t *testing.T) {
	p1 := launchJavaProvider(t, "p1", 0, "1.0.0:")
	p2 := launchJavaProvider(t, "p2", 0, "1.0.0:")
	jc := launchJavaConsumer(t, time.Minute)
	p1.waitReady(t, "LISTENING ")
	p2.waitReady(t, "LISTENING ")
	jc.waitReady(t, "READY")
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", rpcFreePort(t))
	t.Setenv("GOVOY_METRICS_ADDR", metricsAddr)
	h := rpcHost(t, fmt.Sprintf(`{"protocols": ["dubbo"], "statPrefix": "java_ro",
	  "routes": [
	    {"match": {"service": "org.example.Greeter", "method": "Slow"}, "service": "p2"},
	    {"match": {"service": "org.example.Greeter"}, "service": "pool", "retries": 1}
	  ],
	  "services": [
	    {"name": "p2", "endpoints": [{"address": %q}]},
	    {"name": "pool", "endpoints": [{"address": %q}, {"address": %q}]}
	  ]}`, p2.addr, p1.addr, p2.addr))
	call := func(addr string, c javaCall) []string {
		c.addr, c.version, c.timeout = addr, "1.0.0", 5*time.Second
		if c.method == "" {
			c.method = "Greet"
		}
		return jc.mustCall(t, c)
	}

	waitMetrics(t, metricsAddr)
	metric := func(t *testing.T, name string, labels ...string) float64 {
		return sumRPC(scrapeRPC(t, metricsAddr), name, append([]string{"stat_prefix=java_ro"}, labels...)...)
	}

	t.Run("generic call method", func(t *testing.T) {
		// Typed, Slow goes to p2 by its method route; generic, too, and it counts under Slow.
		wantOneOf(t, "typed Slow", call(h.addr, javaCall{method: "Slow", n: 4, arg: "typed"}), 4, "ok p2/")
		wantOneOf(t, "generic Slow", call(h.addr, javaCall{method: "Slow", n: 4, arg: "gen", generic: true}), 4, "ok p2/")
		if got := metric(t, "govoy_rpc_method_requests_total", "method=Slow", "result=ok"); got != 8 {
			t.Fatalf("requests counted under method Slow: %v, want 8", got)
		}
		if got := metric(t, "govoy_rpc_method_requests_total", "method=$invoke"); got != 0 {
			t.Fatalf("requests counted under method $invoke: %v", got)
		}
	})

	t.Run("read-only event", func(t *testing.T) {
		direct := p1.addr + "," + p2.addr // a Dubbo cluster over both, as a registry would give
		for _, addr := range []string{h.addr, direct} {
			wantOneOf(t, "warm-up", call(addr, javaCall{n: 6, arg: "warm"}), 6, "ok p1/", "ok p2/")
		}
		if _, err := io.WriteString(p1.stdin, "readonly\n"); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); len(p1.seen("READONLY 2")) == 0; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("p1 did not notify its two consumers (proxy, direct): %q", p1.seen("READONLY"))
			}
		}
		time.Sleep(200 * time.Millisecond) // the event is oneway: let both consumers read it
		wantOneOf(t, "direct Java consumer after read-only", call(direct, javaCall{n: 6, arg: "d"}), 6, "ok p2/")
		wantOneOf(t, "through the proxy after read-only", call(h.addr, javaCall{n: 6, arg: "p"}), 6, "ok p2/")
		if got := metric(t, "govoy_rpc_upstream_goaways_total"); got != 1 {
			t.Fatalf("upstream_goaways_total %v, want 1", got)
		}
	})
}

// TestParseProcAddr: the /proc/net/tcp{,6} address forms requireLoopbackOnly relies on.
func TestParseProcAddr(t *testing.T) {
	for in, want := range map[string]string{
		"0100007F:1F90":                         "127.0.0.1:8080",
		"00000000:0050":                         "0.0.0.0:80",
		"0000000000000000FFFF00000100007F:1F90": "127.0.0.1:8080", // IPv4-mapped on a v6 socket
		"00000000000000000000000001000000:0016": "[::1]:22",
		"00000000000000000000000000000000:0016": "[::]:22",
	} {
		got, err := parseProcAddr(in)
		if err != nil || got.String() != want {
			t.Errorf("parseProcAddr(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"0100007F", "01007F:1F90", "zz00007F:1F90", "0100007F:XYZ"} {
		if _, err := parseProcAddr(bad); err == nil {
			t.Errorf("parseProcAddr(%q) accepted", bad)
		}
	}
}
