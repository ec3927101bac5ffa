// Package localratelimit is the "local_ratelimit" plugin: token buckets keyed by a header, the client
// IP, the consumer or the route, shared by all Envoy workers of the process, answering 429 with
// Retry-After when a bucket is empty.
package localratelimit

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"google.golang.org/protobuf/proto"

	"github.com/govoy/govoy/filters/plugin"
)

// Name is the plugin name used in chain configs.
const Name = "local_ratelimit"

const (
	defaultMaxKeys = 100000
	// maxBurstSpan bounds max_tokens × (fill_interval / tokens_per_fill) so bucket time never overflows.
	maxBurstSpan = 366 * 24 * time.Hour
)

func init() { plugin.Register(Plugin{}) }

// Plugin is the local_ratelimit plugin descriptor.
type Plugin struct{}

// clockOverride, when set (tests only), is the clock of the buckets of every config parsed after.
var clockOverride Clock

func (Plugin) Name() string               { return Name }
func (Plugin) Order() int                 { return plugin.OrderTraffic }
func (Plugin) ConfigProto() proto.Message { return &Config{} }
func (Plugin) NewFilter(c any, h plugin.Handle) plugin.Filter {
	return &filter{cfg: c.(*config), h: h}
}

// config is the parsed, immutable runtime config; its limiter is shared by every request.
type config struct {
	limiter    *Limiter
	key        Config_Key
	header     string
	skipNoKey  bool
	xHeaders   bool
	limitValue string
	okC        api.CounterMetric
	limitedC   api.CounterMetric
	skippedC   api.CounterMetric
}

// Parse builds the limiter. Each parsed config (filter level or route level) has its own buckets.
func (Plugin) Parse(msg proto.Message, pc plugin.ParseContext) (any, error) {
	c, ok := msg.(*Config)
	if !ok {
		return nil, fmt.Errorf("local_ratelimit: config is %T, want *localratelimit.Config", msg)
	}
	return newConfig(c, pc, clockOverride)
}

func newConfig(c *Config, pc plugin.ParseContext, clock Clock) (*config, error) {
	if err := c.ValidateAll(); err != nil {
		return nil, err
	}
	tb := c.GetTokenBucket()
	perFill := uint32(1)
	if tb.GetTokensPerFill() != nil {
		perFill = tb.GetTokensPerFill().GetValue()
	}
	fill := tb.GetFillInterval().AsDuration()
	interval := fill / time.Duration(perFill)
	if interval < 1 {
		return nil, errors.New("invalid Config.TokenBucket.TokensPerFill: more than one token per nanosecond of fill_interval")
	}
	if float64(tb.GetMaxTokens())*float64(interval) > float64(maxBurstSpan) {
		return nil, fmt.Errorf("invalid Config.TokenBucket.MaxTokens: max_tokens × fill_interval/tokens_per_fill exceeds %v", maxBurstSpan)
	}
	if c.GetKey() == Config_HEADER && c.GetHeaderName() == "" {
		return nil, errors.New("invalid Config.HeaderName: required when key is HEADER")
	}
	if c.GetKey() != Config_HEADER && c.GetHeaderName() != "" {
		return nil, fmt.Errorf("invalid Config.HeaderName: only used when key is HEADER (key is %v)", c.GetKey())
	}
	maxKeys := int(c.GetMaxKeys())
	if maxKeys == 0 {
		maxKeys = defaultMaxKeys
	}
	if c.GetKey() == Config_GLOBAL {
		maxKeys = 1 // only the shared bucket is used
	}
	limiter := NewLimiter(tb.GetMaxTokens(), interval, maxKeys, clock)
	evictedC := pc.Counter("evicted")
	limiter.onEvict = func() { evictedC.Increment(1) }
	return &config{
		limiter:    limiter,
		key:        c.GetKey(),
		header:     strings.ToLower(c.GetHeaderName()),
		skipNoKey:  c.GetOnMissingKey() == Config_SKIP,
		xHeaders:   c.GetEnableXRatelimitHeaders(),
		limitValue: strconv.FormatUint(uint64(tb.GetMaxTokens()), 10),
		okC:        pc.Counter("ok"),
		limitedC:   pc.Counter("rate_limited"),
		skippedC:   pc.Counter("skipped"),
	}, nil
}

type filter struct {
	plugin.PassThroughFilter
	cfg      *config
	h        plugin.Handle
	decided  bool
	decision Decision
}

// keyOf returns the bucket key of the request and whether the request has one.
func (f *filter) keyOf(headers api.RequestHeaderMap) (string, bool) {
	switch f.cfg.key {
	case Config_HEADER:
		// One lookup in Envoy's map; the limiter clones the key when it keeps it.
		v := plugin.RequestHeader(f.h, headers, f.cfg.header)
		return v, v != ""
	case Config_CLIENT_IP:
		ip := f.h.ClientIP()
		return ip, ip != ""
	case Config_CONSUMER:
		if c := f.h.Consumer(); c != nil && c.Name != "" {
			return c.Name, true
		}
		return "", false
	case Config_ROUTE:
		r := f.h.RouteName()
		return r, r != ""
	default:
		return "", false // GLOBAL: every request uses the shared bucket
	}
}

func (f *filter) DecodeHeaders(headers api.RequestHeaderMap, _ bool) plugin.Result {
	var d Decision
	if key, ok := f.keyOf(headers); ok {
		d = f.cfg.limiter.Take(key)
	} else if f.cfg.key == Config_GLOBAL || !f.cfg.skipNoKey {
		d = f.cfg.limiter.TakeShared()
	} else {
		f.cfg.skippedC.Increment(1)
		return plugin.Continue
	}
	f.decided, f.decision = true, d
	if d.Allowed {
		f.cfg.okC.Increment(1)
		return plugin.Continue
	}
	f.cfg.limitedC.Increment(1)
	hdr := map[string][]string{"retry-after": {ceilSeconds(d.RetryAfter)}}
	if f.cfg.xHeaders {
		f.addXHeaders(func(k, v string) { hdr[k] = []string{v} })
	}
	return plugin.Reply(429, "rate limited\n", hdr, "govoy.local_ratelimit.rate_limited")
}

func (f *filter) EncodeHeaders(headers api.ResponseHeaderMap, _ bool) plugin.Result {
	if f.decided && f.cfg.xHeaders {
		f.addXHeaders(headers.Set)
	}
	return plugin.Continue
}

func (f *filter) addXHeaders(set func(k, v string)) {
	set("x-ratelimit-limit", f.cfg.limitValue)
	set("x-ratelimit-remaining", strconv.FormatUint(uint64(f.decision.Remaining), 10))
	set("x-ratelimit-reset", ceilSeconds(f.decision.ResetAfter))
}

// ceilSeconds renders d as whole seconds rounded up (Retry-After takes integer seconds, and rounding
// down would invite a retry that is still refused).
func ceilSeconds(d time.Duration) string {
	if d <= 0 {
		return "0"
	}
	return strconv.FormatInt(int64(math.Ceil(d.Seconds())), 10)
}
