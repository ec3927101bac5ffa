package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// SOFARPC 5.12.0 (Bolt) peers from testdata/rpcpeers/sofarpc, built with Maven (offline when the
// local repository has them) into this test binary's work dir.

var (
	sofaOnce sync.Once
	sofaCP   string // java classpath: classes + dependencies
	sofaErr  error
)

func sofaPeers(t *testing.T) string {
	t.Helper()
	needBuild(t)
	if _, err := exec.LookPath("mvn"); err != nil {
		t.Skip("SOFARPC peers need Maven and a JDK (apt-get install maven default-jdk-headless)")
	}
	sofaOnce.Do(func() {
		dir := filepath.Join(workDir, "sofarpc")
		src := filepath.Join(repoRoot, "integration/testdata/rpcpeers/sofarpc")
		if err := exec.Command("cp", "-r", src, dir).Run(); err != nil {
			sofaErr = fmt.Errorf("copy sofarpc peers: %w", err)
			return
		}
		build := func(offline bool) ([]byte, error) {
			args := []string{"-q", "compile", "dependency:build-classpath", "-Dmdep.outputFile=target/classpath.txt"}
			if offline {
				args = append([]string{"-o"}, args...)
			}
			cmd := exec.Command("mvn", args...)
			cmd.Dir = dir
			return cmd.CombinedOutput()
		}
		if _, err := build(true); err != nil {
			if b, err := build(false); err != nil {
				sofaErr = fmt.Errorf("mvn build of sofarpc peers: %w\n%s", err, tail(string(b), 3000))
				return
			}
		}
		deps, err := os.ReadFile(filepath.Join(dir, "target/classpath.txt"))
		if err != nil {
			sofaErr = err
			return
		}
		sofaCP = filepath.Join(dir, "target/classes") + ":" + strings.TrimSpace(string(deps))
	})
	if sofaErr != nil {
		t.Fatal(sofaErr)
	}
	return sofaCP
}

// startSofaProvider runs a SOFARPC provider of HelloService with uniqueId answering "<name>:<arg>".
func startSofaProvider(t *testing.T, name, uniqueID string) string {
	t.Helper()
	cp := sofaPeers(t)
	port := rpcFreePort(t)
	cmd := exec.Command("java", "-cp", cp, "org.example.Peer", "server", fmt.Sprint(port), name, uniqueID)
	cmd.Dir = t.TempDir()
	logs := &lockedBuf{}
	cmd.Stderr = logs
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("sofarpc provider %s log tail:\n%s", name, tail(logs.String(), 3000))
		}
	})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "READY" {
				ready <- true
			}
		}
		close(ready)
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("sofarpc provider %s exited: %s", name, tail(logs.String(), 3000))
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("sofarpc provider %s not ready after 90s", name)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// sofaConsume runs the SOFARPC consumer n times and returns its "ok ..." / "err ..." lines.
func sofaConsume(t *testing.T, addr, uniqueID string, n int, arg string) []string {
	t.Helper()
	cmd := exec.Command("java", "-cp", sofaPeers(t), "org.example.Peer", "client", addr, uniqueID, fmt.Sprint(n), arg)
	cmd.Dir = t.TempDir()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sofarpc consumer: %v\n%s", err, tail(stderr.String(), 3000))
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(l, "ok ") || strings.HasPrefix(l, "err ") {
			lines = append(lines, l)
		}
	}
	return lines
}

// A SOFARPC consumer -> abihost (govoy-rpc, protocol sniffed among dubbo and bolt) -> SOFARPC
// providers chosen by uniqueId (the codec's group).
func TestRPCSofaBoltRoutingThroughHost(t *testing.T) {
	blue := startSofaProvider(t, "blue", "blue")
	green := startSofaProvider(t, "green", "green")
	h := rpcHost(t, fmt.Sprintf(`{
	  "protocols": ["dubbo", "bolt"],
	  "routes": [
	    {"match": {"service": "org.example.HelloService", "group": "blue"}, "service": "blue"},
	    {"match": {"service": "org.example.HelloService", "group": "green"}, "service": "green"}
	  ],
	  "services": [
	    {"name": "blue", "endpoints": [{"address": %q}]},
	    {"name": "green", "endpoints": [{"address": %q}]}
	  ]}`, blue, green))
	rpcWantLines(t, "uniqueId blue", sofaConsume(t, h.addr, "blue", 2, "x"), "ok blue:x", "ok blue:x")
	rpcWantLines(t, "uniqueId green", sofaConsume(t, h.addr, "green", 1, "y"), "ok green:y")
	// No route: the bolt codec answers Bolt's NO_PROCESSOR status, which SOFARPC reports by name
	// (Bolt error responses carry no message the client shows).
	rpcWantLines(t, "uniqueId red", sofaConsume(t, h.addr, "red", 1, "z"), "NO_PROCESSOR")
}
