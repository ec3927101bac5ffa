package admin

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/govoy/govoy/xds-bridge/admin/metrics"
)

func TestEndpoints(t *testing.T) {
	var ready atomic.Bool
	m := metrics.New()
	m.Nacks.WithLabelValues("type.googleapis.com/envoy.config.listener.v3.Listener").Inc()
	srv := httptest.NewServer(Handler(State{
		Metrics:    m,
		Ready:      ready.Load,
		ConfigDump: func(node string) any { return map[string]string{"node": "envoy-1", "asked": node} },
		Sources:    func() any { return []string{"zk"} },
	}))
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	if code, _ := get("/readyz"); code != 503 {
		t.Fatalf("readyz before sync %d, want 503", code)
	}
	ready.Store(true)
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("readyz after sync %d", code)
	}
	if _, body := get("/metrics"); !strings.Contains(body, `govoy_xds_nacks_total{type_url="type.googleapis.com/envoy.config.listener.v3.Listener"} 1`) {
		t.Fatalf("metrics:\n%s", body)
	}
	if _, body := get("/debug/config_dump?node=envoy-2"); !strings.Contains(body, `"envoy-1"`) || !strings.Contains(body, `"envoy-2"`) {
		t.Fatalf("config_dump: %s", body)
	}
	if _, body := get("/debug/sources"); !strings.Contains(body, `"zk"`) {
		t.Fatalf("sources: %s", body)
	}
	if code, _ := get("/nope"); code != 404 {
		t.Fatalf("unknown path %d", code)
	}
}
