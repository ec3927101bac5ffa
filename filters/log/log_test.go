package log_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/govoy/govoy/filters/log"
)

// fakeEnvoy plays the C side of Envoy's logger (what the SDK's common CAPI reaches).
type fakeEnvoy struct {
	mu    sync.Mutex
	level api.LogType
	lines []line
}

type line struct {
	level api.LogType
	msg   string
}

func (e *fakeEnvoy) Log(level api.LogType, msg string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lines = append(e.lines, line{level, msg})
}

func (e *fakeEnvoy) LogLevel() api.LogType {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.level
}

func (e *fakeEnvoy) take() []line {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.lines
	e.lines = nil
	return out
}

func TestEnvoyCore(t *testing.T) {
	env := &fakeEnvoy{level: api.Info}
	api.SetCommonCAPI(env)
	// A logger taken before the switch follows it: plugins keep loggers from init functions.
	early := log.Named("key_auth").With(zap.String("route", "r1"))
	log.UseEnvoy()

	early.Debug("hidden at info")
	early.Info("consumer found", zap.String("consumer", "alice"))
	log.L().Warn("w")
	log.L().Error("e")
	got := env.take()
	if len(got) != 3 {
		t.Fatalf("lines = %+v, want 3 (debug suppressed)", got)
	}
	if got[0].level != api.Info || !strings.Contains(got[0].msg, "key_auth") || !strings.Contains(got[0].msg, "consumer found") ||
		!strings.Contains(got[0].msg, `"route": "r1"`) || !strings.Contains(got[0].msg, `"consumer": "alice"`) {
		t.Errorf("info line = %+v", got[0])
	}
	if strings.HasSuffix(got[0].msg, "\n") {
		t.Error("line ends with a newline; Envoy adds its own")
	}
	if got[1].level != api.Warn || got[2].level != api.Error {
		t.Errorf("levels = %v, %v", got[1].level, got[2].level)
	}
	// Envoy's level changes at run time (admin /logging): the core follows it.
	env.mu.Lock()
	env.level = api.Debug
	env.mu.Unlock()
	early.Debug("now visible")
	if got := env.take(); len(got) != 1 || got[0].level != api.Debug || !strings.Contains(got[0].msg, "now visible") {
		t.Fatalf("debug after level change: %+v", got)
	}
}

func TestSetCore(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	log.SetCore(core)
	log.Named("chain").With(zap.Int("n", 1)).Debug("hello", zap.String("k", "v"))
	entries := logs.TakeAll()
	if len(entries) != 1 {
		t.Fatalf("entries = %d", len(entries))
	}
	e := entries[0]
	if e.LoggerName != "chain" || e.Message != "hello" || e.ContextMap()["n"] != int64(1) || e.ContextMap()["k"] != "v" {
		t.Fatalf("entry = %+v %v", e.Entry, e.ContextMap())
	}
}
