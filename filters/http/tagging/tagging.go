// Package tagging is the "traffic_tagging" Govoy plugin: ordered rules match request headers,
// cookies, the consumer or a stable percentage bucket and tag the request (a header, optionally
// dynamic metadata). It then clears the route cache so Envoy's route table, which matches on that
// header, sends canary/version traffic to the right cluster.
package tagging

import (
	"fmt"
	"hash/fnv"
	"math"
	"strings"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"github.com/govoy/govoy/filters/http/internal/match"
	"github.com/govoy/govoy/filters/http/tagging/taggingpb"
	"github.com/govoy/govoy/filters/plugin"
	"google.golang.org/protobuf/proto"
)

// Name is the plugin name used in chain configs.
const Name = "traffic_tagging"

// DefaultHeader carries the tag when the config names no header.
const DefaultHeader = "x-govoy-tag"

// buckets is the resolution of percentage rules: 0.01%.
const buckets = 10000

func init() { plugin.Register(Plugin{}) }

// Plugin is the traffic_tagging descriptor.
//
// Order: consumer rules need the consumer, so tagging runs after authentication (OrderAuthn) and
// before authorization, rate limiting and fault injection, which may then match the tag header. It
// does no I/O and stays synchronous.
type Plugin struct{}

func (Plugin) Name() string               { return Name }
func (Plugin) Order() int                 { return plugin.OrderAuthn + 50 }
func (Plugin) ConfigProto() proto.Message { return &taggingpb.TrafficTagging{} }

type hashSource int

const (
	hashNone hashSource = iota
	hashHeader
	hashCookie
	hashConsumer
	hashClientIP
)

type rule struct {
	tag       string
	headers   []match.Matcher
	cookies   []match.Matcher
	consumers map[string]struct{}
	labels    map[string]string
	// percentage rules own buckets [lo, hi)
	hasPct     bool
	lo, hi     uint64
	setHeaders [][2]string
	counter    api.CounterMetric
}

type config struct {
	rules         []rule
	header        string
	trustIncoming bool
	metadataNS    string
	hash          hashSource
	hashName      string
	salt          string
	needCookies   bool
	untagged      api.CounterMetric
	passthrough   api.CounterMetric
}

func (Plugin) Parse(msg proto.Message, pc plugin.ParseContext) (any, error) {
	m, ok := msg.(*taggingpb.TrafficTagging)
	if !ok {
		return nil, fmt.Errorf("traffic_tagging: config is %T, want *taggingpb.TrafficTagging", msg)
	}
	if len(m.GetRules()) == 0 {
		return nil, fmt.Errorf("rules: at least one rule is required")
	}
	c := &config{
		header:        strings.ToLower(m.GetHeader()),
		trustIncoming: m.GetTrustIncoming(),
		metadataNS:    m.GetMetadataNamespace(),
		salt:          m.GetHashSalt(),
	}
	if c.header == "" {
		c.header = DefaultHeader
	}
	if strings.HasPrefix(c.header, ":") {
		return nil, fmt.Errorf("header: %q is a pseudo header; tag with a regular header", c.header)
	}
	switch k := m.GetHashKey().GetSource().(type) {
	case *taggingpb.HashKey_Header:
		c.hash, c.hashName = hashHeader, strings.ToLower(k.Header)
	case *taggingpb.HashKey_Cookie:
		c.hash, c.hashName = hashCookie, k.Cookie
		c.needCookies = true
	case *taggingpb.HashKey_Consumer:
		c.hash = hashConsumer
	case *taggingpb.HashKey_ClientIp:
		c.hash = hashClientIP
	}
	counters := map[string]api.CounterMetric{}
	var next uint64 // first free bucket for the next percentage rule
	for i, r := range m.GetRules() {
		field := fmt.Sprintf("rules[%d]", i)
		nr := rule{tag: r.GetTag()}
		var err error
		if nr.headers, err = match.CompileAll(r.GetHeaders(), field+".headers", true); err != nil {
			return nil, err
		}
		if nr.cookies, err = match.CompileAll(r.GetCookies(), field+".cookies", false); err != nil {
			return nil, err
		}
		if len(nr.cookies) > 0 {
			c.needCookies = true
		}
		if len(r.GetConsumers()) > 0 {
			nr.consumers = map[string]struct{}{}
			for _, name := range r.GetConsumers() {
				nr.consumers[name] = struct{}{}
			}
		}
		if len(r.GetConsumerLabels()) > 0 {
			nr.labels = r.GetConsumerLabels()
		}
		if p := r.GetPercentage(); p != nil {
			v := p.GetValue()
			if math.IsNaN(v) || v <= 0 || v > 100 {
				return nil, fmt.Errorf("%s.percentage: %v is not within (0, 100]", field, v)
			}
			if c.hash == hashNone {
				return nil, fmt.Errorf("hash_key: required because %s has a percentage", field)
			}
			n := uint64(math.Round(v * buckets / 100))
			if next+n > buckets {
				return nil, fmt.Errorf("%s.percentage: percentage rules add up to more than 100", field)
			}
			nr.hasPct, nr.lo, nr.hi = true, next, next+n
			next += n
		}
		for k, v := range r.GetSetHeaders() {
			if strings.ContainsAny(v, "\r\n\x00") {
				return nil, fmt.Errorf("%s.set_headers[%q]: value must not contain CR, LF or NUL", field, k)
			}
			k = strings.ToLower(k)
			if strings.HasPrefix(k, ":") {
				return nil, fmt.Errorf("%s.set_headers[%q]: pseudo headers cannot be set", field, k)
			}
			nr.setHeaders = append(nr.setHeaders, [2]string{k, v})
		}
		// Deterministic order of extra headers (proto maps have none).
		sortPairs(nr.setHeaders)
		if counters[nr.tag] == nil {
			counters[nr.tag] = pc.Counter("tag." + nr.tag)
		}
		nr.counter = counters[nr.tag]
		c.rules = append(c.rules, nr)
	}
	c.untagged = pc.Counter("untagged")
	c.passthrough = pc.Counter("passthrough")
	return c, nil
}

func sortPairs(p [][2]string) {
	for i := 1; i < len(p); i++ {
		for j := i; j > 0 && p[j][0] < p[j-1][0]; j-- {
			p[j], p[j-1] = p[j-1], p[j]
		}
	}
}

func (Plugin) NewFilter(cfg any, h plugin.Handle) plugin.Filter {
	return &filter{c: cfg.(*config), h: h}
}

type filter struct {
	plugin.PassThroughFilter
	c *config
	h plugin.Handle
}

// bucket hashes the configured key into [0, buckets); ok is false when the request lacks the key.
func (c *config) bucket(h api.RequestHeaderMap, ck map[string][]string, consumer *plugin.Consumer, clientIP string) (uint64, bool) {
	var key string
	switch c.hash {
	case hashHeader:
		v, ok := h.Get(c.hashName)
		if !ok || v == "" {
			return 0, false
		}
		key = v
	case hashCookie:
		vs := ck[c.hashName]
		if len(vs) == 0 || vs[0] == "" {
			return 0, false
		}
		key = vs[0]
	case hashConsumer:
		if consumer == nil {
			return 0, false
		}
		key = consumer.Name
	case hashClientIP:
		if clientIP == "" {
			return 0, false
		}
		key = clientIP
	default:
		return 0, false
	}
	// FNV-1a is stable across processes and Envoy instances, so a user keeps its bucket everywhere.
	f := fnv.New64a()
	f.Write([]byte(c.salt))
	f.Write([]byte{0})
	f.Write([]byte(key))
	return f.Sum64() % buckets, true
}

func (r *rule) matches(h api.RequestHeaderMap, ck map[string][]string, consumer *plugin.Consumer, bucket func() (uint64, bool)) bool {
	if !match.Headers(r.headers, h) || !match.Cookies(r.cookies, ck) {
		return false
	}
	if r.consumers != nil || r.labels != nil {
		if consumer == nil {
			return false
		}
		if r.consumers != nil {
			if _, ok := r.consumers[consumer.Name]; !ok {
				return false
			}
		}
		for k, v := range r.labels {
			if got, ok := consumer.Labels[k]; !ok || got != v {
				return false
			}
		}
	}
	if r.hasPct {
		b, ok := bucket()
		if !ok || b < r.lo || b >= r.hi {
			return false
		}
	}
	return true
}

func (f *filter) DecodeHeaders(h api.RequestHeaderMap, _ bool) plugin.Result {
	c := f.c
	stripped := false
	if _, present := h.Get(c.header); present {
		if c.trustIncoming {
			c.passthrough.Increment(1)
			return plugin.Continue
		}
		// Clients must not choose their version themselves.
		h.Del(c.header)
		stripped = true
	}
	var ck map[string][]string
	if c.needCookies {
		ck = match.ParseCookies(h.Values("cookie"))
	}
	consumer := f.h.Consumer()
	var (
		b        uint64
		bOK, bDo bool
	)
	bucket := func() (uint64, bool) {
		if !bDo {
			bDo = true
			ip := ""
			if c.hash == hashClientIP {
				ip = f.h.ClientIP()
			}
			b, bOK = c.bucket(h, ck, consumer, ip)
		}
		return b, bOK
	}
	for i := range c.rules {
		r := &c.rules[i]
		if !r.matches(h, ck, consumer, bucket) {
			continue
		}
		h.Set(c.header, r.tag)
		for _, kv := range r.setHeaders {
			h.Set(kv[0], kv[1])
		}
		if c.metadataNS != "" {
			f.h.Callbacks().StreamInfo().DynamicMetadata().Set(c.metadataNS, "tag", r.tag)
		}
		r.counter.Increment(1)
		// Envoy picked the route before this filter ran: clear it so the router matches again
		// with the tag header.
		f.h.Callbacks().ClearRouteCache()
		return plugin.Continue
	}
	c.untagged.Increment(1)
	if stripped {
		// The route may have matched on the removed header.
		f.h.Callbacks().ClearRouteCache()
	}
	return plugin.Continue
}

// CopiesRequestHeaders tells the chain (plugin.HeaderCopier) that every request makes the SDK copy
// the request headers: the incoming tag header's presence is read with Get, the tag written with Set.
func (c *config) CopiesRequestHeaders() bool { return true }

var _ plugin.HeaderCopier = (*config)(nil)
