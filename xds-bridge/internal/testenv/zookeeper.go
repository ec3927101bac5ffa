package testenv

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ZooKeeper is a standalone ZooKeeper server (Debian's zookeeper package) on a loopback port.
type ZooKeeper struct {
	// Addr is host:port for clients.
	Addr string
	// Dir holds the data dir, config and log.
	Dir  string
	proc *process
}

// ZooKeeper's session timeouts are bounded by tickTime (by default 2x..20x); a short tick lets tests
// use 0.5s sessions so expiry scenarios run fast, and the max is raised to 60s for sessions that
// must outlive a registry restart.
const zkTickMillis = 250

// ZooKeeperJars is the class path used to run the server; override with GOVOY_ZK_CLASSPATH.
var ZooKeeperJars = "/etc/zookeeper/conf:/usr/share/java/slf4j-simple.jar:/usr/share/java/zookeeper.jar"

// StartZooKeeper starts a fresh ZooKeeper and stops it when the test ends.
func StartZooKeeper(t testing.TB) *ZooKeeper {
	t.Helper()
	java := lookBinary(t, "java", "apt-get install default-jre-headless")
	cp := ZooKeeperJars
	if v := os.Getenv("GOVOY_ZK_CLASSPATH"); v != "" {
		cp = v
	}
	jar := strings.Split(cp, ":")[len(strings.Split(cp, ":"))-1]
	if _, err := os.Stat(jar); err != nil {
		t.Fatalf("testenv: %s not found; install ZooKeeper (apt-get install zookeeper) or set GOVOY_ZK_CLASSPATH", jar)
	}
	dir := t.TempDir()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port := FreePort(t)
		z := &ZooKeeper{Addr: fmt.Sprintf("127.0.0.1:%d", port), Dir: dir}
		cfg := fmt.Sprintf(`tickTime=%d
dataDir=%s
clientPort=%d
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=*
minSessionTimeout=%d
maxSessionTimeout=%d
`, zkTickMillis, filepath.Join(dir, "data"), port, 2*zkTickMillis, 240*zkTickMillis)
		cfgPath := filepath.Join(dir, "zoo.cfg")
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			t.Fatalf("testenv: zookeeper config: %v", err)
		}
		z.proc = &process{
			name: "zookeeper",
			argv: []string{java, "-Xmx256m", "-XX:+UseSerialGC", "-Dzookeeper.log.dir=" + dir,
				"-cp", cp, "org.apache.zookeeper.server.ZooKeeperServerMain", cfgPath},
			logPath: filepath.Join(dir, "zookeeper.log"),
		}
		if lastErr = z.startAndWait(); lastErr == nil {
			t.Cleanup(z.Stop)
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("zookeeper log tail:\n%s", z.proc.logTail())
				}
			})
			return z
		}
		z.proc.signal(syscall.SIGKILL)
	}
	t.Fatalf("testenv: start zookeeper: %v", lastErr)
	return nil
}

func (z *ZooKeeper) startAndWait() error {
	if err := z.proc.start(); err != nil {
		return err
	}
	return waitFor(z.proc, 60*time.Second, z.serving)
}

// serving asks the four-letter "srvr" command, which answers with a Mode line only when the server
// serves requests.
func (z *ZooKeeper) serving() error {
	c, err := net.DialTimeout("tcp", z.Addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, "srvr"); err != nil {
		return err
	}
	b, err := io.ReadAll(bufio.NewReader(c))
	if err != nil && len(b) == 0 {
		return err
	}
	if !strings.Contains(string(b), "Mode:") {
		return fmt.Errorf("not serving: %q", strings.TrimSpace(string(b)))
	}
	return nil
}

// Stop ends the server gracefully (SIGTERM).
func (z *ZooKeeper) Stop() { z.proc.signal(syscall.SIGTERM) }

// Kill ends the server at once (SIGKILL); data written so far stays in Dir.
func (z *ZooKeeper) Kill() { z.proc.signal(syscall.SIGKILL) }

// Restart starts the server again on the same port with the same data.
func (z *ZooKeeper) Restart(t testing.TB) {
	t.Helper()
	if err := z.startAndWait(); err != nil {
		t.Fatalf("testenv: restart zookeeper: %v", err)
	}
}
