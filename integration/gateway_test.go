package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/govoy/govoy/filters/bridge/bridgepb"
)

var (
	dubbogoOnce sync.Once
	dubbogoBin  string
	dubbogoErr  error
)

// buildDubbogoPeer builds testdata/gatewaypeers/dubbogo (its own module: dubbo-go v3.3.0).
func buildDubbogoPeer(t *testing.T) string {
	t.Helper()
	needBuild(t)
	dubbogoOnce.Do(func() {
		dubbogoBin = filepath.Join(workDir, "dubbogo-peer")
		cmd := exec.Command("go", "build", "-o", dubbogoBin, ".")
		cmd.Dir = filepath.Join(repoRoot, "integration/testdata/gatewaypeers/dubbogo")
		if b, err := cmd.CombinedOutput(); err != nil {
			dubbogoErr = err
			dubbogoBin = string(b)
		}
	})
	if dubbogoErr != nil {
		t.Fatalf("build dubbo-go provider: %v\n%s", dubbogoErr, dubbogoBin)
	}
	return dubbogoBin
}

// startDubbogoPeer runs the dubbo-go provider on a free loopback port, and checks that it listens
// there only.
func startDubbogoPeer(t *testing.T) string {
	t.Helper()
	bin := buildDubbogoPeer(t)
	port := gatewayFreePort(t)
	addr := startPeer(t, "dubbo-go provider", t.TempDir(), 60*time.Second, bin, "-port", strconv.Itoa(port))
	requireLoopbackOnly(t, "dubbo-go gateway provider", childListeningOn(t, port), port)
	return addr
}

// startPeer runs a provider and waits (bounded) for its "LISTENING addr" line.
func startPeer(t *testing.T, what, dir string, limit time.Duration, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	logs := &lockedBuf{}
	cmd.Stderr = logs
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", what, tail(logs.String(), 6000))
		}
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			logs.Write([]byte(sc.Text() + "\n"))
			if addr, ok := strings.CutPrefix(sc.Text(), "LISTENING "); ok {
				ready <- addr
			}
		}
		close(ready)
	}()
	select {
	case addr, ok := <-ready:
		if !ok {
			t.Fatalf("%s exited: %s", what, tail(logs.String(), 4000))
		}
		return addr
	case <-time.After(limit):
		t.Fatalf("%s not listening after %s: %s", what, limit, tail(logs.String(), 4000))
	}
	return ""
}

// startDubboJavaPeer runs org.example.GatewayProvider of testdata/rpcpeers/dubbojava (Java Dubbo
// 3.2.9, built with Maven by rpc_java_test.go) on a free port of 127.0.0.1, and checks that it
// listens there only.
func startDubboJavaPeer(t *testing.T) string {
	t.Helper()
	port := gatewayFreePort(t)
	p := launchJava(t, "Java Dubbo gateway provider", "org.example.GatewayProvider", strconv.Itoa(port))
	p.waitReady(t, "LISTENING ")
	requireLoopbackOnly(t, "Java Dubbo gateway provider", p.cmd.Process.Pid, port)
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// gatewayFreePort returns a loopback port that was free a moment ago (the peers bind it themselves).
func gatewayFreePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func gatewayConfig(t *testing.T) string {
	a, err := anypb.New(&bridgepb.Config{
		Protocol:       bridgepb.Config_DUBBO,
		PathTemplate:   "/rpc/{service}/{method}",
		Headers:        &bridgepb.Config_Headers{Version: "x-rpc-version", Group: "x-rpc-group"},
		DefaultTimeout: durationpb.New(3 * time.Second),
		DefaultVersion: "1.0.0",
		DefaultGroup:   "g1",
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "gateway.pb", b)
}

// gatewayHost runs govoy.so with the gateway as the router's upstream bridge towards addr.
func gatewayHost(t *testing.T, addr string) *host {
	so := buildGovoy(t)
	return startHost(t, so, "--config", writeFile(t, "chain.pb", chainAny(t, `{"plugins":[]}`)),
		"--upstream", addr, "--tcp-bridge", gatewayConfig(t), "--bridge-plugin-name", "govoy-bridge")
}

func postJSON(t *testing.T, h *host, path, body string, hdr map[string]string) reply {
	t.Helper()
	req, _ := http.NewRequest("POST", h.url(path), strings.NewReader(body))
	req.Header.Set("content-type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return do(t, http.DefaultClient, req)
}

// TestGatewayDubbogo: net/http client -> ABI host -> govoy-bridge -> real dubbo-go provider.
func TestGatewayDubbogo(t *testing.T) {
	h := gatewayHost(t, startDubbogoPeer(t))
	const svc = "/rpc/org.example.GatewayService/"
	cases := []struct {
		name, method, body string
		hdr                map[string]string
		status             int
		want               string // the exact body, or a part of it with status != 200
	}{
		{"string and int", "SayHello", `{"args":[{"type":"String","value":"world"},{"type":"int","value":3}]}`, nil, 200,
			`{"result":"hello world x3"}`},
		{"parameterTypes form", "SayHello", `{"parameterTypes":["java.lang.String","int"],"args":["gw",2]}`,
			map[string]string{"x-rpc-version": "1.0.0", "x-rpc-group": "g1"}, 200, `{"result":"hello gw x2"}`},
		{"POJO result", "GetUser", `{"args":[{"type":"int","value":7}]}`, nil, 200,
			`{"result":{"class":"org.example.User","iD":7,"name":"user-7","tags":["a","b"]}}`},
		{"POJO argument", "Rename", `{"args":[{"type":"org.example.User","value":{"class":"org.example.User","iD":5,"name":"old","tags":["x"]}},{"type":"String","value":"new"}]}`, nil, 200,
			`{"result":{"class":"org.example.User","iD":5,"name":"new","tags":["x"]}}`},
		{"exception", "Fail", `{"args":[{"type":"String","value":"on purpose"}]}`, nil, 500, `provider failed: on purpose`},
		{"bad JSON", "SayHello", `{"args":[{"type":"int","value":"three"}]}`, nil, 400, `"field":"args[0].value"`},
		{"unknown field", "SayHello", `{"argz":[]}`, nil, 400, `"field":"argz"`},
	}
	for _, c := range cases {
		r := postJSON(t, h, svc+c.method, c.body, c.hdr)
		ok := r.status == c.status && (c.status == 200 && r.body == c.want || c.status != 200 && strings.Contains(r.body, c.want))
		if !ok || r.header.Get("content-type") != "application/json" {
			t.Errorf("%s: %d %s (content-type %q), want %d %s", c.name, r.status, r.body, r.header.Get("content-type"), c.status, c.want)
		}
		if !json.Valid([]byte(r.body)) {
			t.Errorf("%s: body is not JSON: %q", c.name, r.body)
		}
	}
	// A service the provider does not export: dubbo-go answers with an exception (not status 60).
	r := postJSON(t, h, "/rpc/org.example.Missing/SayHello", `{"args":[]}`, nil)
	if r.status != 500 || !strings.Contains(r.body, "don't have this exporter, key: g1/org.example.Missing:1.0.0") {
		t.Errorf("missing service: %d %s", r.status, r.body)
	}
	// The group header overrides the default group: no such export either.
	r = postJSON(t, h, svc+"SayHello", `{"parameterTypes":["String","int"],"args":["x",1]}`, map[string]string{"x-rpc-group": "other"})
	if r.status != 500 || !strings.Contains(r.body, "key: other/org.example.GatewayService:1.0.0") {
		t.Errorf("other group: %d %s", r.status, r.body)
	}
	s := h.stats(t)
	if s.Counters["bridge.requests"] < uint64(len(cases)) || s.Counters["golang.panic_error"] != 0 {
		t.Fatalf("counters %v", s.Counters)
	}
}

// TestGatewayUpstreamCloses: a peer that reads the request and closes gives 502, not a hang; a
// peer that is down gives the router's 503.
func TestGatewayUpstreamCloses(t *testing.T) {
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
			buf := make([]byte, 20)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			c.Read(buf)
			c.Write([]byte{0xda, 0xbb, 0x02, 20, 0}) // a response header cut short
			c.Close()
		}
	}()
	h := gatewayHost(t, l.Addr().String())
	r := postJSON(t, h, "/rpc/S/m", `{}`, nil)
	if r.status != 502 || !strings.Contains(r.body, "upstream closed the connection") {
		t.Fatalf("closing peer: %d %s", r.status, r.body)
	}
	down, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := down.Addr().String()
	down.Close()
	h = gatewayHost(t, addr)
	if r := postJSON(t, h, "/rpc/S/m", `{}`, nil); r.status != 503 {
		t.Fatalf("peer down: %d %s", r.status, r.body)
	}
}

// TestGatewayDubboJava: the same path to a Java Dubbo 3.2.9 provider (hessian-lite), whose generic
// filter answers POJOs as maps with the Java field names.
func TestGatewayDubboJava(t *testing.T) {
	h := gatewayHost(t, startDubboJavaPeer(t))
	const svc = "/rpc/org.example.GatewayService/"
	cases := []struct {
		name, method, body string
		status             int
		want               string // the exact body, or a part of it with status != 200
	}{
		{"string and int", "sayHello", `{"args":[{"type":"String","value":"world"},{"type":"int","value":3}]}`, 200, `{"result":"hello world x3"}`},
		{"POJO result", "getUser", `{"parameterTypes":["int"],"args":[7]}`, 200,
			`{"result":{"class":"org.example.User","id":7,"name":"user-7","tags":["a","b"]}}`},
		{"POJO argument", "rename", `{"args":[{"type":"org.example.User","value":{"id":5,"name":"old","tags":["x"]}},{"type":"String","value":"new"}]}`, 200,
			`{"result":{"class":"org.example.User","id":5,"name":"new","tags":["x"]}}`},
		{"exception", "fail", `{"args":[{"type":"String","value":"on purpose"}]}`, 500, `java.lang.IllegalStateException: provider failed: on purpose`},
		{"bad JSON", "sayHello", `{"args":[{"type":"int","value":1.5}]}`, 400, `"field":"args[0].value"`},
	}
	for _, c := range cases {
		r := postJSON(t, h, svc+c.method, c.body, nil)
		ok := r.status == c.status && (c.status == 200 && r.body == c.want || c.status != 200 && strings.Contains(r.body, c.want))
		if !ok || !json.Valid([]byte(r.body)) {
			t.Errorf("%s: %d %.600s, want %d %s", c.name, r.status, r.body, c.status, c.want)
		}
	}
	// Java Dubbo cannot decode a generic call to a service it does not export: status 40.
	r := postJSON(t, h, "/rpc/org.example.Missing/sayHello", `{"args":[]}`, nil)
	if r.status != 502 || !strings.Contains(r.body, `"error":"dubbo status 40"`) {
		t.Errorf("missing service: %d %.600s", r.status, r.body)
	}
}
