package integration

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestDemo runs integration/cmd/demo (what integration/demo.sh runs) against the ABI mock host:
// it must report each step and exit 0.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo builds govoy.so and the host again; skipped with -short")
	}
	needBuild(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// The harness's govoy.so and host are reused, so only the demo itself is compiled here;
	// integration/demo.sh builds both from scratch.
	cmd := exec.CommandContext(ctx, "go", "run", "./cmd/demo", "-so", buildGovoy(t), "-host", hostBin)
	cmd.Env = append(cmd.Environ(), "ENVOY_BIN=")
	out, err := cmd.CombinedOutput()
	s := string(out)
	if err != nil {
		// The steps ("demo:" lines) say where it stopped; the tail holds the error.
		var steps []string
		for _, l := range strings.Split(s, "\n") {
			if strings.HasPrefix(l, "demo:") {
				steps = append(steps, l)
			}
		}
		t.Fatalf("demo failed: %v\n%s\n...\n%s", err, strings.Join(steps, "\n"), tail(s, 2000))
	}
	for _, want := range []string{
		"no envoy-contrib found (ENVOY_BIN unset): running the chain in the ABI mock host",
		"-> 401", "-> 200; upstream saw x-api-key=\"\"", "x-govoy-tag=\"canary\"", "x 429", "demo: OK",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q:\n%s", want, s)
		}
	}
}
