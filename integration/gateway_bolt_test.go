package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
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
	"github.com/govoy/govoy/filters/bridge/sofahessian"
)

// The HTTP -> Bolt gateway against a real SOFARPC 5.12.0 provider
// (testdata/gatewaypeers/sofarpc, Maven, offline when the local repository has it).

var (
	sofaGwOnce sync.Once
	sofaGwCP   string // classpath: classes + dependencies
	sofaGwErr  error
)

func sofaGatewayClasspath(t *testing.T) string {
	t.Helper()
	needBuild(t)
	for _, tool := range []string{"mvn", "java"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the SOFARPC provider needs Maven and a JDK (apt-get install maven default-jdk-headless): %v", err)
		}
	}
	sofaGwOnce.Do(func() {
		dir := filepath.Join(workDir, "gateway-sofarpc")
		if b, err := exec.Command("cp", "-r", filepath.Join(repoRoot, "integration/testdata/gatewaypeers/sofarpc"), dir).CombinedOutput(); err != nil {
			sofaGwErr = fmt.Errorf("copy provider: %v %s", err, b)
			return
		}
		build := func(offline bool) ([]byte, error) {
			args := []string{"-q", "compile", "dependency:build-classpath", "-Dmdep.outputFile=target/classpath.txt"}
			if offline {
				args = append([]string{"-o"}, args...)
			}
			cmd := exec.Command("mvn", args...)
			cmd.Dir = dir
			return cmd.CombinedOutput()
		}
		if _, err := build(true); err != nil {
			if b, err := build(false); err != nil {
				sofaGwErr = fmt.Errorf("mvn: %v\n%s", err, tail(string(b), 3000))
				return
			}
		}
		deps, err := os.ReadFile(filepath.Join(dir, "target/classpath.txt"))
		if err != nil {
			sofaGwErr = err
			return
		}
		sofaGwCP = filepath.Join(dir, "target/classes") + ":" + strings.TrimSpace(string(deps))
	})
	if sofaGwErr != nil {
		t.Fatalf("build SOFARPC provider: %v", sofaGwErr)
	}
	return sofaGwCP
}

type sofaProvider struct {
	addr string
	cmd  *exec.Cmd
	slow chan string // "SLOW <ms>" lines: a slow call started
}

// startSofaGatewayProvider runs org.example.Provider (GatewayService, version 1.0) on a free
// loopback port and waits (bounded) for its LISTENING line.
func startSofaGatewayProvider(t *testing.T) *sofaProvider {
	t.Helper()
	cp := sofaGatewayClasspath(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	// --add-opens: sofa-hessian serializes exceptions by reflection on Throwable's fields.
	cmd := exec.Command("java", "--add-opens", "java.base/java.lang=ALL-UNNAMED", "-cp", cp, "org.example.Provider", strconv.Itoa(port))
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
			t.Logf("SOFARPC provider log tail:\n%s", tail(logs.String(), 4000))
		}
	})
	ready := make(chan string, 1)
	slow := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "LISTENING "); ok {
				ready <- addr
			}
			if strings.HasPrefix(sc.Text(), "SLOW ") {
				select {
				case slow <- sc.Text():
				default:
				}
			}
		}
		close(ready)
	}()
	select {
	case addr, ok := <-ready:
		if !ok {
			t.Fatalf("SOFARPC provider exited: %s", tail(logs.String(), 4000))
		}
		return &sofaProvider{addr: addr, cmd: cmd, slow: slow}
	case <-time.After(120 * time.Second):
		t.Fatalf("SOFARPC provider not listening after 120s: %s", tail(logs.String(), 4000))
	}
	return nil
}

// boltGatewayHost runs govoy.so with govoy-bridge (protocol BOLT) as the router's upstream
// bridge towards addr.
func boltGatewayHost(t *testing.T, addr string) *host {
	t.Helper()
	a, err := anypb.New(&bridgepb.Config{
		Protocol:       bridgepb.Config_BOLT,
		PathTemplate:   "/rpc/{service}/{method}",
		Headers:        &bridgepb.Config_Headers{Version: "x-rpc-version", Group: "x-rpc-group"},
		DefaultTimeout: durationpb.New(5 * time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return startHost(t, buildGovoy(t), "--config", writeFile(t, "chain.pb", chainAny(t, `{"plugins":[]}`)),
		"--upstream", addr, "--tcp-bridge", writeFile(t, "bolt-gateway.pb", b), "--bridge-plugin-name", "govoy-bridge")
}

// boltPost sends a JSON request; errors are returned (it also runs off the test goroutine).
func boltPost(h *host, path, body string, hdr map[string]string) (int, string, error) {
	req, err := http.NewRequest("POST", h.url(path), strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("content-type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.Header.Get("content-type") != "application/json" && resp.StatusCode != http.StatusServiceUnavailable {
		return resp.StatusCode, string(b), fmt.Errorf("content-type %q", resp.Header.Get("content-type"))
	}
	return resp.StatusCode, string(b), err
}

const boltSvc = "/rpc/org.example.GatewayService/"

// TestGatewayBolt: net/http client -> ABI host -> govoy-bridge (Bolt) -> real SOFARPC provider.
func TestGatewayBolt(t *testing.T) {
	p := startSofaGatewayProvider(t)
	h := boltGatewayHost(t, p.addr)
	user := `{"active":false,"age":0,"attrs":null,"class":"org.example.User","friend":null,"id":%d,"name":%q,"score":0,"tags":null}`
	cases := []struct {
		name, method, body string
		hdr                map[string]string
		status             int
		want               string // the exact body, or a part of it with status != 200
	}{
		{"string and int", "sayHello", `{"args":[{"type":"String","value":"world"},{"type":"int","value":3}]}`, nil, 200,
			`{"result":"hello world x3"}`},
		{"parameterTypes, version header", "sayHello", `{"parameterTypes":["java.lang.String","int"],"args":["gw",2]}`,
			map[string]string{"x-rpc-version": "1.0"}, 200, `{"result":"hello gw x2"}`},
		{"long", "twice", `{"parameterTypes":["long"],"args":[1099511627776]}`, nil, 200, `{"result":2199023255552}`},
		{"List", "reverse", `{"parameterTypes":["List"],"args":[["a","b","c"]]}`, nil, 200, `{"result":["c","b","a"]}`},
		{"Map", "lengths", `{"parameterTypes":["Map"],"args":[{"one":"1","three":"333"}]}`, nil, 200, `{"result":{"one":1,"three":3}}`},
		{"POJO argument and result", "rename", `{"args":[{"type":"org.example.User","value":{"id":5,"name":"old","age":41,"active":true,"score":2.25,"tags":["x","y"],"attrs":{"team":"blue"},"friend":{"class":"org.example.User","id":6,"name":"f"}}},{"type":"String","value":"new"}]}`, nil, 200,
			`{"result":{"active":true,"age":41,"attrs":{"team":"blue"},"class":"org.example.User","friend":` + fmt.Sprintf(user, 6, "f") + `,"id":5,"name":"new","score":2.25,"tags":["x","y"]}}`},
		{"POJO with integral JSON numbers for long and double fields", "rename", `{"parameterTypes":["org.example.User","String"],"args":[{"id":4294967296,"score":3},"n"]}`, nil, 200,
			`{"result":{"active":false,"age":0,"attrs":null,"class":"org.example.User","friend":null,"id":4294967296,"name":"n","score":3,"tags":null}}`},
		{"POJO result", "getUser", `{"parameterTypes":["int"],"args":[7]}`, nil, 200,
			`{"result":{"active":true,"age":30,"attrs":{"k":"v"},"class":"org.example.User","friend":null,"id":7,"name":"user-7","score":1.5,"tags":["a","b"]}}`},
		{"String[] argument, shared reference in the result", "users", `{"parameterTypes":["String[]"],"args":[["ann","bob"]]}`, nil, 200,
			`{"result":[` + strings.Replace(fmt.Sprintf(user, 0, "ann"), `"friend":null`, `"friend":`+fmt.Sprintf(user, 1, "bob"), 1) + `,` + fmt.Sprintf(user, 1, "bob") + `]}`},
		{"exception", "fail", `{"args":[{"type":"String","value":"on purpose"}]}`, nil, 500,
			`{"error":"exception","message":"provider failed: on purpose","exception":"java.lang.IllegalStateException"}`},
		{"unknown service version", "sayHello", `{"parameterTypes":["String","int"],"args":["x",1]}`, map[string]string{"x-rpc-version": "9.9"}, 404,
			`RPC-020100010: RPC cannot find service: [org.example.GatewayService:9.9]`},
		{"unknown uniqueId", "sayHello", `{"parameterTypes":["String","int"],"args":["x",1]}`, map[string]string{"x-rpc-group": "red"}, 404,
			`[org.example.GatewayService:1.0:red]`},
		{"no such signature", "sayHello", `{"parameterTypes":["String","long"],"args":["x",1]}`, nil, 404,
			`RPC-020100011: Cannot find invoke method: [sayHello]`},
		{"bad JSON", "sayHello", `{"args":[{"type":"int","value":"three"}]}`, nil, 400, `"field":"args[0].value"`},
		{"unknown field", "sayHello", `{"argz":[]}`, nil, 400, `"field":"argz"`},
	}
	for _, c := range cases {
		status, body, err := boltPost(h, boltSvc+c.method, c.body, c.hdr)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		ok := status == c.status && (c.status == 200 && body == c.want || c.status != 200 && strings.Contains(body, c.want))
		if !ok || !json.Valid([]byte(body)) {
			t.Errorf("%s: %d %.800s, want %d %s", c.name, status, body, c.status, c.want)
		}
	}
	s := h.stats(t)
	if s.Counters["bridge.requests"] < uint64(len(cases)) || s.Counters["golang.panic_error"] != 0 {
		t.Fatalf("counters %v", s.Counters)
	}
}

// TestGatewayBoltSlow: a provider slower than the request's timeout gives 504 when govoy-rpc (the
// Bolt proxy, here in a second ABI host) sits in front of it and answers Bolt TIMEOUT. (Straight
// to the provider, SOFARPC drops a request that waited past its timeout and stays silent; the ABI
// host's router has no route timeout, in Envoy the route timeout gives that 504.)
func TestGatewayBoltSlow(t *testing.T) {
	p := startSofaGatewayProvider(t)
	rpc := rpcHost(t, fmt.Sprintf(`{
	  "protocols": ["bolt"],
	  "routes": [{"match": {"service": "org.example.GatewayService"}, "service": "sofa"}],
	  "services": [{"name": "sofa", "endpoints": [{"address": %q}]}]}`, p.addr))
	h := boltGatewayHost(t, rpc.addr)
	status, body, err := boltPost(h, boltSvc+"slow", `{"parameterTypes":["int"],"args":[5000]}`, map[string]string{"x-rpc-timeout-ms": "300"})
	if err != nil || status != http.StatusGatewayTimeout || !strings.Contains(body, `"error":"bolt status 7 TIMEOUT"`) {
		t.Fatalf("slow provider behind govoy-rpc: %d %s %v", status, body, err)
	}
	status, body, err = boltPost(h, boltSvc+"slow", `{"parameterTypes":["int"],"args":[10]}`, nil)
	if err != nil || status != 200 || body != `{"result":"slept 10"}` {
		t.Fatalf("quick call behind govoy-rpc: %d %s %v", status, body, err)
	}
}

// TestGatewayBoltProviderKilled: a provider killed during a call gives 502, a provider that is
// gone 503 (the router's connect failure).
func TestGatewayBoltProviderKilled(t *testing.T) {
	p := startSofaGatewayProvider(t)
	direct := boltGatewayHost(t, p.addr)
	type answer struct {
		status int
		body   string
		err    error
	}
	done := make(chan answer, 1)
	go func() {
		s, b, err := boltPost(direct, boltSvc+"slow", `{"parameterTypes":["int"],"args":[60000]}`, map[string]string{"x-rpc-timeout-ms": "90000"})
		done <- answer{s, b, err}
	}()
	// Kill the provider once it runs the call: its connection then closes under the gateway.
	for started := false; !started; {
		select {
		case line := <-p.slow:
			started = line == "SLOW 60000"
		case <-time.After(60 * time.Second):
			t.Fatal("the provider did not start the slow call within 60s")
		}
	}
	p.cmd.Process.Kill()
	select {
	case a := <-done:
		if a.err != nil || a.status != http.StatusBadGateway || !strings.Contains(a.body, "upstream closed the connection") {
			t.Fatalf("provider killed during the call: %d %s %v", a.status, a.body, a.err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("no answer 60s after the provider was killed")
	}
	p.cmd.Wait()
	if status, body, err := boltPost(direct, boltSvc+"sayHello", `{"parameterTypes":["String","int"],"args":["x",1]}`, nil); err != nil || status != http.StatusServiceUnavailable {
		t.Fatalf("provider gone: %d %s %v", status, body, err)
	}
}

// TestSofaHessianJavaReads: what sofahessian's encoder writes, sofa-hessian's Hessian2Input reads
// as the intended Java values (org.example.Grammar read prints "NAME CLASS VALUE").
func TestSofaHessianJavaReads(t *testing.T) {
	cp := sofaGatewayClasspath(t)
	long := strings.Repeat("é😀", 20000) // 60000 UTF-16 units: two chunks, surrogates at the boundary
	user := func(name string) *sofahessian.Object {
		return &sofahessian.Object{Class: "org.example.User", Fields: []string{"id", "name", "tags"},
			Values: []any{int32(3), name, []any{"t"}}}
	}
	cases := []struct {
		name  string
		value any
		want  string // CLASS VALUE as Grammar prints it
	}{
		{"null", nil, "null null"},
		{"bool", true, "java.lang.Boolean true"},
		{"int-small", int32(-16), "java.lang.Integer -16"},
		{"int-2byte", int32(-2048), "java.lang.Integer -2048"},
		{"int-3byte", int32(262143), "java.lang.Integer 262143"},
		{"int-4byte", int32(-262145), "java.lang.Integer -262145"},
		{"long-small", int64(15), "java.lang.Long 15"},
		{"long-2byte", int64(-2048), "java.lang.Long -2048"},
		{"long-3byte", int64(-262144), "java.lang.Long -262144"},
		{"long-w", int64(2147483647), "java.lang.Long 2147483647"},
		{"long-8byte", int64(-1 << 62), "java.lang.Long -4611686018427387904"},
		{"double-zero", 0.0, "java.lang.Double 0.0"},
		{"double-one", 1.0, "java.lang.Double 1.0"},
		{"double-byte", -128.0, "java.lang.Double -128.0"},
		{"double-short", 1000.0, "java.lang.Double 1000.0"},
		{"double-float", 0.5, "java.lang.Double 0.5"},
		{"double-full", 3.14159, "java.lang.Double 3.14159"},
		{"string-utf", "héllo 世界 😀", "java.lang.String héllo 世界 😀"},
		{"string-32", strings.Repeat("x", 32), "java.lang.String " + strings.Repeat("x", 32)},
		{"string-chunked", long, "java.lang.String " + long},
		{"bytes", []byte{1, 2, 3}, "[B"},
		{"date", time.UnixMilli(0).UTC(), "java.util.Date"},
		{"list", []any{"a", int32(1), int64(2)}, "java.util.ArrayList [a, 1, 2]"},
		{"int-array", &sofahessian.List{Type: "[int", Items: []any{int32(1), int32(2)}}, "[I [1, 2]"},
		{"string-arrays", []any{&sofahessian.List{Type: "[string", Items: []any{"x"}}, &sofahessian.List{Type: "[string", Items: []any{"y", nil}}},
			"java.util.ArrayList [[Ljava.lang.String;@"},
		{"set", &sofahessian.List{Type: "java.util.HashSet", Items: []any{"s"}}, "java.util.HashSet [s]"},
		{"map", map[string]any{"b": int32(2), "a": []any{}}, "java.util.HashMap {a=[], b=2}"},
		{"typed-maps", []any{&sofahessian.Map{Type: "java.util.TreeMap", Keys: []any{"z", "y"}, Values: []any{int32(1), nil}},
			&sofahessian.Map{Type: "java.util.TreeMap", Keys: []any{"k"}, Values: []any{"v"}}}, "java.util.ArrayList [{y=null, z=1}, {k=v}]"},
		{"pojos", []any{user("a"), user("b")}, "java.util.ArrayList [User{id=3, name=a, age=0, active=false, score=0.0, tags=[t], attrs=null, friend=null}, User{id=3, name=b, age=0, active=false, score=0.0, tags=[t], attrs=null, friend=null}]"},
	}
	var in strings.Builder
	for _, c := range cases {
		e := sofahessian.NewEncoder(nil)
		if err := e.Encode(c.value); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		fmt.Fprintf(&in, "%s %x\n", c.name, e.Bytes())
	}
	file := writeFile(t, "values.txt", []byte(in.String()))
	cmd := exec.Command("java", "-cp", cp, "org.example.Grammar", "read", file)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("Grammar read: %v\n%s", err, tail(stderr.String(), 3000))
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, rest, _ := strings.Cut(line, " ")
		got[name] = rest
	}
	for _, c := range cases {
		if !strings.HasPrefix(got[c.name], c.want) {
			t.Errorf("%s: Java read %.300q, want %.300q", c.name, got[c.name], c.want)
		}
	}
}
