package integration

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// govoy-rpc's counters through the real govoy.so in the ABI host: GOVOY_METRICS_ADDR makes the
// library serve Prometheus metrics on loopback, and they match the requests a dubbo-go consumer
// made (ok, no route) plus a connection closed as malformed.

// scrapeRPC reads /metrics once; it fails on any error (callers wait for the endpoint first).
func scrapeRPC(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// sumRPC adds the series of name whose labels include every label ("k=v").
func sumRPC(m map[string]float64, name string, labels ...string) float64 {
	var n float64
next:
	for k, v := range m {
		if k != name && !strings.HasPrefix(k, name+"{") {
			continue
		}
		for _, l := range labels {
			kv := strings.SplitN(l, "=", 2)
			if !strings.Contains(k, kv[0]+`="`+kv[1]+`"`) {
				continue next
			}
		}
		n += v
	}
	return n
}

// waitMetrics waits (bounded: start-up only) until the endpoint answers.
func waitMetrics(t *testing.T, addr string) {
	t.Helper()
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			resp.Body.Close()
			return
		}
		if i > 400 {
			t.Fatalf("metrics endpoint %s never answered: %v", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestRPCStatsScrapedFromMetricsEndpoint(t *testing.T) {
	prov := startRPCProvider(t, "v1", "1.0.0", "", 0)
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", rpcFreePort(t))
	t.Setenv("GOVOY_METRICS_ADDR", metricsAddr)
	h := rpcHost(t, fmt.Sprintf(`{
	  "protocols": ["dubbo"],
	  "statPrefix": "ingress_dubbo",
	  "routes": [{"match": {"service": "org.example.Greeter"}, "service": "v1"}],
	  "services": [{"name": "v1", "endpoints": [{"address": %q}]}]}`, prov.addr))
	waitMetrics(t, metricsAddr)

	rpcWantLines(t, "ok", rpcConsume(t, h.addr, "-version", "1.0.0", "-n", "3", "-arg", "x"), "ok v1:x", "ok v1:x", "ok v1:x")
	rpcWantLines(t, "no route", rpcConsume(t, h.addr, "-interface", "org.example.Nobody"), "govoy: no route")
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")) // not Dubbo: closed as malformed
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("malformed connection: %v", err)
	}
	c.Close()

	m := scrapeRPC(t, metricsAddr)
	p := "stat_prefix=ingress_dubbo"
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"govoy_rpc_requests_total", []string{p}, 4},
		{"govoy_rpc_responses_total", []string{p}, 3},
		{"govoy_rpc_no_route_total", []string{p}, 1},
		{"govoy_rpc_malformed_total", []string{p}, 1},
		{"govoy_rpc_timeouts_total", []string{p}, 0},
		{"govoy_rpc_active_requests", []string{p}, 0},
		{"govoy_rpc_proxies", []string{p, "state=active"}, 1},
		{"govoy_rpc_method_requests_total", []string{p, "service=org.example.Greeter", "result=ok"}, 3},
		{"govoy_rpc_method_requests_total", []string{p, "service=org.example.Nobody", "result=no_route"}, 1},
		{"govoy_rpc_method_requests_total", []string{p}, 4},
		{"govoy_rpc_method_request_duration_seconds_count", []string{p, "service=org.example.Greeter"}, 3},
	} {
		if got := sumRPC(m, tc.name, tc.labels...); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	if sumRPC(m, "govoy_rpc_connections_total", p) < 3 {
		t.Errorf("connections_total %v, want at least the 3 made", sumRPC(m, "govoy_rpc_connections_total", p))
	}
	if sumRPC(m, "go_goroutines") == 0 {
		t.Error("no Go runtime metrics")
	}
	if l := h.logs(t); strings.Contains(l, "panic") {
		t.Errorf("the host logged a panic:\n%s", tail(l, 3000))
	}
	if t.Failed() {
		for k, v := range m {
			if strings.HasPrefix(k, "govoy_rpc") {
				t.Logf("%s %v", k, v)
			}
		}
	}
}

// A taken metrics port is not fatal: the filter serves, and the endpoint binds once it is free.
func TestRPCStatsPortInUseIsNotFatal(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	t.Setenv("GOVOY_METRICS_ADDR", taken.Addr().String())
	h := rpcHost(t, `{"protocols":["dubbo"],"statPrefix":"busy","routes":[{"service":"s"}],"services":[{"name":"s","endpoints":[{"address":"127.0.0.1:1"}]}]}`)
	rpcWantLines(t, "while the port is taken", rpcConsume(t, h.addr, "-version", "1.0.0"), "connect failed")
	taken.Close()
	waitMetrics(t, taken.Addr().String())
	m := scrapeRPC(t, taken.Addr().String())
	// The consumer's request failed to connect upstream (its cluster may retry it).
	if got := sumRPC(m, "govoy_rpc_method_requests_total", "stat_prefix=busy", "result=no_provider"); got < 1 {
		t.Fatalf("no_provider results %v, want at least 1", got)
	}
}
