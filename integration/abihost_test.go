package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// hostWithTestFilter starts the host on the Envoy-SDK-only test filter with tag "base".
func hostWithTestFilter(t testing.TB, args ...string) (*host, *httptestUpstream) {
	t.Helper()
	needBuild(t)
	srv, seen := startUpstream(t)
	cfg := writeFile(t, "cfg.pb", typedStructAny(t, "base"))
	all := append([]string{"--plugin-name", "abitest", "--config", cfg,
		"--upstream", strings.TrimPrefix(srv.URL, "http://"), "--log-level", "info"}, args...)
	h := startHost(t, testSO, all...)
	return h, &httptestUpstream{seen: seen}
}

type httptestUpstream struct{ seen *sync.Map }

func (u *httptestUpstream) got(path string) (received, bool) {
	v, ok := u.seen.Load(path)
	if !ok {
		return received{}, false
	}
	return v.(received), true
}

func TestHostABIVersionMatchesGoMod(t *testing.T) {
	needBuild(t)
	out, err := exec.Command(hostBin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "envoy-abi " + envoyVers; !strings.Contains(string(out), want) {
		t.Fatalf("host says %q, go.mod pins %s", out, envoyVers)
	}
}

func TestPassThroughReachesUpstreamAndEncoder(t *testing.T) {
	h, up := hostWithTestFilter(t)
	r := get(t, h, "/plain?q=1", nil)
	if r.status != 200 {
		t.Fatalf("status %d body %.200q", r.status, r.body)
	}
	rec := decodeReceived(t, r.body)
	if rec.Header.Get("x-abitest-tag") != "base" || rec.Header.Get("x-forwarded-proto") != "http" {
		t.Fatalf("upstream headers: %v", rec.Header)
	}
	if rec.Path != "/plain?q=1" {
		t.Fatalf("upstream path %q", rec.Path)
	}
	if r.header.Get("x-abitest-encoded") != "1" {
		t.Fatalf("encode phase did not run: %v", r.header)
	}
	if _, ok := up.got("/plain?q=1"); !ok {
		t.Fatal("upstream did not record the request")
	}
	s := h.stats(t)
	if s.EnvoyABI != envoyVers || s.Concurrency != 2 {
		t.Fatalf("stats: %+v", s)
	}
}

func TestSyncLocalReplySkipsUpstream(t *testing.T) {
	h, up := hostWithTestFilter(t)
	r := get(t, h, "/denied", map[string]string{"x-mode": "local-reply"})
	if r.status != 403 || r.body != "denied by go" || r.header.Get("x-reason") != "test" {
		t.Fatalf("got %d %q %v", r.status, r.body, r.header)
	}
	// A local reply from decoding goes through the encoder chain, as in Envoy.
	if r.header.Get("x-abitest-encoded") != "1" {
		t.Fatalf("local reply skipped the encoder: %v", r.header)
	}
	if _, ok := up.got("/denied"); ok {
		t.Fatal("upstream saw a locally answered request")
	}
	if s := h.stats(t); s.Counters["host.local_reply"] != 1 {
		t.Fatalf("local_reply counter: %v", s.Counters)
	}
}

func TestAsyncContinueIsPostedToTheWorker(t *testing.T) {
	h, _ := hostWithTestFilter(t)
	r := get(t, h, "/async", map[string]string{"x-mode": "async"})
	if r.status != 200 {
		t.Fatalf("status %d %.200q", r.status, r.body)
	}
	if rec := decodeReceived(t, r.body); rec.Header.Get("x-async") != "yes:/async" {
		t.Fatalf("header set from goroutine missing upstream: %v", rec.Header)
	}
	if s := h.stats(t); s.Counters["host.posted"] == 0 {
		t.Fatalf("goroutine calls were not posted: %v", s.Counters)
	}
}

func TestAsyncLocalReply(t *testing.T) {
	h, _ := hostWithTestFilter(t)
	r := get(t, h, "/slow", map[string]string{"x-mode": "async-local-reply"})
	if r.status != 429 || r.body != "slow down" {
		t.Fatalf("got %d %.200q", r.status, r.body)
	}
}

func TestPanicsBecome500(t *testing.T) {
	h, up := hostWithTestFilter(t)
	for i, mode := range []string{"panic", "goroutine-panic"} {
		path := "/" + mode
		r := get(t, h, path, map[string]string{"x-mode": mode})
		if r.status != 500 || r.body != "error happened in filter\r\n" {
			t.Fatalf("%s: got %d %q", mode, r.status, r.body)
		}
		if _, ok := up.got(path); ok {
			t.Fatalf("%s: upstream was called", mode)
		}
		if s := h.stats(t); s.Counters["golang.panic_error"] != uint64(i+1) {
			t.Fatalf("%s: panic_error %v", mode, s.Counters)
		}
	}
	// The host survives and keeps serving.
	if r := get(t, h, "/after", nil); r.status != 200 {
		t.Fatalf("after panics: %d", r.status)
	}
}

func TestGoroutineReadsYieldAndSemaDec(t *testing.T) {
	h, _ := hostWithTestFilter(t, "--route", "/reads")
	r := get(t, h, "/reads", map[string]string{"x-mode": "reads"})
	if r.status != 200 {
		t.Fatalf("status %d %.200q", r.status, r.body)
	}
	note := r.header.Get("x-note")
	for _, want := range []string{"fs=fs-value", "prop=/reads/<nil>", "md=md-value", "route=/reads"} {
		if !strings.Contains(note, want) {
			t.Fatalf("x-note %q lacks %q", note, want)
		}
	}
	s := h.stats(t)
	if s.Counters["host.capi_yield"] < 3 || s.Counters["host.sema_dec"] != s.Counters["host.capi_yield"] {
		t.Fatalf("yield/sema_dec: %v", s.Counters)
	}
}

func post(t testing.TB, h *host, path, mode string, body io.Reader) reply {
	t.Helper()
	req, _ := http.NewRequest("POST", h.url(path), body)
	req.Header.Set("x-mode", mode)
	return do(t, http.DefaultClient, req)
}

// chunks streams a body in several writes so the host sees several decodeData calls.
func chunks(parts ...string) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		for _, p := range parts {
			pw.Write([]byte(p))
		}
		pw.Close()
	}()
	return pr
}

func TestStopAndBufferRequest(t *testing.T) {
	h, _ := hostWithTestFilter(t)
	r := post(t, h, "/buf", "buffer", chunks("hello ", "from ", "the client"))
	if r.status != 200 {
		t.Fatalf("status %d %.200q", r.status, r.body)
	}
	if rec := decodeReceived(t, r.body); rec.Body != "hello from the client+go" {
		t.Fatalf("upstream body %q", rec.Body)
	}
	if r.header.Get("x-note") != "decoded=21" {
		t.Fatalf("x-note %q", r.header.Get("x-note"))
	}
	r = post(t, h, "/bufa", "buffer-async", chunks("make ", "me ", "loud"))
	if rec := decodeReceived(t, r.body); rec.Body != "MAKE ME LOUD" {
		t.Fatalf("async buffered body %q", rec.Body)
	}
}

func TestStopNoBufferDropsChunks(t *testing.T) {
	h, _ := hostWithTestFilter(t)
	// 40000 bytes reach the filter in slices of at most 16 KiB: StopNoBuffer drops all but the last.
	r := post(t, h, "/drop", "drop-data", strings.NewReader(strings.Repeat("d", 40000)))
	rec := decodeReceived(t, r.body)
	var dropped int
	fmt.Sscanf(r.header.Get("x-note"), "dropped=%d", &dropped)
	if r.status != 200 || dropped < 40000-16384 || len(rec.Body)+dropped != 40000 {
		t.Fatalf("got %d, upstream body %d bytes, dropped %d", r.status, len(rec.Body), dropped)
	}
}

func TestRequestOverBufferLimitIs413(t *testing.T) {
	h, up := hostWithTestFilter(t, "--buffer-limit", "1024")
	big := strings.Repeat("x", 40000) // more than one 16 KiB slice: the filter buffers the first
	r := post(t, h, "/big", "buffer", chunks(big))
	if r.status != 413 || r.body != "Payload Too Large" {
		t.Fatalf("got %d %.100q", r.status, r.body)
	}
	if _, ok := up.got("/big"); ok {
		t.Fatal("upstream saw an over-limit request")
	}
	// Watermark buffering instead pauses reading and still delivers everything.
	r = post(t, h, "/wm", "watermark", chunks(big))
	if rec := decodeReceived(t, r.body); r.status != 200 || len(rec.Body) != len(big) {
		t.Fatalf("watermark: %d, upstream body %d bytes", r.status, len(rec.Body))
	}
}

func TestResponseBuffering(t *testing.T) {
	h, _ := hostWithTestFilter(t, "--buffer-limit", "4096")
	r := get(t, h, "/rb", map[string]string{"x-mode": "resp-buffer", "x-upstream": "big:100"})
	if r.status != 200 || r.body != strings.Repeat("B", 100) {
		t.Fatalf("got %d %.200q", r.status, r.body)
	}
	r = get(t, h, "/rb2", map[string]string{"x-mode": "resp-buffer", "x-upstream": "big:100000"})
	if r.status != 500 || r.body != "Internal Server Error" {
		t.Fatalf("over-limit response: %d %.100q", r.status, r.body)
	}
}

func TestEncodeLocalReplyAndAsyncEncode(t *testing.T) {
	h, _ := hostWithTestFilter(t)
	r := get(t, h, "/erl", map[string]string{"x-mode": "resp-local-reply"})
	if r.status != 502 || r.body != "replaced by go" {
		t.Fatalf("encode local reply: %d %q", r.status, r.body)
	}
	r = get(t, h, "/ea", map[string]string{"x-mode": "resp-async"})
	if r.status != 200 || r.header.Get("x-resp-async") != "yes" {
		t.Fatalf("async encode: %d %v", r.status, r.header)
	}
}

func TestTrailersBothWays(t *testing.T) {
	h, _ := hostWithTestFilter(t)
	req, _ := http.NewRequest("POST", h.url("/tr"), chunks("body"))
	req.Trailer = http.Header{"X-Trailer": nil}
	pr, pw := io.Pipe()
	req.Body = pr
	go func() {
		pw.Write([]byte("body"))
		req.Trailer.Set("X-Trailer", "v")
		pw.Close()
	}()
	r := do(t, http.DefaultClient, req)
	rec := decodeReceived(t, r.body)
	if rec.Body != "body" || rec.Trailer.Get("x-trailer") != "v+go" {
		t.Fatalf("upstream body %q trailers %v", rec.Body, rec.Trailer)
	}
	r = get(t, h, "/rt", map[string]string{"x-upstream": "trailers"})
	if r.body != "with trailers" || r.trailer.Get("x-resp-trailer") != "t1" {
		t.Fatalf("response trailers: %q %v", r.body, r.trailer)
	}
}

func TestPerRouteConfigMerge(t *testing.T) {
	route := writeFile(t, "route.pb", typedStructAny(t, "route"))
	h, _ := hostWithTestFilter(t, "--route", "/r="+route)
	for path, want := range map[string]string{"/r/1": "route", "/other": "base", "/r/2": "route"} {
		r := get(t, h, path, nil)
		if rec := decodeReceived(t, r.body); rec.Header.Get("x-abitest-tag") != want {
			t.Fatalf("%s: tag %q, want %q", path, rec.Header.Get("x-abitest-tag"), want)
		}
	}
}

func TestMetricsLogsAndFinalize(t *testing.T) {
	h, _ := hostWithTestFilter(t)
	const n = 20
	for i := 0; i < n; i++ {
		if r := get(t, h, fmt.Sprintf("/m/%d", i), nil); r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
	}
	s := h.waitFinalized(t)
	for name, want := range map[string]int64{"abitest_requests": n, "abitest_logs": n, "abitest_destroys": n, "abitest_inflight": 0} {
		if got := s.Metrics[name].Value; got != want {
			t.Fatalf("metric %s = %d, want %d (%v)", name, got, want, s.Metrics)
		}
	}
	if s.Counters["host.access_log"] != n || s.Counters["host.stream_complete"] != n {
		t.Fatalf("counters: %v", s.Counters)
	}
	logs := h.logs(t)
	if !strings.Contains(logs, "abitest access /m/7 200") {
		t.Fatalf("access log line missing from host logs:\n%s", tail(logs, 2000))
	}
}

func TestConcurrentRequestsAcrossWorkers(t *testing.T) {
	h, _ := hostWithTestFilter(t)
	modes := []string{"", "async", "reads", "local-reply", "buffer"}
	const clients, per = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, clients*per)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			cl := &http.Client{Transport: &http.Transport{}}
			defer cl.CloseIdleConnections()
			for i := 0; i < per; i++ {
				mode := modes[(c+i)%len(modes)]
				req, _ := http.NewRequest("POST", h.url(fmt.Sprintf("/c/%d/%d", c, i)), strings.NewReader("payload"))
				req.Header.Set("x-mode", mode)
				resp, err := cl.Do(req)
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				want := 200
				if mode == "local-reply" {
					want = 403
				}
				if resp.StatusCode != want {
					errs <- fmt.Errorf("mode %q: status %d", mode, resp.StatusCode)
				}
			}
		}(c)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	logs := h.logs(t)
	if !strings.Contains(logs, "worker=0") || !strings.Contains(logs, "worker=1") {
		t.Fatal("requests did not spread over both workers")
	}
	s := h.waitFinalized(t)
	if s.Counters["host.requests"] != clients*per {
		t.Fatalf("requests %d, want %d", s.Counters["host.requests"], clients*per)
	}
}

// A client that gives up while Go still runs: the host resets the stream, Go sees OnDestroy with
// reason Terminate; the late Continue finds the filter freed (Envoy's expired weak_ptr:
// CAPIFilterIsGone, which the SDK's RecoverPanic swallows) and the request is still finalized.
func TestClientGoneWhileGoRuns(t *testing.T) {
	h, up := hostWithTestFilter(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", h.url("/gone"), nil)
	req.Header.Set("x-mode", "async-slow")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("request finished with %d before the client gave up", resp.StatusCode)
	}
	s := h.waitFinalized(t)
	if s.Counters["host.stream_reset"] != 1 || s.Counters["host.go_destroy"] != 1 {
		t.Fatalf("counters %v", s.Counters)
	}
	// Bounded wait for the goroutine's late Continue (500ms after the request started).
	for i := 0; i < 100 && h.stats(t).Counters["host.capi_filter_gone"] == 0; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if s := h.stats(t); s.Counters["host.capi_filter_gone"] != 1 {
		t.Fatalf("late Continue was not refused: %v", s.Counters)
	}
	if !strings.Contains(h.logs(t), `abitest destroy reason=1 mode="async-slow"`) {
		t.Fatal("Go did not see DestroyReason Terminate")
	}
	if _, ok := up.got("/gone"); ok {
		t.Fatal("upstream saw a request whose client left")
	}
	if r := get(t, h, "/after", nil); r.status != 200 {
		t.Fatalf("host unhealthy after reset: %d", r.status)
	}
}

func TestUpstreamDownIs503(t *testing.T) {
	needBuild(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	cfg := writeFile(t, "cfg.pb", typedStructAny(t, "base"))
	h := startHost(t, testSO, "--plugin-name", "abitest", "--config", cfg, "--upstream", addr)
	r := get(t, h, "/x", nil)
	if r.status != 503 || !strings.Contains(r.body, "upstream connect error") {
		t.Fatalf("got %d %.200q", r.status, r.body)
	}
	if s := h.stats(t); s.Counters["host.upstream_fail"] != 1 {
		t.Fatalf("counters %v", s.Counters)
	}
}

// The host refuses bad input with a message naming what is wrong, and a non-zero exit.
func TestBadInputIsRejected(t *testing.T) {
	needBuild(t)
	good := writeFile(t, "good.pb", typedStructAny(t, "base"))
	invalid := writeFile(t, "invalid.pb", typedStructAny(t, "invalid"))
	garbage := writeFile(t, "garbage.pb", []byte("\xff\xff not a proto"))
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no so", []string{"--upstream", "127.0.0.1:1"}, "--so: required"},
		{"no upstream", []string{"--so", testSO}, "--upstream: required"},
		{"bad upstream", []string{"--so", testSO, "--upstream", "localhost"}, "--upstream: want HOST:PORT"},
		{"bad port", []string{"--so", testSO, "--upstream", "127.0.0.1:99999"}, "--upstream: bad port"},
		{"missing config", []string{"--so", testSO, "--upstream", "127.0.0.1:1", "--config", "/nonexistent.pb"}, "--config: cannot read /nonexistent.pb"},
		{"bad concurrency", []string{"--so", testSO, "--upstream", "127.0.0.1:1", "--concurrency", "0"}, "--concurrency: want 1..64"},
		{"bad log level", []string{"--so", testSO, "--upstream", "127.0.0.1:1", "--log-level", "loud"}, "--log-level: unknown level loud"},
		{"unknown flag", []string{"--so", testSO, "--frobnicate", "1"}, "unknown flag --frobnicate"},
		{"bad route", []string{"--so", testSO, "--upstream", "127.0.0.1:1", "--route", "noslash"}, "--route: prefix must start with '/'"},
		{"no such so", []string{"--so", "/nonexistent.so", "--upstream", "127.0.0.1:1"}, "golang_filter: load library failed"},
		{"config rejected by Go", []string{"--so", testSO, "--plugin-name", "abitest", "--upstream", "127.0.0.1:1", "--config", invalid}, "golang filter failed to parse plugin config: abitest"},
		{"config not an Any", []string{"--so", testSO, "--plugin-name", "abitest", "--upstream", "127.0.0.1:1", "--config", garbage}, "golang filter failed to parse plugin config"},
		{"route config rejected", []string{"--so", testSO, "--plugin-name", "abitest", "--upstream", "127.0.0.1:1", "--config", good, "--route", "/r=" + invalid}, "failed to parse plugin config: abitest (route /r)"},
		{"missing symbols", []string{"--so", testSO, "--plugin-name", "abitest", "--upstream", "127.0.0.1:1", "--config", good, "--dso-kinds", "http,network"}, "cannot find symbol: envoyGoFilterOnNetworkFilterConfig"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := exec.Command(hostBin, c.args...).CombinedOutput()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() == 0 {
				t.Fatalf("want a non-zero exit, got %v\n%s", err, out)
			}
			if !strings.Contains(string(out), c.want) {
				t.Fatalf("output lacks %q:\n%s", c.want, out)
			}
		})
	}
}

func TestAddDataAndInvalidPhase(t *testing.T) {
	h, _ := hostWithTestFilter(t)
	r := get(t, h, "/add", map[string]string{"x-mode": "adddata-headers"})
	if rec := decodeReceived(t, r.body); r.status != 200 || rec.Body != "added" {
		t.Fatalf("addData in headers: %d, upstream body %q", r.status, rec.Body)
	}
	r = post(t, h, "/add-late", "adddata-in-data", chunks("x"))
	if r.status != 500 || r.body != "error happened in filter\r\n" {
		t.Fatalf("addData while processing data: %d %.200q", r.status, r.body)
	}
	if s := h.stats(t); s.Counters["host.capi_invalid_phase"] != 1 || s.Counters["golang.panic_error"] != 1 {
		t.Fatalf("counters %v", s.Counters)
	}
}

func TestUpstreamOverrideHost(t *testing.T) {
	srv, _ := startUpstream(t)
	addr := strings.TrimPrefix(srv.URL, "http://")
	cfg := writeFile(t, "cfg.pb", typedStructAny(t, "base"))
	h := startHost(t, testSO, "--plugin-name", "abitest", "--config", cfg, "--upstream", addr)
	mode := func(host, strict string) reply {
		return get(t, h, "/ov", map[string]string{"x-mode": "override", "x-override": host, "x-strict": strict})
	}
	if r := mode(addr, "1"); r.status != 200 {
		t.Fatalf("override to the cluster's host: %d", r.status)
	}
	if r := mode("127.0.0.9:1", "1"); r.status != 503 || r.body != "no healthy upstream" {
		t.Fatalf("strict override to an unknown host: %d %q", r.status, r.body)
	}
	if r := mode("127.0.0.9:1", "0"); r.status != 200 {
		t.Fatalf("non-strict override falls back: %d", r.status)
	}
	if r := mode("not-an-ip", "1"); r.status != 200 || !strings.Contains(r.header.Get("x-note"), "override=") {
		t.Fatalf("invalid address: %d note %q", r.status, r.header.Get("x-note"))
	}
}

// Clients that give up at random points while sync and async filters run: whatever mix of
// completions and resets results, every request is destroyed and finalized and the host still
// serves.
func TestChaoticClientCancellations(t *testing.T) {
	h, _ := hostWithTestFilter(t)
	modes := []string{"async", "reads", "buffer-async", "", "resp-async"}
	var wg sync.WaitGroup
	for c := 0; c < 10; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration((c+i)%4)*time.Millisecond+200*time.Microsecond)
				req, _ := http.NewRequestWithContext(ctx, "POST", h.url(fmt.Sprintf("/chaos/%d/%d", c, i)), strings.NewReader("payload"))
				req.Header.Set("x-mode", modes[(c+i)%len(modes)])
				if resp, err := http.DefaultClient.Do(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				cancel()
			}
		}(c)
	}
	wg.Wait()
	s := h.waitFinalized(t)
	if s.Counters["host.streams_destroyed"] != s.Counters["host.requests"] {
		t.Fatalf("streams not all destroyed: %v", s.Counters)
	}
	t.Logf("requests=%d resets=%d", s.Counters["host.requests"], s.Counters["host.stream_reset"])
	if r := get(t, h, "/after-chaos", nil); r.status != 200 {
		t.Fatalf("host unhealthy: %d", r.status)
	}
}

// The downstream codec over a raw socket: two pipelined requests answered in order, HTTP/1.0
// closes after its response, garbage gets a 400.
func TestDownstreamCodecEdges(t *testing.T) {
	h, _ := hostWithTestFilter(t)
	raw := func(req string) string {
		c, err := net.Dial("tcp", h.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second)) // bounds a hung test only
		c.Write([]byte(req))
		b, _ := io.ReadAll(c)
		return string(b)
	}
	out := raw("GET /p1 HTTP/1.1\r\nhost: a\r\n\r\nGET /p2 HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n")
	i1, i2 := strings.Index(out, `"Path":"/p1"`), strings.Index(out, `"Path":"/p2"`)
	if strings.Count(out, "HTTP/1.1 200 OK") != 2 || i1 < 0 || i2 < i1 {
		t.Fatalf("pipelined responses out of order or missing:\n%.600s", out)
	}
	if out := raw("GET /old HTTP/1.0\r\n\r\n"); !strings.HasPrefix(out, "HTTP/1.1 200 OK") ||
		!strings.Contains(out, "connection: close") {
		t.Fatalf("HTTP/1.0:\n%.400s", out)
	}
	if out := raw("NOT HTTP AT ALL\r\n\r\n"); !strings.HasPrefix(out, "HTTP/1.1 400 Bad Request") {
		t.Fatalf("garbage:\n%.200s", out)
	}
}
