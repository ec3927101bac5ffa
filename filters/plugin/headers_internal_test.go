package plugin

import (
	"sync"
	"testing"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"google.golang.org/protobuf/proto"
)

// spyHeaders counts how RequestHeader reads: GetRaw (one key from Envoy) or Get (the SDK's copy of
// all headers).
type spyHeaders struct {
	api.RequestHeaderMap
	mu         sync.Mutex
	v          map[string]string
	gets, raws int
}

func (s *spyHeaders) Get(k string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gets++
	v, ok := s.v[k]
	return v, ok
}

func (s *spyHeaders) GetRaw(k string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.raws++
	return s.v[k]
}

func (s *spyHeaders) counts() (gets, raws int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gets, s.raws
}

// readerPlugin reads x-k with RequestHeader in DecodeHeaders and OnLog.
type readerPlugin struct {
	mu   sync.Mutex
	seen []string
}

func (p *readerPlugin) Name() string                                   { return "reader" }
func (p *readerPlugin) Order() int                                     { return OrderInner }
func (p *readerPlugin) ConfigProto() proto.Message                     { return nil }
func (p *readerPlugin) Parse(proto.Message, ParseContext) (any, error) { return nil, nil }
func (p *readerPlugin) NewFilter(_ any, h Handle) Filter               { return &readerFilter{p: p, h: h} }

func (p *readerPlugin) add(v string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen = append(p.seen, v)
}

type readerFilter struct {
	PassThroughFilter
	p *readerPlugin
	h Handle
}

func (f *readerFilter) DecodeHeaders(h api.RequestHeaderMap, _ bool) Result {
	f.p.add(RequestHeader(f.h, h, "x-k"))
	return Continue
}

func (f *readerFilter) OnLog(h api.RequestHeaderMap, _ api.RequestTrailerMap, _ api.ResponseHeaderMap, _ api.ResponseTrailerMap) {
	f.p.add(RequestHeader(f.h, h, "x-k"))
}

// continueCallbacks signals the async phase's Continue.
type continueCallbacks struct {
	api.FilterCallbackHandler
	done chan api.StatusType
}

type continueDecoder struct {
	api.DecoderFilterCallbacks
	done chan api.StatusType
}

func (c *continueCallbacks) DecoderFilterCallbacks() api.DecoderFilterCallbacks {
	return continueDecoder{done: c.done}
}
func (d continueDecoder) Continue(st api.StatusType) { d.done <- st }

func readerChain(p *readerPlugin, async Phase) *ChainConfig {
	c := &ChainConfig{entries: []*entry{{name: "reader", plugin: p, async: async}}}
	c.prepare()
	return c
}

func TestRequestHeaderReadsOneKeyOnTheWorker(t *testing.T) {
	p := &readerPlugin{}
	f := newChainFilter(readerChain(p, 0), nil).(*chainFilter)
	h := &spyHeaders{v: map[string]string{"x-k": "v1"}}
	if st := f.DecodeHeaders(h, true); st != api.Continue {
		t.Fatalf("DecodeHeaders: %v", st)
	}
	if gets, raws := h.counts(); gets != 0 || raws != 1 {
		t.Errorf("DecodeHeaders on the worker: %d Get, %d GetRaw; want 0, 1", gets, raws)
	}
	// After the phase (here: access log), Envoy's request map is no longer readable from Go.
	f.OnLog(h, nil, nil, nil)
	if gets, raws := h.counts(); gets != 1 || raws != 1 {
		t.Errorf("after OnLog: %d Get, %d GetRaw; want 1, 1", gets, raws)
	}
	if len(p.seen) != 2 || p.seen[0] != "v1" || p.seen[1] != "v1" {
		t.Errorf("values read: %q", p.seen)
	}
}

func TestRequestHeaderOnAGoroutineUsesGet(t *testing.T) {
	p := &readerPlugin{}
	cb := &continueCallbacks{done: make(chan api.StatusType, 1)}
	f := newChainFilter(readerChain(p, PhaseDecodeHeaders), cb).(*chainFilter)
	h := &spyHeaders{v: map[string]string{"x-k": "v2"}}
	if st := f.DecodeHeaders(h, true); st != api.Running {
		t.Fatalf("DecodeHeaders: %v, want Running", st)
	}
	if st := <-cb.done; st != api.Continue {
		t.Fatalf("posted %v", st)
	}
	if gets, raws := h.counts(); gets != 1 || raws != 0 {
		t.Errorf("async DecodeHeaders: %d Get, %d GetRaw; want 1, 0", gets, raws)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.seen) != 1 || p.seen[0] != "v2" {
		t.Errorf("values read: %q", p.seen)
	}
}

func TestRequestHeaderWithAnotherHandleUsesGet(t *testing.T) {
	h := &spyHeaders{v: map[string]string{"x-k": "v3"}}
	if v := RequestHeader(nil, h, "x-k"); v != "v3" {
		t.Errorf("got %q", v)
	}
	if gets, raws := h.counts(); gets != 1 || raws != 0 {
		t.Errorf("%d Get, %d GetRaw; want 1, 0", gets, raws)
	}
}

type copierConfig struct{ copies bool }

func (c copierConfig) CopiesRequestHeaders() bool { return c.copies }

func TestRequestHeaderReadsTheCopyWhenAPluginCopies(t *testing.T) {
	for _, copies := range []bool{false, true} {
		p := &readerPlugin{}
		cfg := &ChainConfig{entries: []*entry{
			{name: "copier", plugin: &readerPlugin{}, config: copierConfig{copies}},
			{name: "reader", plugin: p},
		}}
		cfg.prepare()
		f := newChainFilter(cfg, nil).(*chainFilter)
		h := &spyHeaders{v: map[string]string{"x-k": "v4"}}
		if st := f.DecodeHeaders(h, true); st != api.Continue {
			t.Fatalf("DecodeHeaders: %v", st)
		}
		// Both plugins read x-k once.
		wantGets, wantRaws := 0, 2
		if copies {
			wantGets, wantRaws = 2, 0
		}
		if gets, raws := h.counts(); gets != wantGets || raws != wantRaws {
			t.Errorf("copies=%v: %d Get, %d GetRaw; want %d, %d", copies, gets, raws, wantGets, wantRaws)
		}
	}
}
