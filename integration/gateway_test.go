package integration

import (
	"bufio"
	"encoding/json"
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

// startDubbogoPeer runs the provider on a free loopback port and waits for its LISTENING line.
func startDubbogoPeer(t *testing.T) string {
	bin := buildDubbogoPeer(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // dubbo-go binds the port itself
	cmd := exec.Command(bin, "-port", strconv.Itoa(port))
	cmd.Dir = t.TempDir()
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
			t.Logf("dubbo-go provider output:\n%s", tail(logs.String(), 6000))
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
			t.Fatalf("dubbo-go provider exited: %s", tail(logs.String(), 4000))
		}
		return addr
	case <-time.After(60 * time.Second):
		t.Fatalf("dubbo-go provider not listening after 60s: %s", tail(logs.String(), 4000))
	}
	return ""
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
	// A service the provider does not export, and a wrong group: not 200, with the provider's reason.
	for _, path := range []string{"/rpc/org.example.Missing/SayHello"} {
		r := postJSON(t, h, path, `{"args":[]}`, nil)
		if r.status == 200 || !json.Valid([]byte(r.body)) {
			t.Errorf("%s: %d %s", path, r.status, r.body)
		}
		t.Logf("%s: %d %s", path, r.status, r.body)
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
