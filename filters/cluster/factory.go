package cluster

import (
	"fmt"
	"sync/atomic"
	"time"

	csapi "github.com/envoyproxy/envoy/contrib/golang/router/cluster_specifier/source/go/pkg/api"
	"go.uber.org/zap"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/govoy/govoy/filters/log"
)

// Factory is the config factory registered with Envoy's SDK (filters/cluster/register). Envoy calls
// it once per golang cluster specifier config, on the main thread, and cannot be told that a config
// is invalid: the SDK stores whatever Factory returns under a fresh, non-zero plugin id (only an
// undecodable Any yields id 0, which Envoy rejects). A nil return would be stored too and make every
// request panic inside the SDK, whose recovery then logs through a cgo call that itself panics
// unless GODEBUG=cgocheck=0; a panic in Factory would take Envoy down. So Factory never returns nil
// and never panics: an invalid config logs its error (naming the field) and yields a specifier that
// always answers "" (Envoy's default_cluster) and repeats the error in the log at most every 10 s.
// Check configs before Envoy sees them: govoy-validate (filters/configcheck) runs ParseAny.
func Factory(a *anypb.Any) (out csapi.ClusterSpecifier) {
	defer func() {
		if r := recover(); r != nil {
			out = newInvalid(fmt.Errorf("config: parse panicked: %v", r))
			logger().Error("invalid config: Envoy uses default_cluster for every request", zap.Error(out.(*invalid).err))
		}
	}()
	s, err := ParseAny(a)
	if err != nil {
		logger().Error("invalid config: Envoy uses default_cluster for every request", zap.Error(err))
		return newInvalid(err)
	}
	names := make([]string, len(s.rules))
	for i, r := range s.rules {
		names[i] = r.name
	}
	logger().Info("config loaded", zap.Strings("rules", names))
	return s
}

// Cluster is what Envoy's SDK calls. A panic must not reach the SDK (see Factory): it is logged and
// the request goes to default_cluster.
func (s *Specifier) Cluster(h csapi.RequestHeaderMap) (cluster string) {
	defer func() {
		if r := recover(); r != nil {
			cluster = ""
			panics.Add(1)
			if logLimit.allow() {
				logger().Error("cluster specifier panicked: using default_cluster", zap.Any("panic", r), zap.Stack("stack"))
			}
		}
	}()
	return s.Pick(h)
}

// invalid is the specifier of a config that failed to parse.
type invalid struct {
	err error
	log limiter
}

func newInvalid(err error) *invalid {
	i := &invalid{err: err, log: limiter{every: 10 * time.Second}}
	i.log.last.Store(time.Now().UnixNano()) // Factory has just logged it
	return i
}

func (i *invalid) Cluster(csapi.RequestHeaderMap) string {
	if i.log.allow() {
		logger().Error("invalid config: using default_cluster", zap.Error(i.err))
	}
	return ""
}

// Err is the parse error of an invalid config's specifier, nil for a valid one (for tests and tools).
func Err(s csapi.ClusterSpecifier) error {
	if i, ok := s.(*invalid); ok {
		return i.err
	}
	return nil
}

// Panics counts panics recovered in Cluster since start.
func Panics() uint64 { return panics.Load() }

var panics atomic.Uint64

func logger() *zap.Logger { return log.Named("cluster_specifier") }

// logLimit keeps per-request panic lines from flooding Envoy's log.
var logLimit = &limiter{every: 10 * time.Second}

type limiter struct {
	every time.Duration
	last  atomic.Int64 // unix nanos of the last allowed line
}

func (l *limiter) allow() bool {
	now := time.Now().UnixNano()
	last := l.last.Load()
	return now-last >= int64(l.every) && l.last.CompareAndSwap(last, now)
}
