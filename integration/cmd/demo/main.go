// Command demo runs Govoy's main job end to end: it builds govoy.so, starts a real upstream on
// 127.0.0.1, serves the plugin chain of envoy-configs/static.yaml (key_auth, traffic_tagging,
// local_ratelimit, fault_injection) and sends real requests with curl: 401 without a key, 200
// with one (the key hidden from the upstream), the canary tag seen by the upstream, 429 over the
// rate limit. With ENVOY_BIN set it runs Envoy (contrib build) with that bootstrap; otherwise the
// ABI mock host (integration/host) loads govoy.so the way Envoy does.
//
//	go run ./integration/cmd/demo      (or integration/demo.sh)
//	go run ./integration/cmd/demo -so dist/govoy.so -host /tmp/abihost   (skip the builds)
//
// Exits 0 when every step showed what it should, 1 with a message otherwise; bounded in time.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	xds "github.com/cncf/xds/go/xds/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"sigs.k8s.io/yaml"

	"github.com/govoy/govoy/integration/internal/hostbuild"
)

const (
	// Keys of envoy-configs/static.yaml's consumers.
	mobileKey  = "mobile-app-key-change-me-0001"
	partnerKey = "partner-key-change-me-000001"
	burst      = 300 // more than the bucket (100 per consumer) so some get 429
)

var (
	soFlag   = flag.String("so", "", "use this govoy.so instead of building filters/cmd/govoy (it must link the chain's plugins)")
	hostFlag = flag.String("host", "", "use this abihost binary instead of building integration/host")
)

func main() {
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "demo: FAILED: %v\n", err)
		os.Exit(1)
	}
	fmt.Println("demo: OK")
}

func say(format string, a ...any) { fmt.Printf("demo: "+format+"\n", a...) }

func run(ctx context.Context) error {
	envoyBin := os.Getenv("ENVOY_BIN")
	if envoyBin == "" {
		say("no envoy-contrib found (ENVOY_BIN unset): running the chain in the ABI mock host")
	} else {
		say("ENVOY_BIN=%s: running the chain in Envoy with envoy-configs/static.yaml", envoyBin)
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	if _, err := exec.LookPath("curl"); err != nil {
		return errors.New("curl is needed to send the requests")
	}
	tmp, err := os.MkdirTemp("", "govoy-demo")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	bootstrap, err := readBootstrap(filepath.Join(root, "envoy-configs/static.yaml"))
	if err != nil {
		return err
	}
	chain, err := pluginConfig(bootstrap)
	if err != nil {
		return err
	}
	so := *soFlag
	if so == "" {
		if so, err = buildGovoy(ctx, root, tmp); err != nil {
			return err
		}
	} else {
		say("using %s (-so)", so)
	}
	up, err := startUpstream()
	if err != nil {
		return err
	}
	defer up.srv.Close()
	say("upstream: net/http server on %s (answers with the request headers it saw)", up.addr)

	var addr string
	var stop func()
	if envoyBin == "" {
		addr, stop, err = startHost(ctx, root, tmp, so, chain, up.addr)
	} else {
		addr, stop, err = startEnvoy(ctx, envoyBin, tmp, so, bootstrap, up.addr)
	}
	if err != nil {
		return err
	}
	defer stop()
	return scenario(ctx, "http://"+addr+"/orders", up)
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/govoy/govoy\n") {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("run the demo inside the Govoy repository (no go.mod of github.com/govoy/govoy above %s)", dir)
		}
	}
}

// readBootstrap parses the Envoy bootstrap YAML into generic JSON values.
func readBootstrap(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read bootstrap: %w", err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return m, nil
}

// golangFilter finds the envoy.filters.http.golang filter's typed_config in the bootstrap.
func golangFilter(boot map[string]any) (map[string]any, error) {
	sr, _ := boot["static_resources"].(map[string]any)
	lis, _ := sr["listeners"].([]any)
	for _, l := range lis {
		fcs, _ := l.(map[string]any)["filter_chains"].([]any)
		for _, fc := range fcs {
			fs, _ := fc.(map[string]any)["filters"].([]any)
			for _, f := range fs {
				tc, _ := f.(map[string]any)["typed_config"].(map[string]any)
				hfs, _ := tc["http_filters"].([]any)
				for _, hf := range hfs {
					h, _ := hf.(map[string]any)
					if h["name"] == "envoy.filters.http.golang" {
						if c, ok := h["typed_config"].(map[string]any); ok {
							return c, nil
						}
					}
				}
			}
		}
	}
	return nil, errors.New("bootstrap: no envoy.filters.http.golang filter with a typed_config in static_resources.listeners")
}

// pluginConfig is the golang filter's plugin_config value: the govoy chain (a TypedStruct).
func pluginConfig(boot map[string]any) (map[string]any, error) {
	gf, err := golangFilter(boot)
	if err != nil {
		return nil, err
	}
	pc, _ := gf["plugin_config"].(map[string]any)
	if pc == nil || pc["type_url"] != "type.googleapis.com/govoy.plugin.v1.Chain" {
		return nil, errors.New("bootstrap: golang filter plugin_config: want a TypedStruct with type_url type.googleapis.com/govoy.plugin.v1.Chain")
	}
	return pc, nil
}

// chainAny serializes plugin_config as Envoy hands it to the filter: an Any of a TypedStruct.
func chainAny(pc map[string]any) ([]byte, error) {
	v, _ := pc["value"].(map[string]any)
	s, err := structpb.NewStruct(v)
	if err != nil {
		return nil, fmt.Errorf("plugin_config.value: %w", err)
	}
	a, err := anypb.New(&xds.TypedStruct{TypeUrl: pc["type_url"].(string), Value: s})
	if err != nil {
		return nil, err
	}
	return proto.Marshal(a)
}

// buildGovoy builds filters/cmd/govoy as a c-shared object (it links every shipped plugin through
// filters/http/all; a chain naming an unknown plugin is refused by the host at start-up).
func buildGovoy(ctx context.Context, root, tmp string) (string, error) {
	so := filepath.Join(tmp, "govoy.so")
	args := []string{"build", "-buildmode=c-shared", "-o", so}
	args = append(args, "./filters/cmd/govoy")
	say("building govoy.so: go %s", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build govoy.so: %w\n%s", err, b)
	}
	return so, nil
}

// upstream records the headers of the last request per path and echoes them as JSON.
type upstream struct {
	srv  *http.Server
	addr string
	mu   sync.Mutex
	last http.Header
}

func startUpstream() (*upstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	u := &upstream{addr: ln.Addr().String()}
	u.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		u.mu.Lock()
		u.last = r.Header.Clone()
		u.mu.Unlock()
		w.Header().Set("content-type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"path": r.URL.Path, "headers": r.Header})
	}), ReadHeaderTimeout: 10 * time.Second}
	go u.srv.Serve(ln)
	return u, nil
}

func (u *upstream) lastHeader() http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last
}

var readyRe = regexp.MustCompile(`READY listen=(\S+) admin=(\S+)`)

func startHost(ctx context.Context, root, tmp, so string, chain map[string]any, upAddr string) (string, func(), error) {
	envoyDir, version, err := hostbuild.EnvoyModule(root)
	if err != nil {
		return "", nil, err
	}
	bin := *hostFlag
	if bin == "" {
		bin = filepath.Join(tmp, "abihost")
		say("building the ABI mock host (integration/host, Envoy %s golang ABI) with gcc", version)
		if err := hostbuild.Build(filepath.Join(root, "integration/host"), envoyDir, version, bin, false); err != nil {
			return "", nil, err
		}
	}
	cfg, err := chainAny(chain)
	if err != nil {
		return "", nil, err
	}
	cfgPath := filepath.Join(tmp, "chain.pb")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		return "", nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "--so", so, "--config", cfgPath, "--upstream", upAddr,
		"--concurrency", "2", "--log-level", "warning")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start abihost: %w", err)
	}
	stop := func() {
		cmd.Process.Kill()
		cmd.Wait()
		say("stopped the ABI mock host (pid %d)", cmd.Process.Pid)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := readyRe.FindStringSubmatch(sc.Text()); m != nil {
				ready <- m[1]
			}
		}
		close(ready)
	}()
	select {
	case addr, ok := <-ready:
		if !ok {
			stop()
			return "", nil, errors.New("abihost exited before it was ready (see its messages above)")
		}
		say("ABI mock host (pid %d) serves govoy.so on %s, 2 workers", cmd.Process.Pid, addr)
		return addr, stop, nil
	case <-time.After(60 * time.Second):
		stop()
		return "", nil, errors.New("abihost not ready after 60s")
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startEnvoy runs the bootstrap with free ports, every cluster on the demo upstream and
// library_path on the built govoy.so.
func startEnvoy(ctx context.Context, bin, tmp, so string, boot map[string]any, upAddr string) (string, func(), error) {
	_, upPort, _ := net.SplitHostPort(upAddr)
	lport, err := freePort()
	if err != nil {
		return "", nil, err
	}
	aport, err := freePort()
	if err != nil {
		return "", nil, err
	}
	boot["admin"] = map[string]any{"address": map[string]any{"socket_address": map[string]any{"address": "127.0.0.1", "port_value": aport}}}
	sr := boot["static_resources"].(map[string]any)
	lis, _ := sr["listeners"].([]any)
	if len(lis) != 1 {
		return "", nil, fmt.Errorf("bootstrap: want one listener, got %d", len(lis))
	}
	lis[0].(map[string]any)["address"] = map[string]any{"socket_address": map[string]any{"address": "127.0.0.1", "port_value": lport}}
	gf, _ := golangFilter(boot)
	gf["library_path"] = so
	clusters, _ := sr["clusters"].([]any)
	for _, c := range clusters {
		cm := c.(map[string]any)
		cm["load_assignment"] = map[string]any{"cluster_name": cm["name"], "endpoints": []any{map[string]any{"lb_endpoints": []any{
			map[string]any{"endpoint": map[string]any{"address": map[string]any{"socket_address": map[string]any{"address": "127.0.0.1", "port_value": upPort}}}}}}}}
	}
	b, err := json.Marshal(boot)
	if err != nil {
		return "", nil, err
	}
	cfg := filepath.Join(tmp, "envoy.json")
	if err := os.WriteFile(cfg, b, 0o644); err != nil {
		return "", nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "-c", cfg, "--concurrency", "2", "--disable-hot-restart", "-l", "warning")
	cmd.Env = append(os.Environ(), "GODEBUG=cgocheck=0") // Envoy's docs require it for the golang filter
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start envoy: %w", err)
	}
	stop := func() {
		cmd.Process.Kill()
		cmd.Wait()
		say("stopped Envoy (pid %d)", cmd.Process.Pid)
	}
	exited := make(chan struct{})
	go func() { cmd.Process.Wait(); close(exited) }()
	for i := 0; i < 600; i++ {
		select {
		case <-exited:
			return "", nil, errors.New("envoy exited before it was ready (see its messages above)")
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/ready", aport))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				addr := fmt.Sprintf("127.0.0.1:%d", lport)
				say("Envoy (pid %d) serves govoy.so on %s", cmd.Process.Pid, addr)
				return addr, stop, nil
			}
		}
	}
	stop()
	return "", nil, errors.New("envoy not ready after 60s")
}

// curl sends one request per URL over one connection and returns each status code with the
// response headers of the last one.
func curl(ctx context.Context, key string, urls ...string) ([]int, string, error) {
	// -S: curl's own error messages (connection reset, timeout) go to stderr, kept for the error below.
	args := []string{"-sS", "--max-time", "30", "-D", "-", "-w", "STATUS %{http_code}\n"}
	if key != "" {
		args = append(args, "-H", "x-api-key: "+key)
	}
	for _, u := range urls {
		// One -o per URL: curl applies each to one URL, and a body left on stdout (fault
		// injection's 503 has no final newline) would hide the STATUS line after it.
		args = append(args, "-o", "/dev/null", u)
	}
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, "curl", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, "", fmt.Errorf("curl: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var codes []int
	var hdr strings.Builder
	for _, line := range strings.Split(string(out), "\n") {
		var c int
		if _, err := fmt.Sscanf(line, "STATUS %d", &c); err == nil {
			codes = append(codes, c)
			continue
		}
		if strings.HasPrefix(line, "HTTP/") {
			hdr.Reset()
		}
		hdr.WriteString(line + "\n")
	}
	if len(codes) != len(urls) {
		return nil, "", fmt.Errorf("curl: %d status codes for %d requests (codes %v); curl said: %q; its output ends %q",
			len(codes), len(urls), codes, strings.TrimSpace(stderr.String()), string(out[max(0, len(out)-3000):]))
	}
	return codes, hdr.String(), nil
}

func scenario(ctx context.Context, url string, up *upstream) error {
	// Fault injection aborts 0.1% of requests with 503: a single request retries once on that.
	one := func(key string) (int, error) {
		for try := 0; ; try++ {
			codes, _, err := curl(ctx, key, url)
			if err != nil {
				return 0, err
			}
			if codes[0] != 503 || try == 1 {
				return codes[0], nil
			}
			say("  (fault_injection aborted this one with 503; once more)")
		}
	}
	say("1. curl %s without x-api-key", url)
	code, err := one("")
	if err != nil {
		return err
	}
	say("   -> %d (key_auth rejects it)", code)
	if code != 401 {
		return fmt.Errorf("without a key: got %d, want 401", code)
	}

	say("2. curl with the mobile-app key")
	if code, err = one(mobileKey); err != nil {
		return err
	}
	h := up.lastHeader()
	say("   -> %d; upstream saw x-api-key=%q (hidden by key_auth)", code, h.Get("x-api-key"))
	if code != 200 {
		return fmt.Errorf("with a key: got %d, want 200", code)
	}
	if h.Get("x-api-key") != "" {
		return errors.New("the upstream saw the API key: hide_credentials did not apply")
	}

	say("3. curl with the partner key (traffic_tagging: partners are canary)")
	if code, err = one(partnerKey); err != nil {
		return err
	}
	h = up.lastHeader()
	say("   -> %d; upstream saw x-govoy-tag=%q", code, h.Get("x-govoy-tag"))
	if code != 200 || h.Get("x-govoy-tag") != "canary" {
		return fmt.Errorf("partner request: got %d with x-govoy-tag %q, want 200 and canary", code, h.Get("x-govoy-tag"))
	}

	say("4. curl %d requests in a row with the partner key (limit: 100 per second per consumer)", burst)
	urls := make([]string, burst)
	for i := range urls {
		urls[i] = url
	}
	codes, last, err := curl(ctx, partnerKey, urls...)
	if err != nil {
		return err
	}
	count := map[int]int{}
	for _, c := range codes {
		count[c]++
	}
	say("   -> %d x 200, %d x 429, %d x 503 (fault injection), others %d", count[200], count[429], count[503],
		burst-count[200]-count[429]-count[503])
	if count[429] == 0 || count[200] == 0 || count[200]+count[429]+count[503] != burst {
		return fmt.Errorf("burst: want both 200s and 429s only, got %v", count)
	}
	if codes[len(codes)-1] == 429 {
		for _, l := range strings.Split(strings.TrimSpace(last), "\n") {
			if ll := strings.ToLower(l); strings.HasPrefix(ll, "retry-after") || strings.HasPrefix(ll, "x-ratelimit") {
				say("   last 429: %s", strings.TrimSpace(l))
			}
		}
	}
	return nil
}
