// Package faultinjection is the "fault_injection" Govoy plugin: it delays and/or aborts a share of
// the requests that match configured headers and consumers, or that ask for it with Envoy's
// x-envoy-fault-* headers, to test how callers cope with slow and failing services.
package faultinjection

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"github.com/govoy/govoy/filters/http/faultinjection/faultpb"
	"github.com/govoy/govoy/filters/http/internal/match"
	"github.com/govoy/govoy/filters/plugin"
	"google.golang.org/protobuf/proto"
)

// Name is the plugin name used in chain configs.
const Name = "fault_injection"

// Envoy's fault filter request headers.
const (
	HeaderAbort           = "x-envoy-fault-abort-request"
	HeaderAbortPercentage = "x-envoy-fault-abort-request-percentage"
	HeaderDelay           = "x-envoy-fault-delay-request"
	HeaderDelayPercentage = "x-envoy-fault-delay-request-percentage"
)

const (
	defaultMaxActiveFaults = 1000
	defaultMaxHeaderDelay  = 10 * time.Second
	defaultAbortBody       = "fault filter abort"
	// AbortDetails is the response code details of an injected abort.
	AbortDetails = "govoy.fault_injection.abort"
	million      = 1_000_000
)

func init() { plugin.Register(Plugin{}) }

// Plugin is the fault_injection descriptor. It runs after authentication (consumer rules) and with
// the other traffic plugins.
type Plugin struct{}

var _ plugin.AsyncPlugin = Plugin{}

func (Plugin) Name() string               { return Name }
func (Plugin) Order() int                 { return plugin.OrderTraffic + 10 }
func (Plugin) ConfigProto() proto.Message { return &faultpb.FaultInjection{} }

// AsyncPhases declares the decode header phase async because a delay must wait without blocking
// the Envoy worker. It is the upper bound: each parsed config narrows it (config.AsyncPhases), so
// only configs that can delay a request pay for the goroutine; see README.md ("Cost").
func (Plugin) AsyncPhases() plugin.Phase { return plugin.PhaseDecodeHeaders }

// AsyncPhases is read by the chain once, at parse time: the decode header phase goes to a goroutine
// only when a delay (fixed, or from the request header) can happen. Abort-only configs, and delays
// drawn with a 0% share (headers can only lower it), stay on the Envoy worker.
func (c *config) AsyncPhases() plugin.Phase {
	if c.hasDelay && c.delayPct.ppm > 0 {
		return plugin.PhaseDecodeHeaders
	}
	return 0
}

// fraction is a probability in parts per million, plus the denominator header percentages use.
type fraction struct {
	ppm   uint32
	denom uint32 // 100, 10000 or 1000000
}

func parsePercentage(p *faultpb.Percentage, field string) (fraction, error) {
	switch v := p.GetValue().(type) {
	case *faultpb.Percentage_Percent:
		if math.IsNaN(v.Percent) || v.Percent < 0 || v.Percent > 100 {
			return fraction{}, fmt.Errorf("%s.percent: %v is not within 0..100", field, v.Percent)
		}
		return fraction{ppm: uint32(math.Round(v.Percent * 10000)), denom: 100}, nil
	case *faultpb.Percentage_Fraction:
		var denom uint32
		switch v.Fraction.GetDenominator() {
		case faultpb.FractionalPercent_HUNDRED:
			denom = 100
		case faultpb.FractionalPercent_TEN_THOUSAND:
			denom = 10000
		case faultpb.FractionalPercent_MILLION:
			denom = million
		default:
			return fraction{}, fmt.Errorf("%s.fraction.denominator: unknown value %v", field, v.Fraction.GetDenominator())
		}
		n := v.Fraction.GetNumerator()
		if n > denom {
			return fraction{}, fmt.Errorf("%s.fraction.numerator: %d exceeds the denominator %d", field, n, denom)
		}
		return fraction{ppm: n * (million / denom), denom: denom}, nil
	}
	return fraction{}, fmt.Errorf("%s: percent or fraction is required", field)
}

// withHeader lowers the fraction to the numerator a request header gives, as Envoy does with
// x-envoy-fault-*-percentage (never above the configured one).
func (f fraction) withHeader(h api.RequestHeaderMap, name string) fraction {
	v, _ := h.Get(name)
	return f.withValue(v)
}

// withValue is withHeader given the header's value; absent ("") does not parse and keeps f, so
// the chain can read the one header with plugin.RequestHeader instead of the SDK's copy-all Get.
func (f fraction) withValue(v string) fraction {
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return f
	}
	ppm := uint64(n) * uint64(million/f.denom)
	if ppm < uint64(f.ppm) {
		f.ppm = uint32(ppm)
	}
	return f
}

func (f fraction) sample() bool {
	switch {
	case f.ppm == 0:
		return false
	case f.ppm >= million:
		return true
	}
	return rand.Uint32N(million) < f.ppm
}

// config is the parsed, immutable plugin config plus its shared active-fault count.
type config struct {
	headers   []match.Matcher
	consumers map[string]struct{}

	hasDelay       bool
	fixedDelay     time.Duration // 0: from header
	maxHeaderDelay time.Duration
	delayPct       fraction

	hasAbort    bool
	abortStatus int // 0: from header
	abortBody   string
	abortPct    fraction

	maxActive int64
	active    *atomic.Int64

	delays, aborts, overflow api.CounterMetric
	activeGauge              api.GaugeMetric
}

func (Plugin) Parse(msg proto.Message, pc plugin.ParseContext) (any, error) {
	m, ok := msg.(*faultpb.FaultInjection)
	if !ok {
		return nil, fmt.Errorf("fault_injection: config is %T, want *faultpb.FaultInjection", msg)
	}
	if m.GetDelay() == nil && m.GetAbort() == nil {
		return nil, fmt.Errorf("delay, abort: at least one of them is required")
	}
	c := &config{active: new(atomic.Int64), maxActive: defaultMaxActiveFaults}
	if n := m.GetMaxActiveFaults(); n > 0 {
		c.maxActive = int64(n)
	}
	var err error
	if c.headers, err = match.CompileAll(m.GetHeaders(), "headers", true); err != nil {
		return nil, err
	}
	if len(m.GetConsumers()) > 0 {
		c.consumers = make(map[string]struct{}, len(m.GetConsumers()))
		for _, name := range m.GetConsumers() {
			c.consumers[name] = struct{}{}
		}
	}
	if d := m.GetDelay(); d != nil {
		c.hasDelay = true
		if c.delayPct, err = parsePercentage(d.GetPercentage(), "delay.percentage"); err != nil {
			return nil, err
		}
		switch t := d.GetDelayType().(type) {
		case *faultpb.Delay_FixedDelay:
			c.fixedDelay = t.FixedDelay.AsDuration()
			if c.fixedDelay <= 0 {
				return nil, fmt.Errorf("delay.fixed_delay: must be greater than 0, got %v", c.fixedDelay)
			}
		case *faultpb.Delay_HeaderDelay:
			c.maxHeaderDelay = defaultMaxHeaderDelay
			if md := t.HeaderDelay.GetMaxDelay(); md != nil {
				c.maxHeaderDelay = md.AsDuration()
			}
		default:
			return nil, fmt.Errorf("delay: fixed_delay or header_delay is required")
		}
	}
	if a := m.GetAbort(); a != nil {
		c.hasAbort = true
		if c.abortPct, err = parsePercentage(a.GetPercentage(), "abort.percentage"); err != nil {
			return nil, err
		}
		switch t := a.GetErrorType().(type) {
		case *faultpb.Abort_HttpStatus:
			if t.HttpStatus < 200 || t.HttpStatus > 599 {
				return nil, fmt.Errorf("abort.http_status: %d is not within 200..599", t.HttpStatus)
			}
			c.abortStatus = int(t.HttpStatus)
		case *faultpb.Abort_HeaderAbort:
		default:
			return nil, fmt.Errorf("abort: http_status or header_abort is required")
		}
		c.abortBody = a.GetBody()
		if c.abortBody == "" {
			c.abortBody = defaultAbortBody
		}
	}
	c.delays = pc.Counter("delays_injected")
	c.aborts = pc.Counter("aborts_injected")
	c.overflow = pc.Counter("faults_overflow")
	c.activeGauge = pc.Gauge("active_faults")
	return c, nil
}

func (Plugin) NewFilter(cfg any, h plugin.Handle) plugin.Filter {
	return &filter{c: cfg.(*config), h: h}
}

type filter struct {
	plugin.PassThroughFilter
	c      *config
	h      plugin.Handle
	active bool
}

func (c *config) matches(headers api.RequestHeaderMap, consumer *plugin.Consumer) bool {
	if c.consumers != nil {
		if consumer == nil {
			return false
		}
		if _, ok := c.consumers[consumer.Name]; !ok {
			return false
		}
	}
	return match.Headers(c.headers, headers)
}

// delayFor returns the delay this request gets (0: none).
func (c *config) delayFor(hd plugin.Handle, h api.RequestHeaderMap) time.Duration {
	if !c.hasDelay {
		return 0
	}
	d := c.fixedDelay
	pct := c.delayPct
	if d == 0 {
		ms, err := strconv.ParseUint(plugin.RequestHeader(hd, h, HeaderDelay), 10, 32)
		if err != nil || ms == 0 {
			return 0
		}
		d = min(time.Duration(ms)*time.Millisecond, c.maxHeaderDelay)
		pct = pct.withValue(plugin.RequestHeader(hd, h, HeaderDelayPercentage))
	}
	if !pct.sample() {
		return 0
	}
	return d
}

// abortFor returns the status this request is aborted with (0: none).
func (c *config) abortFor(hd plugin.Handle, h api.RequestHeaderMap) int {
	if !c.hasAbort {
		return 0
	}
	status := c.abortStatus
	pct := c.abortPct
	if status == 0 {
		n, err := strconv.Atoi(plugin.RequestHeader(hd, h, HeaderAbort))
		if err != nil || n < 200 || n > 599 {
			return 0
		}
		status = n
		pct = pct.withValue(plugin.RequestHeader(hd, h, HeaderAbortPercentage))
	}
	if !pct.sample() {
		return 0
	}
	return status
}

// acquire takes one active-fault slot, or reports the limit is reached.
func (c *config) acquire() bool {
	for {
		n := c.active.Load()
		if n >= c.maxActive {
			return false
		}
		if c.active.CompareAndSwap(n, n+1) {
			c.activeGauge.Increment(1)
			return true
		}
	}
}

func (c *config) release() {
	c.active.Add(-1)
	c.activeGauge.Increment(-1)
}

func (f *filter) DecodeHeaders(headers api.RequestHeaderMap, _ bool) plugin.Result {
	c := f.c
	if !c.matches(headers, f.h.Consumer()) {
		return plugin.Continue
	}
	delay := c.delayFor(f.h, headers)
	status := c.abortFor(f.h, headers)
	if delay == 0 && status == 0 {
		return plugin.Continue
	}
	if !c.acquire() {
		c.overflow.Increment(1)
		return plugin.Continue
	}
	// The slot is held until the request ends (OnLog), like Envoy's active_faults.
	f.active = true
	if delay > 0 {
		c.delays.Increment(1)
		// A delay is only possible with a config whose AsyncPhases put this phase on a goroutine,
		// so waiting does not block the worker; waiting goroutines are bounded by max_active_faults.
		t := time.NewTimer(delay)
		<-t.C
	}
	if status > 0 {
		c.aborts.Increment(1)
		return plugin.Reply(status, c.abortBody, nil, AbortDetails)
	}
	return plugin.Continue
}

func (f *filter) OnLog(api.RequestHeaderMap, api.RequestTrailerMap, api.ResponseHeaderMap, api.ResponseTrailerMap) {
	if f.active {
		f.active = false
		f.c.release()
	}
}

// CopiesRequestHeaders (plugin.HeaderCopier): header matchers read through the SDK's copy of all
// request headers (Values).
func (c *config) CopiesRequestHeaders() bool { return len(c.headers) > 0 }

var _ plugin.HeaderCopier = (*config)(nil)
