package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	xds "github.com/cncf/xds/go/xds/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
)

var (
	govoyOnce sync.Once
	govoySO   string
	govoyErr  error
)

// buildGovoy builds the real govoy.so the way `make build` does (same package, same flags), into a
// temp dir so parallel helpers' dist/ builds don't race with the tests.
func buildGovoy(t testing.TB) string {
	t.Helper()
	needBuild(t)
	govoyOnce.Do(func() {
		govoySO = filepath.Join(workDir, "govoy.so")
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", govoySO, "./filters/cmd/govoy")
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		if b, err := cmd.CombinedOutput(); err != nil {
			govoyErr = fmt.Errorf("build govoy.so: %w\n%s", err, b)
		}
	})
	if govoyErr != nil {
		t.Fatal(govoyErr)
	}
	return govoySO
}

// chainAny is the govoy filter's plugin_config as a user writes it in YAML: a TypedStruct naming
// govoy.plugin.v1.Chain with the chain as JSON.
func chainAny(t testing.TB, chainJSON string) []byte {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(chainJSON), &v); err != nil {
		t.Fatal(err)
	}
	s, err := structpb.NewStruct(v)
	if err != nil {
		t.Fatal(err)
	}
	a, err := anypb.New(&xds.TypedStruct{TypeUrl: "type.googleapis.com/govoy.plugin.v1.Chain", Value: s})
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func govoyHost(t testing.TB, chainJSON string, args ...string) (*host, *httptestUpstream) {
	t.Helper()
	so := buildGovoy(t)
	srv, seen := startUpstream(t)
	cfg := writeFile(t, "chain.pb", chainAny(t, chainJSON))
	all := append([]string{"--config", cfg, "--upstream", strings.TrimPrefix(srv.URL, "http://")}, args...)
	return startHost(t, so, all...), &httptestUpstream{seen: seen}
}

func TestGovoyEmptyChainProxies(t *testing.T) {
	h, up := govoyHost(t, `{"plugins":[]}`)
	r := get(t, h, "/hello", nil)
	if r.status != 200 {
		t.Fatalf("status %d %.200q", r.status, r.body)
	}
	if _, ok := up.got("/hello"); !ok {
		t.Fatal("upstream not reached")
	}
	s := h.waitFinalized(t)
	if s.Counters["host.go_destroy"] != 1 || s.Counters["golang.panic_error"] != 0 {
		t.Fatalf("counters %v", s.Counters)
	}
}

func TestGovoyRejectsUnknownPlugin(t *testing.T) {
	so := buildGovoy(t)
	cfg := writeFile(t, "chain.pb", chainAny(t, `{"plugins":[{"name":"no_such_plugin"}]}`))
	out, err := exec.Command(hostBin, "--so", so, "--config", cfg, "--upstream", "127.0.0.1:1").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 {
		t.Fatalf("want failure, got %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "golang filter failed to parse plugin config: govoy") ||
		!strings.Contains(string(out), "no_such_plugin") {
		t.Fatalf("message does not name the problem:\n%s", out)
	}
}

func TestGovoyLocalRateLimit429(t *testing.T) {
	h, _ := govoyHost(t, `{"plugins":[{"name":"local_ratelimit","config":{"token_bucket":{"max_tokens":2,"fill_interval":"3600s"}}}]}`)
	codes := []int{}
	for i := 0; i < 3; i++ {
		codes = append(codes, get(t, h, "/rl", nil).status)
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != 429 {
		t.Fatalf("codes %v, want [200 200 429]", codes)
	}
}

func TestGovoyKeyAuth401(t *testing.T) {
	h, up := govoyHost(t, `{"plugins":[{"name":"key_auth","config":{"consumers":[{"name":"alice","keys":["0123456789abcdef-alice"]}]}}]}`)
	if r := get(t, h, "/ka", nil); r.status != 401 {
		t.Fatalf("no key: %d %.200q", r.status, r.body)
	}
	if r := get(t, h, "/ka-bad", map[string]string{"x-api-key": "wrong-key-wrong-key"}); r.status != 401 {
		t.Fatalf("bad key: %d", r.status)
	}
	if r := get(t, h, "/ka-ok", map[string]string{"x-api-key": "0123456789abcdef-alice"}); r.status != 200 {
		t.Fatalf("good key: %d %.200q", r.status, r.body)
	}
	if _, ok := up.got("/ka"); ok {
		t.Fatal("unauthenticated request reached the upstream")
	}
}

func TestGovoyFaultAbort(t *testing.T) {
	h, up := govoyHost(t, `{"plugins":[{"name":"fault_injection","config":{"abort":{"http_status":418,"body":"teapot","percentage":{"percent":100}}}}]}`)
	r := get(t, h, "/fault", nil)
	if r.status != 418 || r.body != "teapot" {
		t.Fatalf("got %d %.200q", r.status, r.body)
	}
	if _, ok := up.got("/fault"); ok {
		t.Fatal("aborted request reached the upstream")
	}
}

func TestGovoyConcurrentFinalize(t *testing.T) {
	h, _ := govoyHost(t, `{"plugins":[]}`)
	const clients, per = 8, 25
	var wg sync.WaitGroup
	fails := make(chan string, clients*per)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				resp, err := httpGet(h.url(fmt.Sprintf("/g/%d/%d", c, i)))
				if err != nil || resp != 200 {
					fails <- fmt.Sprintf("request %d/%d: %d %v", c, i, resp, err)
				}
			}
		}(c)
	}
	wg.Wait()
	close(fails)
	for f := range fails {
		t.Fatal(f)
	}
	s := h.waitFinalized(t)
	if s.Counters["host.requests"] != clients*per || s.Counters["host.go_destroy"] != clients*per {
		t.Fatalf("counters %v", s.Counters)
	}
}
