package mockhost_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/govoy/govoy/filters/internal/releasecheck"
	"github.com/govoy/govoy/filters/mockhost"
)

// TestEnvoyVersionMatchesGoMod fails when go.mod moves to another Envoy release and the host was not
// checked against that release's golang filter.
func TestEnvoyVersionMatchesGoMod(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := releasecheck.RepoRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := releasecheck.EnvoyVersionFromGoMod(gomod)
	if err != nil {
		t.Fatal(err)
	}
	if v != mockhost.EnvoyVersion {
		t.Fatalf("go.mod pins Envoy %s, mockhost plays %s: re-check golang_filter.cc/processor_state.cc and update", v, mockhost.EnvoyVersion)
	}
}
