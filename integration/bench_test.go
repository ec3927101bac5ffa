package integration

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// fiveChain is five govoy plugins that all let an authenticated request through.
const fiveChain = `{"plugins":[
 {"name":"key_auth","config":{"consumers":[{"name":"alice","keys":["0123456789abcdef-alice"]}]}},
 {"name":"consumer_restriction","config":{"allow":{"names":["alice"]}}},
 {"name":"local_ratelimit","config":{"token_bucket":{"max_tokens":1000000000,"tokens_per_fill":1000000000,"fill_interval":"1s"}}},
 {"name":"fault_injection","config":{"abort":{"http_status":503,"percentage":{"percent":0}}}},
 {"name":"traffic_tagging","config":{"rules":[{"tag":"gold","consumers":["alice"]}]}}]}`

// smallUpstream answers "ok": the benchmark measures the host and the filter, not the upstream.
func smallUpstream(tb testing.TB) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte("ok"))
	}))
	tb.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// load sends b.N GETs over keep-alive connections from parallel clients and reports req/s.
func load(b *testing.B, url string, hdr map[string]string) {
	tr := &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	var bad atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("GET", url, nil)
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			resp, err := c.Do(req)
			if err != nil {
				bad.Add(1)
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				bad.Add(1)
			}
		}
	})
	b.StopTimer()
	if n := bad.Load(); n > 0 {
		b.Fatalf("%d of %d requests failed", n, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkABIHost: the host's own cost (no-op C filter) against govoy.so with 0 and 5 plugins and
// the SDK-only test filter run synchronously and asynchronously (goroutine + posted Continue).
// Client, host and upstream share the machine, so compare rows rather than read absolutes.
func BenchmarkABIHost(b *testing.B) {
	up := smallUpstream(b)
	run := func(name string, so string, cfg []byte, extra []string, hdr map[string]string) {
		b.Run(name, func(b *testing.B) {
			args := []string{"--upstream", up, "--log-level", "error"}
			if so == "" {
				args = append(args, "--noop-filter")
			} else {
				args = append(args, "--config", writeFile(b, "cfg.pb", cfg))
			}
			h := startHost(b, so, append(args, extra...)...)
			load(b, h.url("/bench"), hdr)
		})
	}
	needBuild(b)
	run("noop-c-filter", "", nil, nil, nil)
	run("govoy-0-plugins", buildGovoy(b), chainAny(b, `{"plugins":[]}`), nil, nil)
	run("govoy-5-plugins", buildGovoy(b), chainAny(b, fiveChain), nil, map[string]string{"x-api-key": "0123456789abcdef-alice"})
	sdk := []string{"--plugin-name", "abitest"}
	run("sdk-filter-sync", testSO, typedStructAny(b, "bench"), sdk, nil)
	run("sdk-filter-async", testSO, typedStructAny(b, "bench"), sdk, map[string]string{"x-mode": "async"})
}

func rssKiB(tb testing.TB, pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			n, _ := strconv.Atoi(strings.Fields(line)[1])
			return n
		}
	}
	tb.Fatal("no VmRSS")
	return 0
}

// TestLeakMillion (benchmarks/abi/leak.sh; not in normal CI): GOVOY_ABI_LEAK_N requests
// (default 1,000,000) through govoy.so with the five-plugin chain across 2 workers. After warm-up
// the host's RSS must stay within 10%, and every request must reach Go's Finalize.
func TestLeakMillion(t *testing.T) {
	if os.Getenv("GOVOY_ABI_LEAK") != "1" {
		t.Skip("leak test runs only with GOVOY_ABI_LEAK=1 (benchmarks/abi/leak.sh): it sends 1M requests")
	}
	total := 1000000
	if v := os.Getenv("GOVOY_ABI_LEAK_N"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100000 {
			t.Fatalf("GOVOY_ABI_LEAK_N: want an integer >= 100000, got %q", v)
		}
		total = n
	}
	h, _ := govoyHost(t, fiveChain)
	hdr := map[string]string{"x-api-key": "0123456789abcdef-alice"}
	send := func(n int) {
		tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: tr}
		var next, bad atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < 32; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(n) {
					req, _ := http.NewRequest("GET", h.url("/leak"), nil)
					for k, v := range hdr {
						req.Header.Set(k, v)
					}
					resp, err := c.Do(req)
					if err != nil {
						bad.Add(1)
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						bad.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		if bad.Load() > 0 {
			t.Fatalf("%d requests failed", bad.Load())
		}
	}
	warm := total / 10
	send(warm)
	h.waitFinalized(t)
	before := rssKiB(t, h.cmd.Process.Pid)
	send(total - warm)
	s := h.waitFinalized(t)
	after := rssKiB(t, h.cmd.Process.Pid)
	t.Logf("requests=%d finalize=%d rss after warm-up=%d KiB, at end=%d KiB (%+.1f%%)",
		s.Counters["host.requests"], s.Counters["host.finalize"], before, after, 100*float64(after-before)/float64(before))
	if s.Counters["host.requests"] != uint64(total) || s.Counters["host.finalize"] != uint64(total) {
		t.Fatalf("requests %d, finalized %d, want %d", s.Counters["host.requests"], s.Counters["host.finalize"], total)
	}
	if float64(after) > 1.10*float64(before) {
		t.Fatalf("RSS grew from %d KiB to %d KiB (> 10%%)", before, after)
	}
}

// TestLoadTable (benchmarks/abi/load.sh; not in normal CI) drives the same cases as
// BenchmarkABIHost with h2load (HTTP/1.1, C client) so the client costs less than net/http's, and
// prints a markdown table: requests/s and mean ns per request at 16 connections.
func TestLoadTable(t *testing.T) {
	if os.Getenv("GOVOY_ABI_LOAD") != "1" {
		t.Skip("load table runs only with GOVOY_ABI_LOAD=1 (benchmarks/abi/load.sh)")
	}
	h2load, err := exec.LookPath("h2load")
	if err != nil {
		t.Fatal("h2load (nghttp2-client) is needed")
	}
	n := 50000
	if v := os.Getenv("GOVOY_ABI_LOAD_N"); v != "" {
		if n, err = strconv.Atoi(v); err != nil || n < 1000 {
			t.Fatalf("GOVOY_ABI_LOAD_N: want an integer >= 1000, got %q", v)
		}
	}
	up := smallUpstream(t)
	type row struct {
		name string
		so   string
		cfg  []byte
		args []string
		hdr  []string
	}
	sdk := []string{"--plugin-name", "abitest"}
	rows := []row{
		{"no-op C filter (baseline)", "", nil, nil, nil},
		{"govoy.so, 0 plugins", buildGovoy(t), chainAny(t, `{"plugins":[]}`), nil, nil},
		{"govoy chain, 5 plugins", buildGovoy(t), chainAny(t, fiveChain), nil, []string{"x-api-key: 0123456789abcdef-alice"}},
		{"SDK-only filter, sync", testSO, typedStructAny(t, "bench"), sdk, nil},
		{"SDK-only filter, async", testSO, typedStructAny(t, "bench"), sdk, []string{"x-mode: async"}},
	}
	reqs := regexp.MustCompile(`finished in [^,]+, ([0-9.]+) req/s`)
	mean := regexp.MustCompile(`time for request:\s+\S+\s+\S+\s+(\S+)`)
	ok := regexp.MustCompile(`requests: .* (\d+) succeeded, (\d+) failed`)
	table := "| case | requests/s | mean time per request |\n|---|---|---|\n"
	for _, r := range rows {
		args := []string{"--upstream", up, "--log-level", "error"}
		if r.so == "" {
			args = append(args, "--noop-filter")
		} else {
			args = append(args, "--config", writeFile(t, "cfg.pb", r.cfg))
		}
		h := startHost(t, r.so, append(args, r.args...)...)
		cmdArgs := []string{"--h1", "-n", strconv.Itoa(n), "-c", "16", "-t", "1"}
		for _, hv := range r.hdr {
			cmdArgs = append(cmdArgs, "-H", hv)
		}
		out, err := exec.Command(h2load, append(cmdArgs, h.url("/load"))...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: h2load: %v\n%s", r.name, err, out)
		}
		m1, m2, m3 := reqs.FindStringSubmatch(string(out)), mean.FindStringSubmatch(string(out)), ok.FindStringSubmatch(string(out))
		if m1 == nil || m2 == nil || m3 == nil || m3[2] != "0" {
			t.Fatalf("%s: unexpected h2load output:\n%s", r.name, out)
		}
		table += fmt.Sprintf("| %s | %s | %s |\n", r.name, m1[1], m2[1])
		h.cmd.Process.Kill()
	}
	t.Logf("%d requests per row, 16 connections, h2load -t 1:\n%s", n, table)
}
