package metricsendpoint

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestResolveAddr(t *testing.T) {
	for in, want := range map[string]string{
		":9100":          "127.0.0.1:9100",
		"127.0.0.2:0":    "127.0.0.2:0",
		"localhost:9100": "localhost:9100",
		"[::1]:9100":     "[::1]:9100",
	} {
		got, err := ResolveAddr(in)
		if err != nil || got != want {
			t.Errorf("ResolveAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"9100", "example.com:9100", "127.0.0.1:http", "127.0.0.1:70000", ""} {
		if _, err := ResolveAddr(bad); err == nil || !strings.Contains(err.Error(), EnvVar) {
			t.Errorf("ResolveAddr(%q): want an error naming %s, got %v", bad, EnvVar, err)
		}
	}
}

func waitBound(t *testing.T, s *Server) string {
	t.Helper()
	for i := 0; i < 500; i++ {
		if a := s.Addr(); a != "" {
			return a
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("metrics server never bound")
	return ""
}

func TestServesRegistryInTextFormat(t *testing.T) {
	r := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "govoy_test_things_total", Help: "Things."})
	r.MustRegister(c)
	c.Add(3)
	s, err := Start("127.0.0.1:0", r)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	resp, err := http.Get("http://" + waitBound(t, s) + Path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "govoy_test_things_total 3") {
		t.Fatalf("status %d body:\n%s", resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("content type %q, want Prometheus text", ct)
	}
}

// A taken port is not fatal: the server binds once the port frees up.
func TestPortInUseIsRetried(t *testing.T) {
	old := retryEvery
	retryEvery = 20 * time.Millisecond
	defer func() { retryEvery = old }()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(l.Addr().String(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	time.Sleep(100 * time.Millisecond)
	if a := s.Addr(); a != "" {
		t.Fatalf("bound %s while the port was taken", a)
	}
	l.Close()
	if got := waitBound(t, s); got != l.Addr().String() {
		t.Fatalf("bound %s, want %s", got, l.Addr())
	}
}

func TestCloseWhileRetrying(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s, err := Start(l.Addr().String(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	s.Close() // returns: the retry loop watches stop
}

func TestStartFromEnvUnsetServesNothing(t *testing.T) {
	t.Setenv(EnvVar, "")
	StartFromEnv()
	if Current() != nil {
		t.Fatal("a server started without " + EnvVar)
	}
}
