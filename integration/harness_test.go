package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	xds "github.com/cncf/xds/go/xds/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/govoy/govoy/integration/internal/hostbuild"
)

// Paths built once by TestMain.
var (
	hostBin   string // the C ABI host
	testSO    string // integration/testdata/testfilter built as a c-shared object
	netSO     string // integration/testdata/netfilter (golang network filter)
	repoRoot  string
	envoyVers string // github.com/envoyproxy/envoy version pinned in go.mod
	workDir   string // temp dir of this test binary's builds, removed by TestMain
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "abihost")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workDir = dir
	buildErr = buildAll(dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func buildAll(dir string) error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	repoRoot = filepath.Dir(wd)
	envoyDir, v, err := hostbuild.EnvoyModule(wd)
	if err != nil {
		return err
	}
	envoyVers = v
	hostBin = filepath.Join(dir, "abihost")
	if err := buildHost(envoyDir, envoyVers, hostBin); err != nil {
		return err
	}
	testSO = filepath.Join(dir, "abitest.so")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", testSO, "./testdata/testfilter")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build test filter: %w\n%s", err, b)
	}
	netSO = filepath.Join(dir, "abinet.so")
	cmd = exec.Command("go", "build", "-buildmode=c-shared", "-o", netSO, "./testdata/netfilter")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build network test filter: %w\n%s", err, b)
	}
	return nil
}

// buildHost compiles integration/host with gcc against the pinned Envoy's api.h.
func buildHost(envoyDir, version, out string) error {
	return hostbuild.Build("host", envoyDir, version, out, os.Getenv("ABIHOST_SANITIZE") == "1")
}

func needBuild(t testing.TB) {
	t.Helper()
	if buildErr != nil {
		t.Fatalf("build failed: %v", buildErr)
	}
}

// typedStructAny is the test filter's config: a TypedStruct carrying {"tag": tag}.
func typedStructAny(t testing.TB, tag string) []byte {
	t.Helper()
	v, err := structpb.NewStruct(map[string]any{"tag": tag})
	if err != nil {
		t.Fatal(err)
	}
	a, err := anypb.New(&xds.TypedStruct{TypeUrl: "type.googleapis.com/abitest.Config", Value: v})
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// received is what the upstream saw; the upstream answers with it as JSON.
type received struct {
	Method  string
	Path    string
	Header  http.Header
	Body    string
	Trailer http.Header
}

// upstream is a real net/http server; x-upstream on the request picks its answer.
func startUpstream(t testing.TB) (*httptest.Server, *sync.Map) {
	t.Helper()
	seen := &sync.Map{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec := received{Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header, Body: string(body), Trailer: r.Trailer}
		seen.Store(r.URL.RequestURI(), rec)
		switch mode := r.Header.Get("x-upstream"); {
		case strings.HasPrefix(mode, "big:"):
			var n int
			fmt.Sscanf(mode, "big:%d", &n)
			w.Write(bytes.Repeat([]byte("b"), n))
			return
		case mode == "trailers":
			w.Header().Set("Trailer", "x-resp-trailer")
			w.Write([]byte("with trailers"))
			w.Header().Set("x-resp-trailer", "t1")
			return
		}
		w.Header().Set("content-type", "application/json")
		json.NewEncoder(w).Encode(rec)
	}))
	t.Cleanup(srv.Close)
	return srv, seen
}

type host struct {
	addr, admin string
	cmd         *exec.Cmd
	stderr      *lockedBuf
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var readyRe = regexp.MustCompile(`READY listen=(\S+) admin=(\S+)`)

// startHost runs the ABI host and waits for its READY line (bounded by a generous startup limit).
func startHost(t testing.TB, so string, args ...string) *host {
	t.Helper()
	needBuild(t)
	all := append([]string{"--so", so}, args...)
	cmd := exec.Command(hostBin, all...)
	errBuf := &lockedBuf{}
	cmd.Stderr = errBuf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &host{cmd: cmd, stderr: errBuf}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			all := errBuf.String()
			if len(all) > 8000 {
				all = all[:4000] + "\n...\n" + all[len(all)-4000:]
			}
			t.Logf("abihost stderr:\n%s", all)
		}
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := readyRe.FindStringSubmatch(sc.Text()); m != nil {
				ready <- sc.Text()
			}
		}
		close(ready)
	}()
	select {
	case line, ok := <-ready:
		if !ok {
			cmd.Wait()
			t.Fatalf("abihost exited before READY: %s", errBuf.String())
		}
		m := readyRe.FindStringSubmatch(line)
		h.addr, h.admin = m[1], m[2]
	case <-time.After(60 * time.Second):
		t.Fatalf("abihost not ready after 60s: %s", errBuf.String())
	}
	return h
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (h *host) url(path string) string { return "http://" + h.addr + path }

type stats struct {
	EnvoyABI    string            `json:"envoy_abi"`
	Concurrency int               `json:"concurrency"`
	Counters    map[string]uint64 `json:"counters"`
	Metrics     map[string]struct {
		Type  string `json:"type"`
		Value int64  `json:"value"`
	} `json:"metrics"`
}

func (h *host) stats(t testing.TB) stats {
	t.Helper()
	resp, err := http.Get("http://" + h.admin + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s stats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func (h *host) logs(t testing.TB) string {
	t.Helper()
	resp, err := http.Get("http://" + h.admin + "/logs")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// gc asks the Go side to run a GC cycle and its finalizers (envoyGoFilterCleanUp).
func (h *host) gc(t testing.TB) {
	t.Helper()
	resp, err := http.Post("http://"+h.admin+"/cleanup", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// waitFinalized drives GC until every request created on the Go side was finalized, a bounded
// number of rounds (finalizers run in Go's own time; this is not a speed assertion).
func (h *host) waitFinalized(t testing.TB) stats {
	t.Helper()
	var s stats
	for i := 0; i < 50; i++ {
		h.gc(t)
		s = h.stats(t)
		if s.Counters["host.go_destroy"] > 0 && s.Counters["host.finalize"] == s.Counters["host.go_destroy"] &&
			s.Counters["host.req_freed"] == s.Counters["host.requests"] {
			return s
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("not every request was finalized: %v", s.Counters)
	return s
}

type reply struct {
	status  int
	header  http.Header
	body    string
	trailer http.Header
}

func do(t testing.TB, c *http.Client, req *http.Request) reply {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return reply{resp.StatusCode, resp.Header, string(b), resp.Trailer}
}

func get(t testing.TB, h *host, path string, hdr map[string]string) reply {
	t.Helper()
	req, _ := http.NewRequest("GET", h.url(path), nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return do(t, http.DefaultClient, req)
}

func decodeReceived(t testing.TB, body string) received {
	t.Helper()
	var r received
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("upstream reply is not JSON: %v: %.200q", err, body)
	}
	return r
}

func httpGet(url string) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}
