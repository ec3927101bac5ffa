package integration

import (
	"bufio"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// lineServer answers the bridge's line protocol: it reads the REQ line (and the BODY line for a
// POST) and replies "got ..." in two writes, so the bridge sees a partial reply first.
func lineServer(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var conns atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				req, err := r.ReadString('\n')
				if err != nil {
					return
				}
				lines := []string{strings.TrimSpace(req)}
				if strings.HasPrefix(req, "REQ POST") {
					body, _ := r.ReadString('\n')
					lines = append(lines, strings.TrimSpace(body))
				}
				reply := "got " + strings.Join(lines, "|") + "\n"
				c.Write([]byte(reply[:4]))
				time.Sleep(20 * time.Millisecond) // let the first part arrive on its own
				c.Write([]byte(reply[4:]))
				r.ReadString('\n') // hold the connection until the host closes it
			}()
		}
	}()
	return l.Addr().String(), &conns
}

func TestHTTPToTCPBridge(t *testing.T) {
	needBuild(t)
	addr, conns := lineServer(t)
	cfg := writeFile(t, "cfg.pb", typedStructAny(t, "base"))
	h := startHost(t, testSO, "--plugin-name", "abitest", "--config", cfg, "--upstream", addr,
		"--route", "/bridge", "--tcp-bridge", writeFile(t, "bridge.pb", typedStructAny(t, "bridge")),
		"--bridge-plugin-name", "abibridge")
	r := get(t, h, "/bridge/get", nil)
	if r.status != 200 || r.body != "GOT REQ GET /BRIDGE/GET ROUTE=/BRIDGE\n" || r.header.Get("x-bridge") != "1" {
		t.Fatalf("GET: %d %q %v", r.status, r.body, r.header)
	}
	// The golang HTTP filter still runs around the bridge.
	if r.header.Get("x-abitest-encoded") != "1" {
		t.Fatalf("encode phase of the HTTP filter missing: %v", r.header)
	}
	r = post(t, h, "/bridge/post", "", strings.NewReader("hello"))
	if r.status != 200 || r.body != "GOT REQ POST /BRIDGE/POST ROUTE=/BRIDGE|BODY HELLO\n" {
		t.Fatalf("POST: %d %q", r.status, r.body)
	}
	r = get(t, h, "/bridge/direct", nil)
	if r.status != 200 || r.body != "answered by the bridge" {
		t.Fatalf("direct: %d %q", r.status, r.body)
	}
	s := h.stats(t)
	if s.Counters["bridge.requests"] != 3 || conns.Load() != 3 {
		t.Fatalf("bridge requests %d, upstream connections %d", s.Counters["bridge.requests"], conns.Load())
	}
}
