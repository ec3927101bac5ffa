package pprofenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStartWritesProfile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cpu.pprof")
	if err := start(p, "1"); err != nil {
		t.Fatal(err)
	}
	// Burn a little CPU so the profile has samples, then wait for the timer to write it.
	for deadline := time.Now().Add(1200 * time.Millisecond); time.Now().Before(deadline); {
		for i := 0; i < 1e5; i++ {
			_ = strings.Repeat("x", i%7)
		}
	}
	var st os.FileInfo
	for i := 0; i < 50; i++ {
		var err error
		if st, err = os.Stat(p); err == nil && st.Size() > 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("profile %s not written", p)
}

func TestBadSeconds(t *testing.T) {
	err := start(filepath.Join(t.TempDir(), "x"), "soon")
	if err == nil || !strings.Contains(err.Error(), "GOVOY_PPROF_SECONDS") {
		t.Fatalf("want an error naming GOVOY_PPROF_SECONDS, got %v", err)
	}
}
