// Package metricsendpoint serves govoy.so's Prometheus metrics over HTTP (/metrics, text format)
// on an address the operator chooses with GOVOY_METRICS_ADDR. It exists because parts of govoy.so
// cannot reach Envoy's own stats: Envoy v1.39.0's golang network filter SDK has no metrics API.
//
// The variable is read once per process. An address without a host (":9100") binds 127.0.0.1,
// never every interface; a host must be an IP literal or "localhost" (no DNS while Envoy loads
// the library). Nothing is served when the variable is unset. Failing to bind (port in use, e.g.
// during an Envoy hot restart) is logged and retried in the background, never fatal.
package metricsendpoint

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/govoy/govoy/filters/log"
)

// EnvVar names the variable holding the listen address.
const EnvVar = "GOVOY_METRICS_ADDR"

// Path is where the metrics are served.
const Path = "/metrics"

// Registry is the process-wide registry served by StartFromEnv; packages of govoy.so register
// their collectors here (Go runtime and process metrics are already in).
var Registry = func() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}()

var (
	logger    = log.Named("metrics")
	startOnce sync.Once
	started   atomic.Pointer[Server]
)

// StartFromEnv serves Registry on GOVOY_METRICS_ADDR. Only the first call reads the variable;
// errors are logged.
func StartFromEnv() {
	startOnce.Do(func() {
		v := os.Getenv(EnvVar)
		if v == "" {
			return
		}
		s, err := Start(v, Registry)
		if err != nil {
			logger.Error("metrics endpoint disabled", zap.String("env", EnvVar), zap.Error(err))
			return
		}
		started.Store(s)
	})
}

// Current is the server StartFromEnv started, or nil.
func Current() *Server { return started.Load() }

// ResolveAddr checks a listen address and gives an empty host the loopback address.
func ResolveAddr(v string) (string, error) {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return "", fmt.Errorf("%s: want host:port, got %q: %w", EnvVar, v, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("%s: port %q is not a number in 0..65535", EnvVar, port)
	}
	switch {
	case host == "":
		host = "127.0.0.1"
	case host == "localhost":
	case net.ParseIP(host) == nil:
		return "", fmt.Errorf("%s: host %q must be an IP address or localhost", EnvVar, host)
	}
	return net.JoinHostPort(host, port), nil
}

// retryEvery is how often a taken port is tried again.
var retryEvery = 5 * time.Second

// Server is a running metrics endpoint.
type Server struct {
	want  string
	srv   *http.Server
	bound atomic.Pointer[string]
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

// Start serves g's metrics at addr (see ResolveAddr). It fails only on an invalid address; when
// the port cannot be bound yet it logs that and keeps trying until Close.
func Start(addr string, g prometheus.Gatherer) (*Server, error) {
	a, err := ResolveAddr(addr)
	if err != nil {
		return nil, err
	}
	if host, _, _ := net.SplitHostPort(a); net.ParseIP(host) != nil && !net.ParseIP(host).IsLoopback() {
		logger.Warn("metrics endpoint is not on a loopback address", zap.String("addr", a))
	}
	mux := http.NewServeMux()
	mux.Handle(Path, promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	s := &Server{
		want: a,
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go s.run()
	return s, nil
}

func (s *Server) run() {
	defer close(s.done)
	defer func() {
		if r := recover(); r != nil {
			logger.Error("metrics endpoint panicked", zap.Any("panic", r))
		}
	}()
	for logged := false; ; {
		ln, err := net.Listen("tcp", s.want)
		if err == nil {
			b := ln.Addr().String()
			s.bound.Store(&b)
			logger.Info("serving metrics", zap.String("url", "http://"+b+Path))
			if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error("metrics endpoint stopped", zap.Error(err))
			}
			return
		}
		if !logged {
			logger.Error("metrics endpoint cannot listen yet; retrying in the background",
				zap.String("addr", s.want), zap.Duration("every", retryEvery), zap.Error(err))
			logged = true
		}
		select {
		case <-s.stop:
			return
		case <-time.After(retryEvery):
		}
	}
}

// Addr is the address being served ("" until the listen succeeded).
func (s *Server) Addr() string {
	if b := s.bound.Load(); b != nil {
		return *b
	}
	return ""
}

// Close stops serving and waits for the server goroutine.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.stop)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.srv.Shutdown(ctx)
	})
	<-s.done
}
