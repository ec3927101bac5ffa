// Package log is Govoy's logger: a zap.Logger whose output goes to Envoy's log when the code runs
// inside govoy.so, and to stderr elsewhere (tests, offline tools).
//
// The logger returned by L never changes; UseEnvoy only swaps the core underneath it, so plugins
// may keep a logger obtained in an init function.
package log

import (
	"os"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// target is the core every logger writes through; switchable at run time.
var target atomic.Pointer[coreBox]

type coreBox struct{ core zapcore.Core }

var root = zap.New(switchCore{}, zap.AddCaller())

func init() {
	target.Store(&coreBox{core: stderrCore(zapcore.InfoLevel)})
}

// L returns the process-wide logger.
func L() *zap.Logger { return root }

// Named returns the logger of one component (a plugin name, "chain", ...).
func Named(name string) *zap.Logger { return root.Named(name) }

// SetCore makes every logger write to c (tests use zaptest/observer cores).
func SetCore(c zapcore.Core) { target.Store(&coreBox{core: c}) }

// UseEnvoy sends every log line to Envoy's logger, at Envoy's current log level. Only a main package
// that links Envoy's golang SDK (which provides the C side of the logging calls) may call it.
func UseEnvoy() { SetCore(newEnvoyCore()) }

func stderrCore(level zapcore.Level) zapcore.Core {
	enc := zap.NewDevelopmentEncoderConfig()
	return zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.Lock(os.Stderr), level)
}

// switchCore forwards to the current target, adding the fields given to With.
type switchCore struct {
	fields []zapcore.Field
}

func (s switchCore) Enabled(l zapcore.Level) bool { return target.Load().core.Enabled(l) }

func (s switchCore) With(fs []zapcore.Field) zapcore.Core {
	merged := make([]zapcore.Field, 0, len(s.fields)+len(fs))
	merged = append(append(merged, s.fields...), fs...)
	return switchCore{fields: merged}
}

func (s switchCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if s.Enabled(e.Level) {
		return ce.AddCore(e, s)
	}
	return ce
}

func (s switchCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	all := fs
	if len(s.fields) > 0 {
		all = make([]zapcore.Field, 0, len(s.fields)+len(fs))
		all = append(append(all, s.fields...), fs...)
	}
	return target.Load().core.Write(e, all)
}

func (s switchCore) Sync() error { return target.Load().core.Sync() }
