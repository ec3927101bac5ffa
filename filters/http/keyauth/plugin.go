// Package keyauth is the "key_auth" plugin: an API key read from a header or query parameter
// identifies a consumer; a missing or unknown key gets 401.
package keyauth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"hash"
	"strings"
	"sync"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"google.golang.org/protobuf/proto"

	"github.com/govoy/govoy/filters/http/consumers"
	"github.com/govoy/govoy/filters/plugin"
)

// Name is the plugin name used in chain configs.
const Name = "key_auth"

const (
	defaultHeader = "x-api-key"
	defaultRealm  = "govoy"
	// maxPresentedKey bounds the work spent on a presented key (configured keys are at most 1024).
	maxPresentedKey = 1024
)

func init() { plugin.Register(Plugin{}) }

// Plugin is the key_auth plugin descriptor.
type Plugin struct{}

func (Plugin) Name() string               { return Name }
func (Plugin) Order() int                 { return plugin.OrderAuthn }
func (Plugin) ConfigProto() proto.Message { return &Config{} }
func (Plugin) NewFilter(c any, h plugin.Handle) plugin.Filter {
	return &filter{cfg: c.(*config), h: h}
}

// keyEntry is one configured key: its full index MAC, checked in constant time, and its consumer.
type keyEntry struct {
	mac      [sha256.Size]byte
	consumer *plugin.Consumer
}

// config indexes keys by HMAC-SHA256 under a secret drawn at parse time: the map is keyed by the
// first 8 bytes of the MAC and a hit is confirmed by comparing the full MAC with
// crypto/subtle.ConstantTimeCompare. A lookup costs one HMAC and one map probe whatever the presented
// key and however many consumers there are, and since callers cannot compute the MAC of a guess,
// the timing of the probe tells them nothing about stored keys.
type config struct {
	secret    []byte
	macs      sync.Pool // *macState keyed with secret
	keys      map[uint64][]keyEntry
	header    string
	query     string
	hide      bool
	challenge string

	okC, missingC, rejectedC api.CounterMetric
}

// macState is a reusable HMAC with its buffers, so a lookup does not allocate.
type macState struct {
	h   hash.Hash
	in  []byte
	out []byte
}

func (Plugin) Parse(msg proto.Message, pc plugin.ParseContext) (any, error) {
	c, ok := msg.(*Config)
	if !ok {
		return nil, fmt.Errorf("key_auth: config is %T, want *keyauth.Config", msg)
	}
	return newConfig(c, pc)
}

func newConfig(c *Config, pc plugin.ParseContext) (*config, error) {
	if err := c.ValidateAll(); err != nil {
		return nil, err
	}
	cfg := &config{
		secret: make([]byte, 32),
		keys:   make(map[uint64][]keyEntry),
		header: strings.ToLower(c.GetHeader()),
		query:  c.GetQuery(),
		hide:   c.GetHideCredentials(),
	}
	if cfg.header == "" && cfg.query == "" {
		cfg.header = defaultHeader
	}
	realm := c.GetRealm()
	if realm == "" {
		realm = defaultRealm
	}
	cfg.challenge = consumers.Challenge("Key", realm, "")
	if _, err := rand.Read(cfg.secret); err != nil {
		return nil, fmt.Errorf("key_auth: draw index secret: %w", err)
	}
	cfg.macs.New = func() any { return &macState{h: hmac.New(sha256.New, cfg.secret)} }

	names := make(map[string]int, len(c.GetConsumers()))
	owner := make(map[[sha256.Size]byte]string)
	for i, cons := range c.GetConsumers() {
		if j, dup := names[cons.GetName()]; dup {
			return nil, fmt.Errorf("invalid Config.Consumers[%d].Name: consumer %q is already defined at consumers[%d]", i, cons.GetName(), j)
		}
		names[cons.GetName()] = i
		pcons := &plugin.Consumer{Name: cons.GetName(), Labels: cons.GetLabels()}
		for k, key := range cons.GetKeys() {
			mac := cfg.mac(key)
			if prev, dup := owner[mac]; dup {
				// Name the owner, never the key.
				return nil, fmt.Errorf("invalid Config.Consumers[%d].Keys[%d]: key is already used by consumer %q", i, k, prev)
			}
			owner[mac] = cons.GetName()
			idx := binary.LittleEndian.Uint64(mac[:8])
			cfg.keys[idx] = append(cfg.keys[idx], keyEntry{mac: mac, consumer: pcons})
		}
	}
	cfg.okC = pc.Counter("authenticated")
	cfg.missingC = pc.Counter("missing")
	cfg.rejectedC = pc.Counter("rejected")
	return cfg, nil
}

func (c *config) mac(key string) (out [sha256.Size]byte) {
	st := c.macs.Get().(*macState)
	st.h.Reset()
	st.in = append(st.in[:0], key...)
	st.h.Write(st.in)
	st.out = st.h.Sum(st.out[:0])
	copy(out[:], st.out)
	c.macs.Put(st)
	return out
}

// lookup returns the consumer owning key, or nil.
func (c *config) lookup(key string) *plugin.Consumer {
	mac := c.mac(key)
	var found *plugin.Consumer
	// Entries sharing the 8-byte prefix are all compared (almost always there is one).
	for _, e := range c.keys[binary.LittleEndian.Uint64(mac[:8])] {
		if subtle.ConstantTimeCompare(mac[:], e.mac[:]) == 1 {
			found = e.consumer
		}
	}
	return found
}

type filter struct {
	plugin.PassThroughFilter
	cfg  *config
	h    plugin.Handle
	cons plugin.Consumer
}

// credential finds the key: the header first, then the query parameter.
func (f *filter) credential(headers api.RequestHeaderMap) (string, consumers.Source, bool) {
	if f.cfg.header != "" {
		// One lookup in Envoy's map instead of the SDK's copy of all headers; v is used (and the
		// header possibly hidden) only after the lookup below, within this phase.
		if v := plugin.RequestHeader(f.h, headers, f.cfg.header); v != "" {
			return v, consumers.Source{Header: f.cfg.header}, true
		}
	}
	if f.cfg.query != "" {
		if v, ok := consumers.QueryParam(headers.Path(), f.cfg.query); ok && v != "" {
			return v, consumers.Source{Query: f.cfg.query}, true
		}
	}
	return "", consumers.Source{}, false
}

func (f *filter) DecodeHeaders(headers api.RequestHeaderMap, _ bool) plugin.Result {
	key, src, ok := f.credential(headers)
	if !ok {
		f.cfg.missingC.Increment(1)
		return consumers.Unauthorized(f.cfg.challenge, "missing API key", "govoy.key_auth.missing")
	}
	var cons *plugin.Consumer
	if len(key) <= maxPresentedKey {
		cons = f.cfg.lookup(key)
	}
	if cons == nil {
		f.cfg.rejectedC.Increment(1)
		return consumers.Unauthorized(f.cfg.challenge, "invalid API key", "govoy.key_auth.invalid")
	}
	// The per-request copy (see consumers.Copy) lives in the filter: one allocation less.
	f.cons = *cons
	f.h.SetConsumer(&f.cons)
	if f.cfg.hide {
		src.Hide(headers)
	}
	f.cfg.okC.Increment(1)
	return plugin.Continue
}

// CopiesRequestHeaders (plugin.HeaderCopier): hiding the credential deletes the header, and the
// SDK's Del copies all request headers first.
func (c *config) CopiesRequestHeaders() bool { return c.hide }

var _ plugin.HeaderCopier = (*config)(nil)
