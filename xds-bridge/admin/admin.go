// Package admin is govoy-xds's loopback HTTP endpoint: health, readiness, Prometheus metrics, what each
// node was sent and the state of every source.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/govoy/govoy/xds-bridge/admin/metrics"
)

// State is what the admin endpoint reads; every function must be safe for concurrent use.
type State struct {
	Metrics *metrics.Metrics
	// Ready reports whether every source finished its first full sync and it was applied.
	Ready func() bool
	// ConfigDump returns what each node was sent (JSON-encodable); node, if not empty, selects one node id.
	ConfigDump func(node string) any
	// Sources returns the status of every source (JSON-encodable).
	Sources func() any
}

// Handler returns the admin HTTP handler.
func Handler(st State) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if st.Ready != nil && !st.Ready() {
			http.Error(w, "not ready: waiting for the first full sync of every source", http.StatusServiceUnavailable)
			return
		}
		_, _ = fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(st.Metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /debug/config_dump", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, st.ConfigDump(r.URL.Query().Get("node")))
	})
	mux.HandleFunc("GET /debug/sources", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, st.Sources())
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// Serve runs the admin endpoint on addr until ctx is done; ready receives the bound address.
func Serve(ctx context.Context, addr string, st State, ready func(net.Addr)) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("admin listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: Handler(st), ReadHeaderTimeout: 5 * time.Second}
	if ready != nil {
		ready(lis.Addr())
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin serve: %w", err)
	}
	return nil
}
