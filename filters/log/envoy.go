package log

import (
	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"go.uber.org/zap/buffer"
	"go.uber.org/zap/zapcore"
)

// envoyCore writes entries through Envoy's logger (api.LogXxx: one cgo call per emitted line). The
// level check uses the level the SDK caches on the Go side, so suppressed lines never cross into C.
type envoyCore struct {
	enc zapcore.Encoder
	out func(level api.LogType, msg string)
	lvl func() api.LogType
}

func newEnvoyCore() zapcore.Core {
	return &envoyCore{enc: newEnvoyEncoder(), out: envoyLog, lvl: api.GetLogLevel}
}

// newEnvoyEncoder formats "logger: message key=value ..." without time and level, which Envoy adds.
func newEnvoyEncoder() zapcore.Encoder {
	return zapcore.NewConsoleEncoder(zapcore.EncoderConfig{
		MessageKey:       "msg",
		NameKey:          "logger",
		CallerKey:        "caller",
		StacktraceKey:    "stacktrace",
		EncodeCaller:     zapcore.ShortCallerEncoder,
		EncodeName:       zapcore.FullNameEncoder,
		EncodeDuration:   zapcore.StringDurationEncoder,
		ConsoleSeparator: " ",
	})
}

func envoyLog(level api.LogType, msg string) {
	switch level {
	case api.Trace:
		api.LogTrace(msg)
	case api.Debug:
		api.LogDebug(msg)
	case api.Info:
		api.LogInfo(msg)
	case api.Warn:
		api.LogWarn(msg)
	case api.Error:
		api.LogError(msg)
	default:
		api.LogCritical(msg)
	}
}

// envoyLevel maps a zap level to Envoy's.
func envoyLevel(l zapcore.Level) api.LogType {
	switch {
	case l < zapcore.InfoLevel:
		return api.Debug
	case l == zapcore.InfoLevel:
		return api.Info
	case l == zapcore.WarnLevel:
		return api.Warn
	case l == zapcore.ErrorLevel:
		return api.Error
	default:
		return api.Critical
	}
}

func (c *envoyCore) Enabled(l zapcore.Level) bool { return envoyLevel(l) >= c.lvl() }

func (c *envoyCore) With(fs []zapcore.Field) zapcore.Core {
	enc := c.enc.Clone()
	for _, f := range fs {
		f.AddTo(enc)
	}
	return &envoyCore{enc: enc, out: c.out, lvl: c.lvl}
}

func (c *envoyCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *envoyCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	var buf *buffer.Buffer
	buf, err := c.enc.EncodeEntry(e, fs)
	if err != nil {
		return err
	}
	msg := buf.String()
	buf.Free()
	if n := len(msg); n > 0 && msg[n-1] == '\n' {
		msg = msg[:n-1] // Envoy ends the line itself
	}
	c.out(envoyLevel(e.Level), msg)
	return nil
}

func (c *envoyCore) Sync() error { return nil }
