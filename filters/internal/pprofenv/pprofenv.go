// Package pprofenv profiles the CPU from inside govoy.so when GOVOY_PPROF names a file: a shared
// object loaded by Envoy has no main to start pprof from, and `perf` cannot see Go symbols well
// through cgo frames. Imported for its side effect by filters/cmd/govoy; without the variable it
// does nothing.
//
//	GOVOY_PPROF=/tmp/govoy.pprof GOVOY_PPROF_SECONDS=20 envoy ...
//	go tool pprof -top dist/govoy.so /tmp/govoy.pprof
//
// The profile covers the first GOVOY_PPROF_SECONDS (default 30) after the library loads; it is
// written when that time is up, since the host process may exit without telling Go.
package pprofenv

import (
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"time"
)

func init() {
	path := os.Getenv("GOVOY_PPROF")
	if path == "" {
		return
	}
	if err := start(path, os.Getenv("GOVOY_PPROF_SECONDS")); err != nil {
		fmt.Fprintf(os.Stderr, "govoy: GOVOY_PPROF: %v\n", err)
	}
}

func start(path, seconds string) error {
	d := 30 * time.Second
	if seconds != "" {
		n, err := strconv.Atoi(seconds)
		if err != nil || n < 1 {
			return fmt.Errorf("GOVOY_PPROF_SECONDS: want a whole number of seconds >= 1, got %q", seconds)
		}
		d = time.Duration(n) * time.Second
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("start CPU profile: %w", err)
	}
	time.AfterFunc(d, func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "govoy: GOVOY_PPROF: close %s: %v\n", path, err)
		}
		fmt.Fprintf(os.Stderr, "govoy: CPU profile written to %s\n", path)
	})
	return nil
}
