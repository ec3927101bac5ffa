package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// inprocCase is one row of the in-process benchmark (abihost --bench): the same cases as
// BenchmarkABIHost, without sockets.
type inprocCase struct {
	name string
	so   string // "" for the no-op C filter
	args []string
}

const aliceKey = "x-api-key:0123456789abcdef-alice"

var fiveChainAsync = strings.Replace(fiveChain, `{"abort":{"http_status":503,"percentage":{"percent":0}}}`,
	`{"abort":{"http_status":503,"percentage":{"percent":0}},"delay":{"header_delay":{},"percentage":{"percent":100}}}`, 1)

func inprocCases(t testing.TB) []inprocCase {
	t.Helper()
	needBuild(t)
	cfg := func(name string, b []byte) []string { return []string{"--config", writeFile(t, name, b)} }
	sdk := append([]string{"--plugin-name", "abitest"}, cfg("sdk.pb", typedStructAny(t, "bench"))...)
	return []inprocCase{
		{"noop-c-filter", "", []string{"--noop-filter"}},
		{"govoy-0-plugins", buildGovoy(t), cfg("chain0.pb", chainAny(t, `{"plugins":[]}`))},
		{"govoy-5-plugins", buildGovoy(t), append(cfg("chain5.pb", chainAny(t, fiveChain)), "--bench-header", aliceKey)},
		// fault_injection with a header delay at 100%: the chain runs decode headers on a goroutine
		// and posts Continue; no request carries the delay header, so nothing sleeps.
		{"govoy-5-plugins-async", buildGovoy(t), append(cfg("chain5async.pb", chainAny(t, fiveChainAsync)), "--bench-header", aliceKey)},
		{"sdk-filter-sync", testSO, sdk},
		{"sdk-filter-async", testSO, append(append([]string{}, sdk...), "--bench-header", "x-mode:async")},
	}
}

// benchLine is what abihost --bench prints.
type benchLine struct {
	failures, posted                         int
	nsPerReq, workerCPU, processCPU, reqPerS float64
}

var benchRe = regexp.MustCompile(`BENCH name=\S+ workers=\d+ requests=\d+ failures=(\d+) ns_per_request=(\d+) worker_cpu_ns=(\d+) process_cpu_ns=(\d+) requests_per_s=(\d+) posted_from_go=(\d+)`)

func runBench(t testing.TB, c inprocCase, extra ...string) (benchLine, string, error) {
	t.Helper()
	args := []string{"--log-level", "error", "--bench-name", c.name}
	if c.so != "" {
		args = append(args, "--so", c.so)
	}
	args = append(append(args, c.args...), extra...)
	out, err := exec.Command(hostBin, args...).CombinedOutput()
	m := benchRe.FindStringSubmatch(string(out))
	if m == nil {
		return benchLine{}, string(out), fmt.Errorf("%s: no BENCH line (err %v):\n%s", c.name, err, tail(string(out), 2000))
	}
	f := func(i int) float64 { v, _ := strconv.ParseFloat(m[i], 64); return v }
	l := benchLine{failures: int(f(1)), nsPerReq: f(2), workerCPU: f(3), processCPU: f(4), reqPerS: f(5), posted: int(f(6))}
	return l, string(out), err
}

// TestBenchMode checks the in-process benchmark runs every case to a 200 through the real ABI,
// and that it notices a request ending with another status (no key: key_auth's 401).
func TestBenchMode(t *testing.T) {
	cases := inprocCases(t)
	for _, c := range cases {
		l, out, err := runBench(t, c, "--bench", "300", "--concurrency", "2")
		if err != nil || l.failures != 0 || l.nsPerReq <= 0 {
			t.Fatalf("%s: err %v, failures %d:\n%s", c.name, err, l.failures, tail(out, 2000))
		}
		// Async cases continue from a goroutine: at least one post per request reaches the worker.
		if async := strings.HasSuffix(c.name, "-async"); async && l.posted < 600 || !async && l.posted != 0 {
			t.Errorf("%s: %d callbacks posted from Go threads for 600 requests", c.name, l.posted)
		}
	}
	five := cases[2]
	noKey := inprocCase{five.name, five.so, five.args[:2]} // the chain config without the key header
	l, out, err := runBench(t, noKey, "--bench", "50", "--concurrency", "1")
	if err == nil || l.failures != 50 || !strings.Contains(out, "status 401, want 200") {
		t.Fatalf("without a key: want 50 failures (401) and a non-zero exit, got err %v failures %d:\n%s", err, l.failures, tail(out, 2000))
	}
	if l, out, err = runBench(t, noKey, "--bench", "50", "--concurrency", "1", "--bench-status", "401"); err != nil || l.failures != 0 {
		t.Fatalf("without a key, expecting 401: err %v failures %d:\n%s", err, l.failures, tail(out, 2000))
	}
	if _, out, err = runBench(t, cases[0], "--bench", "0"); err == nil || !strings.Contains(out, "--bench: want 1..") {
		t.Fatalf("--bench 0: want a clear error, got %v:\n%s", err, out)
	}
}

func envInt(t testing.TB, name string, def, min int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min {
		t.Fatalf("%s: want an integer >= %d, got %q", name, min, v)
	}
	return n
}

func median(v []float64) float64 {
	s := append([]float64{}, v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// TestInProcessTable (benchmarks/abi/inproc.sh; not in normal CI): every case ROUNDS times,
// interleaved so machine load hits all rows alike, GOVOY_ABI_INPROC_N requests per worker on
// 2 workers. Prints a markdown table of medians and the deltas against the no-op C filter.
func TestInProcessTable(t *testing.T) {
	if os.Getenv("GOVOY_ABI_INPROC") != "1" {
		t.Skip("in-process table runs only with GOVOY_ABI_INPROC=1 (benchmarks/abi/inproc.sh)")
	}
	n := envInt(t, "GOVOY_ABI_INPROC_N", 100000, 1000)
	rounds := envInt(t, "GOVOY_ABI_INPROC_ROUNDS", 3, 1)
	workers := envInt(t, "GOVOY_ABI_INPROC_WORKERS", 2, 1)
	cases := inprocCases(t)
	res := make([][]benchLine, len(cases))
	for r := 0; r < rounds; r++ {
		for i, c := range cases {
			l, out, err := runBench(t, c, "--bench", strconv.Itoa(n), "--bench-warmup", strconv.Itoa(n/10),
				"--concurrency", strconv.Itoa(workers))
			if err != nil || l.failures != 0 {
				t.Fatalf("%s: err %v failures %d:\n%s", c.name, err, l.failures, tail(out, 2000))
			}
			res[i] = append(res[i], l)
		}
	}
	col := func(i int, f func(benchLine) float64) (float64, string) {
		var v []float64
		var s []string
		for _, l := range res[i] {
			v = append(v, f(l))
			s = append(s, fmt.Sprintf("%.0f", f(l)))
		}
		return median(v), strings.Join(s, " / ")
	}
	wall := func(l benchLine) float64 { return l.nsPerReq }
	pcpu := func(l benchLine) float64 { return l.processCPU }
	wcpu := func(l benchLine) float64 { return l.workerCPU }
	rps := func(l benchLine) float64 { return l.reqPerS }
	base, _ := col(0, pcpu)
	baseWall, _ := col(0, wall)
	table := "| case | process CPU ns/request (median; runs) | − no-op | worker CPU ns/request | wall ns/request per worker | − no-op | requests/s |\n|---|---|---|---|---|---|---|\n"
	for i, c := range cases {
		pm, ps := col(i, pcpu)
		wm, _ := col(i, wcpu)
		lm, _ := col(i, wall)
		rm, _ := col(i, rps)
		table += fmt.Sprintf("| %s | %.0f (%s) | %+.0f | %.0f | %.0f | %+.0f | %.0f |\n", c.name, pm, ps, pm-base, wm, lm, lm-baseWall, rm)
	}
	t.Logf("%d requests per worker (+%d warm-up), %d workers, %d rounds:\n%s", n, n/10, workers, rounds, table)
}

var irRe = regexp.MustCompile(`Collected\s*:\s*(\d+)`)

// callgrindIr runs the case under valgrind --tool=callgrind with one worker and returns the
// instructions executed by the whole process (every thread, Go runtime included).
func callgrindIr(t testing.TB, c inprocCase, n int, outFile, gogc string) float64 {
	t.Helper()
	// --fair-sched: valgrind runs one thread at a time; without a fair lock, Go's spin-waits
	// (lock2, osyield, findRunnable) spin for as long as the scheduler lets them, which made
	// counts vary by 100k instructions per request between runs.
	args := []string{"--tool=callgrind", "--fair-sched=yes", "--callgrind-out-file=" + outFile, hostBin, "--log-level", "error", "--bench-name", c.name}
	if c.so != "" {
		args = append(args, "--so", c.so)
	}
	args = append(append(args, c.args...), "--bench", strconv.Itoa(n), "--bench-warmup", "200", "--concurrency", "1")
	cmd := exec.Command("valgrind", args...)
	// Callgrind asserts on signals that arrive while it handles another: Go's async
	// preemption (SIGURG) is turned off under it.
	cmd.Env = append(os.Environ(), "GOMAXPROCS=2", "GODEBUG=asyncpreemptoff=1", "GOGC="+gogc)
	out, err := cmd.CombinedOutput()
	m := irRe.FindStringSubmatch(string(out))
	if err != nil || m == nil || !benchRe.MatchString(string(out)) {
		os.WriteFile(outFile+".log", out, 0o644)
		t.Fatalf("%s: callgrind: %v (full output in %s.log):\n%s", c.name, err, outFile, tail(string(out), 3000))
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestCallgrindTable (benchmarks/abi/callgrind.sh; not in normal CI): instructions per request,
// from two runs of each case under callgrind (N1 and N2 requests, one worker): the difference
// divided by N2−N1 cancels start-up, config parsing and warm-up. Instruction counts do not
// depend on machine load, unlike times. Each case runs with GOGC=off (the request path alone,
// deterministic) and with the default GC (adds marking, sweeping and finalizers, which come in
// whole cycles, so it moves a little with N). GOVOY_ABI_CALLGRIND_CASES (a regexp) picks cases;
// profiles stay in GOVOY_ABI_CALLGRIND_OUT if set.
func TestCallgrindTable(t *testing.T) {
	if os.Getenv("GOVOY_ABI_CALLGRIND") != "1" {
		t.Skip("callgrind table runs only with GOVOY_ABI_CALLGRIND=1 (benchmarks/abi/callgrind.sh)")
	}
	if _, err := exec.LookPath("valgrind"); err != nil {
		t.Fatal("valgrind is needed (apt-get install valgrind)")
	}
	n1 := envInt(t, "GOVOY_ABI_CALLGRIND_N1", 2000, 100)
	n2 := envInt(t, "GOVOY_ABI_CALLGRIND_N2", 12000, n1+100)
	pick, err := regexp.Compile(os.Getenv("GOVOY_ABI_CALLGRIND_CASES"))
	if err != nil {
		t.Fatalf("GOVOY_ABI_CALLGRIND_CASES: %v", err)
	}
	dir := os.Getenv("GOVOY_ABI_CALLGRIND_OUT")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var base [2]float64
	table := "| case | instructions/request, GOGC=off | − no-op | instructions/request, default GC | − no-op |\n|---|---|---|---|---|\n"
	for _, c := range inprocCases(t) {
		if !pick.MatchString(c.name) {
			continue
		}
		var per [2]float64
		for i, gogc := range []string{"off", "100"} {
			a := callgrindIr(t, c, n1, filepath.Join(dir, fmt.Sprintf("%s.gogc-%s.n1.callgrind", c.name, gogc)), gogc)
			b := callgrindIr(t, c, n2, filepath.Join(dir, fmt.Sprintf("%s.gogc-%s.n2.callgrind", c.name, gogc)), gogc)
			per[i] = (b - a) / float64(n2-n1)
			if c.name == "noop-c-filter" {
				base[i] = per[i]
			}
		}
		table += fmt.Sprintf("| %s | %.0f | %+.0f | %.0f | %+.0f |\n", c.name, per[0], per[0]-base[0], per[1], per[1]-base[1])
	}
	t.Logf("callgrind --fair-sched=yes, 1 worker, (Ir(N=%d) − Ir(N=%d)) / %d; profiles in %s:\n%s", n2, n1, n2-n1, dir, table)
}

// TestProfile (benchmarks/abi/profile.sh; not in normal CI): CPU profile from inside the .so
// (GOVOY_PPROF, filters/internal/pprofenv) while abihost --bench runs the five-plugin chain on
// 2 workers, then `go tool pprof -top`. The .so is filters/cmd/govoy, which links every plugin.
func TestProfile(t *testing.T) {
	if os.Getenv("GOVOY_ABI_PROFILE") != "1" {
		t.Skip("profile runs only with GOVOY_ABI_PROFILE=1 (benchmarks/abi/profile.sh)")
	}
	needBuild(t)
	secs := envInt(t, "GOVOY_ABI_PROFILE_SECONDS", 15, 2)
	dir := os.Getenv("GOVOY_ABI_PROFILE_OUT")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	so := buildGovoy(t)
	prof := filepath.Join(dir, "govoy-5-plugins.pprof")
	c := inprocCase{"govoy-5-plugins", so, []string{"--config", writeFile(t, "chain5.pb", chainAny(t, fiveChain)), "--bench-header", aliceKey}}
	// More requests than the profile window can see: the process is killed once it is written.
	run := exec.Command(hostBin, "--log-level", "error", "--so", so, "--bench-name", c.name, "--bench", "100000000", "--concurrency", "2")
	run.Args = append(run.Args, c.args...)
	run.Env = append(os.Environ(), "GOVOY_PPROF="+prof, "GOVOY_PPROF_SECONDS="+strconv.Itoa(secs))
	errBuf := &lockedBuf{}
	run.Stderr = errBuf
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { run.Process.Kill(); run.Wait() }()
	for i := 0; i < (secs+30)*10 && !strings.Contains(errBuf.String(), "CPU profile written"); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(errBuf.String(), "CPU profile written") {
		t.Fatalf("no profile after %ds: %s", secs+30, tail(errBuf.String(), 2000))
	}
	top, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=45", so, prof).CombinedOutput()
	if err != nil {
		t.Fatalf("pprof: %v\n%s", err, top)
	}
	t.Logf("profile %s (%s):\n%s", prof, so, top)
}
