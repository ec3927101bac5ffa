package testenv

import (
	"fmt"
	"net/http"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Etcd is a single-member etcd on loopback ports.
type Etcd struct {
	// Endpoints are the client URLs.
	Endpoints []string
	// Dir holds the data dir and log.
	Dir  string
	proc *process
}

// EtcdBinary is the etcd executable; override with the ETCD_BIN environment variable.
var EtcdBinary = "/usr/bin/etcd"

// StartEtcd starts a fresh etcd and stops it when the test ends.
func StartEtcd(t testing.TB) *Etcd {
	t.Helper()
	bin := EtcdBinary
	if v := envOr("ETCD_BIN", ""); v != "" {
		bin = v
	}
	bin = lookBinary(t, bin, "apt-get install etcd-server, or set ETCD_BIN")
	dir := t.TempDir()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		client := fmt.Sprintf("http://127.0.0.1:%d", FreePort(t))
		peer := fmt.Sprintf("http://127.0.0.1:%d", FreePort(t))
		e := &Etcd{Endpoints: []string{client}, Dir: dir}
		e.proc = &process{
			name: "etcd",
			argv: []string{bin, "--name", "govoy-test",
				"--data-dir", filepath.Join(dir, "data"),
				"--listen-client-urls", client, "--advertise-client-urls", client,
				"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
				"--initial-cluster", "govoy-test=" + peer,
				"--log-outputs", "stderr", "--logger", "zap"},
			logPath: filepath.Join(dir, "etcd.log"),
		}
		if lastErr = e.startAndWait(); lastErr == nil {
			t.Cleanup(e.Stop)
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("etcd log tail:\n%s", e.proc.logTail())
				}
			})
			return e
		}
		e.proc.signal(syscall.SIGKILL)
	}
	t.Fatalf("testenv: start etcd: %v", lastErr)
	return nil
}

func (e *Etcd) startAndWait() error {
	if err := e.proc.start(); err != nil {
		return err
	}
	return waitFor(e.proc, 60*time.Second, e.healthy)
}

func (e *Etcd) healthy() error {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(e.Endpoints[0] + "/health")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: %s", resp.Status)
	}
	return nil
}

// Stop ends etcd gracefully.
func (e *Etcd) Stop() { e.proc.signal(syscall.SIGTERM) }

// Kill ends etcd at once; its data stays in Dir.
func (e *Etcd) Kill() { e.proc.signal(syscall.SIGKILL) }

// Restart starts etcd again on the same ports with the same data.
func (e *Etcd) Restart(t testing.TB) {
	t.Helper()
	if err := e.startAndWait(); err != nil {
		t.Fatalf("testenv: restart etcd: %v", err)
	}
}
