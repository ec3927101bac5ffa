package mockhost_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"github.com/govoy/govoy/filters/mockhost"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// funcFilter is a test filter whose phases are plain functions; nil phases continue.
type funcFilter struct {
	api.PassThroughStreamFilter
	cb             api.FilterCallbackHandler
	decodeHeaders  func(f *funcFilter, h api.RequestHeaderMap, end bool) api.StatusType
	decodeData     func(f *funcFilter, b api.BufferInstance, end bool) api.StatusType
	decodeTrailers func(f *funcFilter, t api.RequestTrailerMap) api.StatusType
	encodeHeaders  func(f *funcFilter, h api.ResponseHeaderMap, end bool) api.StatusType
	encodeData     func(f *funcFilter, b api.BufferInstance, end bool) api.StatusType
	onLog          func(f *funcFilter, rh api.RequestHeaderMap, rt api.RequestTrailerMap, sh api.ResponseHeaderMap, st api.ResponseTrailerMap)
	events         *[]string
}

func (f *funcFilter) record(e string) {
	if f.events != nil {
		*f.events = append(*f.events, e)
	}
}

func (f *funcFilter) DecodeHeaders(h api.RequestHeaderMap, end bool) api.StatusType {
	f.record(fmt.Sprintf("DecodeHeaders(end=%v)", end))
	if f.decodeHeaders != nil {
		return f.decodeHeaders(f, h, end)
	}
	return api.Continue
}

func (f *funcFilter) DecodeData(b api.BufferInstance, end bool) api.StatusType {
	f.record(fmt.Sprintf("DecodeData(%q,end=%v)", b.String(), end))
	if f.decodeData != nil {
		return f.decodeData(f, b, end)
	}
	return api.Continue
}

func (f *funcFilter) DecodeTrailers(t api.RequestTrailerMap) api.StatusType {
	f.record("DecodeTrailers")
	if f.decodeTrailers != nil {
		return f.decodeTrailers(f, t)
	}
	return api.Continue
}

func (f *funcFilter) EncodeHeaders(h api.ResponseHeaderMap, end bool) api.StatusType {
	st, _ := h.Status()
	f.record(fmt.Sprintf("EncodeHeaders(%d,end=%v)", st, end))
	if f.encodeHeaders != nil {
		return f.encodeHeaders(f, h, end)
	}
	return api.Continue
}

func (f *funcFilter) EncodeData(b api.BufferInstance, end bool) api.StatusType {
	f.record(fmt.Sprintf("EncodeData(%q,end=%v)", b.String(), end))
	if f.encodeData != nil {
		return f.encodeData(f, b, end)
	}
	return api.Continue
}

func (f *funcFilter) EncodeTrailers(api.ResponseTrailerMap) api.StatusType {
	f.record("EncodeTrailers")
	return api.Continue
}

func (f *funcFilter) OnLog(rh api.RequestHeaderMap, rt api.RequestTrailerMap, sh api.ResponseHeaderMap, st api.ResponseTrailerMap) {
	f.record("OnLog")
	if f.onLog != nil {
		f.onLog(f, rh, rt, sh, st)
	}
}
func (f *funcFilter) OnStreamComplete()                         { f.record("OnStreamComplete") }
func (f *funcFilter) OnDestroy(r api.DestroyReason)             { f.record(fmt.Sprintf("OnDestroy(%d)", r)) }
func (f *funcFilter) OnLogDownstreamStart(api.RequestHeaderMap) {}

// testParser parses a Struct config and defines a counter, like a real plugin parser.
type testParser struct{}

type testConfig struct {
	counter api.CounterMetric
	fields  map[string]any
}

func (testParser) Parse(a *anypb.Any, cb api.ConfigCallbackHandler) (any, error) {
	var s structpb.Struct
	if err := a.UnmarshalTo(&s); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c := &testConfig{fields: s.AsMap()}
	if v, ok := c.fields["bad"]; ok {
		return nil, fmt.Errorf("bad: %v", v)
	}
	if cb != nil {
		c.counter = cb.DefineCounterMetric("requests")
	}
	return c, nil
}

func (testParser) Merge(parent, child any) any {
	p, c := parent.(*testConfig), child.(*testConfig)
	out := &testConfig{counter: p.counter, fields: map[string]any{}}
	for k, v := range p.fields {
		out.fields[k] = v
	}
	for k, v := range c.fields {
		out.fields[k] = v
	}
	return out
}

// newHost builds a host whose factory applies setup to each new filter.
func newHost(setup func(f *funcFilter), opts ...mockhost.Option) *mockhost.Host {
	factory := func(cfg any, cb api.FilterCallbackHandler) api.StreamFilter {
		f := &funcFilter{cb: cb}
		if c, ok := cfg.(*testConfig); ok && c.counter != nil {
			c.counter.Increment(1)
		}
		setup(f)
		return f
	}
	return mockhost.New(factory, testParser{}, opts...)
}

func echo(r *mockhost.Received) mockhost.Response {
	return mockhost.Response{Status: 200, Headers: map[string][]string{"X-Upstream": {"yes"}}, Body: string(r.Body)}
}

func TestHeaderSemantics(t *testing.T) {
	var seen map[string][]string
	h := newHost(func(f *funcFilter) {
		f.decodeHeaders = func(f *funcFilter, h api.RequestHeaderMap, end bool) api.StatusType {
			if v, ok := h.Get("X-MiXed"); !ok || v != "a" {
				t.Errorf("Get is not case-insensitive: %q %v", v, ok)
			}
			if got := h.Values("x-multi"); !slices.Equal(got, []string{"1", "2"}) {
				t.Errorf("Values = %v", got)
			}
			if h.Method() != "POST" || h.Path() != "/p?q=1" || h.Host() != "svc.local" || h.Scheme() != "https" {
				t.Errorf("pseudo headers: %s %s %s %s", h.Method(), h.Path(), h.Host(), h.Scheme())
			}
			h.Add("X-Multi", "3")
			h.Set("X-New", "n")
			h.Del("x-mixed")
			h.SetPath("/rewritten")
			if _, ok := h.Get("x-mixed"); ok {
				t.Error("Del did not remove the header")
			}
			all := h.GetAllHeaders()
			all["x-new"][0] = "mutated copy"
			seen = h.GetAllHeaders()
			n := 0
			h.Range(func(k, v string) bool { n++; return k != "x-multi" })
			if n == 0 {
				t.Error("Range visited nothing")
			}
			return api.Continue
		}
		f.encodeHeaders = func(f *funcFilter, h api.ResponseHeaderMap, end bool) api.StatusType {
			if st, ok := h.Status(); !ok || st != 201 {
				t.Errorf("Status() = %d %v", st, ok)
			}
			h.Set("X-Resp", "r")
			h.Del("x-upstream")
			return api.Continue
		}
	})
	res := h.Do(t, nil, mockhost.Request{
		Method: "POST", Path: "/p?q=1", Host: "svc.local", Scheme: "https",
		Headers: map[string][]string{"X-Mixed": {"a"}, "x-multi": {"1", "2"}},
	}, func(r *mockhost.Received) mockhost.Response {
		return mockhost.Response{Status: 201, Headers: map[string][]string{"X-Upstream": {"u"}}}
	})
	if seen["x-new"][0] != "n" {
		t.Errorf("GetAllHeaders returned a shared map: %v", seen["x-new"])
	}
	up := res.Upstream
	if up == nil {
		t.Fatal("upstream not called")
	}
	if up.Path != "/rewritten" || up.Headers.Get("x-new") != "n" || up.Headers.Get("x-mixed") != "" ||
		!slices.Equal(up.Headers["x-multi"], []string{"1", "2", "3"}) {
		t.Errorf("upstream got %+v", up.Headers)
	}
	if res.Status != 201 || res.Headers.Get("x-resp") != "r" || res.Headers.Get("x-upstream") != "" {
		t.Errorf("client got %d %v", res.Status, res.Headers)
	}
	if res.ResponseCodeDetails != "via_upstream" {
		t.Errorf("details = %q", res.ResponseCodeDetails)
	}
}

func TestStreamingChunksContinue(t *testing.T) {
	var events []string
	h := newHost(func(f *funcFilter) { f.events = &events })
	res := h.Do(t, nil, mockhost.Request{Method: "POST", Chunks: []string{"a", "b", "c"}}, echo)
	if string(res.Upstream.Body) != "abc" || string(res.Body) != "abc" {
		t.Fatalf("upstream %q client %q", res.Upstream.Body, res.Body)
	}
	want := []string{
		"DecodeHeaders(end=false)", `DecodeData("a",end=false)`, `DecodeData("b",end=false)`, `DecodeData("c",end=true)`,
		"EncodeHeaders(200,end=false)", `EncodeData("abc",end=true)`,
		"OnStreamComplete", "OnLog", "OnDestroy(0)",
	}
	if !slices.Equal(events, want) {
		t.Fatalf("events\n got %q\nwant %q", events, want)
	}
}

func TestStopAndBufferRedeliversWholeBody(t *testing.T) {
	var events []string
	h := newHost(func(f *funcFilter) {
		f.events = &events
		f.decodeHeaders = func(*funcFilter, api.RequestHeaderMap, bool) api.StatusType { return api.StopAndBuffer }
		f.decodeData = func(f *funcFilter, b api.BufferInstance, end bool) api.StatusType {
			b.SetString(strings.ToUpper(b.String()))
			b.AppendString("!")
			b.PrependString(">")
			return api.Continue
		}
		f.encodeHeaders = func(*funcFilter, api.ResponseHeaderMap, bool) api.StatusType { return api.StopAndBuffer }
		f.encodeData = func(f *funcFilter, b api.BufferInstance, end bool) api.StatusType {
			b.Drain(1)
			return api.Continue
		}
	})
	res := h.Do(t, nil, mockhost.Request{Method: "POST", Chunks: []string{"ab", "cd", "ef"}}, func(r *mockhost.Received) mockhost.Response {
		return mockhost.Response{Chunks: []string{"12", "34"}}
	})
	if got := string(res.Upstream.Body); got != ">ABCDEF!" {
		t.Errorf("upstream body = %q", got)
	}
	if got := string(res.Body); got != "234" {
		t.Errorf("client body = %q", got)
	}
	want := []string{"DecodeHeaders(end=false)", `DecodeData("abcdef",end=true)`, "EncodeHeaders(200,end=false)", `EncodeData("1234",end=true)`}
	if !slices.Equal(events[:4], want) {
		t.Errorf("events %q", events)
	}
}

func TestStopAndBufferWithTrailers(t *testing.T) {
	var events []string
	h := newHost(func(f *funcFilter) {
		f.events = &events
		f.decodeHeaders = func(*funcFilter, api.RequestHeaderMap, bool) api.StatusType { return api.StopAndBuffer }
		f.decodeTrailers = func(f *funcFilter, tr api.RequestTrailerMap) api.StatusType {
			tr.Set("x-checked", "1")
			return api.Continue
		}
	})
	res := h.Do(t, nil, mockhost.Request{Method: "POST", Chunks: []string{"a", "b"}, Trailers: map[string][]string{"X-Sum": {"2"}}}, echo)
	want := []string{"DecodeHeaders(end=false)", `DecodeData("ab",end=false)`, "DecodeTrailers"}
	if !slices.Equal(events[:3], want) {
		t.Errorf("events %q", events)
	}
	if res.Upstream.Trailers.Get("x-sum") != "2" || res.Upstream.Trailers.Get("x-checked") != "1" || string(res.Upstream.Body) != "ab" {
		t.Errorf("upstream got body %q trailers %v", res.Upstream.Body, res.Upstream.Trailers)
	}
}

func TestBufferLimit(t *testing.T) {
	var dataCalls int
	h := newHost(func(f *funcFilter) {
		f.decodeHeaders = func(*funcFilter, api.RequestHeaderMap, bool) api.StatusType { return api.StopAndBuffer }
		f.decodeData = func(*funcFilter, api.BufferInstance, bool) api.StatusType { dataCalls++; return api.Continue }
	}, mockhost.WithBufferLimit(4))
	res := h.Do(t, nil, mockhost.Request{Method: "POST", Chunks: []string{"abc", "def", "g"}}, echo)
	if res.Status != 413 || res.Upstream != nil || dataCalls != 0 {
		t.Fatalf("status %d upstream %v data calls %d", res.Status, res.Upstream, dataCalls)
	}
	if res.LocalReply == nil || res.LocalReply.Details != "request_payload_too_large" {
		t.Errorf("local reply %+v", res.LocalReply)
	}
	// At the limit is fine.
	res = h.Do(t, nil, mockhost.Request{Method: "POST", Chunks: []string{"ab", "cd"}}, echo)
	if res.Status != 200 || string(res.Upstream.Body) != "abcd" {
		t.Errorf("status %d body %q", res.Status, res.Upstream.Body)
	}

	// A response over the limit while buffering becomes a 500 straight to the client.
	var encodeDataCalls int
	h = newHost(func(f *funcFilter) {
		f.encodeHeaders = func(*funcFilter, api.ResponseHeaderMap, bool) api.StatusType { return api.StopAndBuffer }
		f.encodeData = func(*funcFilter, api.BufferInstance, bool) api.StatusType { encodeDataCalls++; return api.Continue }
	}, mockhost.WithBufferLimit(4))
	res = h.Do(t, nil, mockhost.Request{}, func(*mockhost.Received) mockhost.Response {
		return mockhost.Response{Chunks: []string{"abc", "def", "ghi"}}
	})
	if res.Status != 500 || res.ResponseCodeDetails != "response_payload_too_large" || string(res.Body) != "Internal Server Error" {
		t.Errorf("status %d details %q body %q", res.Status, res.ResponseCodeDetails, res.Body)
	}
	if encodeDataCalls != 0 {
		t.Errorf("EncodeData called %d times after the limit", encodeDataCalls)
	}
}

func TestAsyncContinueFromGoroutine(t *testing.T) {
	var events []string
	h := newHost(func(f *funcFilter) {
		f.events = &events
		f.decodeHeaders = func(f *funcFilter, h api.RequestHeaderMap, end bool) api.StatusType {
			go func() {
				defer f.cb.DecoderFilterCallbacks().RecoverPanic()
				h.Set("x-async", "done")
				f.cb.DecoderFilterCallbacks().Continue(api.Continue)
			}()
			return api.Running
		}
	})
	res := h.Do(t, nil, mockhost.Request{Method: "POST", Chunks: []string{"a", "b"}}, echo)
	if res.Upstream == nil || res.Upstream.Headers.Get("x-async") != "done" || string(res.Upstream.Body) != "ab" {
		t.Fatalf("upstream %+v", res.Upstream)
	}
	if !slices.Equal(res.Running, []string{"DecodeHeader"}) {
		t.Errorf("running phases %q", res.Running)
	}
	// Data that arrived while Go ran is delivered after Continue, all of it, ending the stream.
	var data []string
	for _, e := range events {
		if strings.HasPrefix(e, "DecodeData") {
			data = append(data, e)
		}
	}
	if len(data) == 0 || !strings.HasSuffix(data[len(data)-1], "end=true)") {
		t.Errorf("decode data events %q", data)
	}
}

func TestRunningWithoutContinueTimesOut(t *testing.T) {
	release := make(chan struct{})
	done := make(chan struct{})
	h := newHost(func(f *funcFilter) {
		f.decodeHeaders = func(f *funcFilter, h api.RequestHeaderMap, end bool) api.StatusType {
			go func() {
				defer close(done)
				defer f.cb.DecoderFilterCallbacks().RecoverPanic()
				<-release
				f.cb.DecoderFilterCallbacks().Continue(api.Continue) // too late: destroyed
			}()
			return api.Running
		}
	}, mockhost.WithAsyncTimeout(50*time.Millisecond))
	res := h.Run(nil, mockhost.Request{}, echo)
	close(release)
	<-done
	if res.Err == nil || !strings.Contains(res.Err.Error(), "ProcessingHeader") {
		t.Fatalf("err = %v", res.Err)
	}
	if res.DestroyReason != api.Terminate || res.Upstream != nil {
		t.Errorf("destroy reason %d upstream %v", res.DestroyReason, res.Upstream)
	}
}

func TestLocalReplySync(t *testing.T) {
	var events []string
	h := newHost(func(f *funcFilter) {
		f.events = &events
		f.decodeHeaders = func(f *funcFilter, h api.RequestHeaderMap, end bool) api.StatusType {
			f.cb.DecoderFilterCallbacks().SendLocalReply(403, "denied", map[string][]string{"X-Reason": {"key"}}, -1, "govoy.test.denied")
			return api.LocalReply
		}
	})
	res := h.Do(t, nil, mockhost.Request{Method: "POST", Body: "payload"}, echo)
	if res.Upstream != nil {
		t.Fatal("upstream reached after local reply")
	}
	if res.Status != 403 || string(res.Body) != "denied" || res.Headers.Get("x-reason") != "key" ||
		res.Headers.Get("content-type") != "text/plain" || res.Headers.Get("content-length") != "6" {
		t.Errorf("client got %d %q %v", res.Status, res.Body, res.Headers)
	}
	if res.LocalReply == nil || res.LocalReply.Details != "govoy.test.denied" || res.ResponseCodeDetails != "govoy.test.denied" {
		t.Errorf("local reply %+v details %q", res.LocalReply, res.ResponseCodeDetails)
	}
	// The local reply runs through this filter's encoder, like Envoy's sendLocalReplyViaFilterChain.
	if !slices.Contains(events, "EncodeHeaders(403,end=false)") || !slices.Contains(events, `EncodeData("denied",end=true)`) {
		t.Errorf("events %q", events)
	}
}

func TestLocalReplyFromGoroutineAndEncodePhase(t *testing.T) {
	h := newHost(func(f *funcFilter) {
		f.decodeHeaders = func(f *funcFilter, h api.RequestHeaderMap, end bool) api.StatusType {
			if h.Path() != "/async" {
				return api.Continue
			}
			go func() {
				defer f.cb.DecoderFilterCallbacks().RecoverPanic()
				f.cb.DecoderFilterCallbacks().SendLocalReply(429, "slow down", nil, -1, "govoy.test.limited")
			}()
			return api.Running
		}
		f.encodeHeaders = func(f *funcFilter, h api.ResponseHeaderMap, end bool) api.StatusType {
			if st, _ := h.Status(); st == 502 {
				f.cb.EncoderFilterCallbacks().SendLocalReply(503, "masked", nil, -1, "govoy.test.masked")
				return api.LocalReply
			}
			return api.Continue
		}
	})
	res := h.Do(t, nil, mockhost.Request{Path: "/async"}, echo)
	if res.Status != 429 || string(res.Body) != "slow down" || res.Upstream != nil {
		t.Errorf("async local reply: %d %q", res.Status, res.Body)
	}
	res = h.Do(t, nil, mockhost.Request{}, func(*mockhost.Received) mockhost.Response { return mockhost.Response{Status: 502, Body: "bad"} })
	if res.Status != 503 || string(res.Body) != "masked" || res.ResponseCodeDetails != "govoy.test.masked" {
		t.Errorf("encode local reply: %d %q %q", res.Status, res.Body, res.ResponseCodeDetails)
	}
}

func TestPanicsBecome500(t *testing.T) {
	h := newHost(func(f *funcFilter) {
		f.decodeHeaders = func(f *funcFilter, h api.RequestHeaderMap, end bool) api.StatusType {
			switch h.Path() {
			case "/sync":
				panic("boom sync")
			case "/async":
				go func() {
					defer f.cb.DecoderFilterCallbacks().RecoverPanic()
					panic("boom async")
				}()
				return api.Running
			}
			return api.Continue
		}
	})
	for _, path := range []string{"/sync", "/async"} {
		res := h.Do(t, nil, mockhost.Request{Path: path}, echo)
		if res.Status != 500 || string(res.Body) != "error happened in filter\r\n" || res.Upstream != nil {
			t.Errorf("%s: %d %q", path, res.Status, res.Body)
		}
		if len(res.Panics) != 1 || !strings.Contains(res.Panics[0], "boom") || !res.Logged("panic serving") {
			t.Errorf("%s: panics %q", path, res.Panics)
		}
	}
	if h.PanicErrors() != 2 {
		t.Errorf("panic_error = %d", h.PanicErrors())
	}
}

func TestUseAfterContinueIsRejected(t *testing.T) {
	recovered := make(chan struct{})
	h := newHost(func(f *funcFilter) {
		f.decodeHeaders = func(f *funcFilter, h api.RequestHeaderMap, end bool) api.StatusType {
			go func() {
				defer close(recovered)
				defer f.cb.DecoderFilterCallbacks().RecoverPanic()
				f.cb.DecoderFilterCallbacks().Continue(api.Continue)
				h.Set("x-late", "1") // the phase has ended: Envoy answers CAPINotInGo
			}()
			return api.Running
		}
	})
	res := h.Do(t, nil, mockhost.Request{}, func(r *mockhost.Received) mockhost.Response {
		<-recovered
		return mockhost.Response{}
	})
	if len(res.Panics) != 1 || !strings.Contains(res.Panics[0], "CAPINotInGo") {
		t.Fatalf("panics %q", res.Panics)
	}
	// Like the SDK, the reply for it is sent on the next entry into Go.
	if res.Status != 500 || res.Upstream.Headers.Get("x-late") != "" {
		t.Errorf("status %d upstream %v", res.Status, res.Upstream.Headers)
	}
	if !errors.Is(mockhost.ErrNotInGo, mockhost.ErrNotInGo) {
		t.Fatal("unreachable")
	}
}

func TestStopAndBufferWithoutBodyIsAPanic(t *testing.T) {
	h := newHost(func(f *funcFilter) {
		f.decodeHeaders = func(*funcFilter, api.RequestHeaderMap, bool) api.StatusType { return api.StopAndBuffer }
	})
	res := h.Do(t, nil, mockhost.Request{}, echo)
	if res.Status != 500 || len(res.Panics) != 1 || !strings.Contains(res.Panics[0], "no data") {
		t.Errorf("status %d panics %q", res.Status, res.Panics)
	}
}

func TestStreamInfoPropertiesMetadataRoute(t *testing.T) {
	h := newHost(func(f *funcFilter) {
		f.decodeHeaders = func(f *funcFilter, h api.RequestHeaderMap, end bool) api.StatusType {
			si := f.cb.StreamInfo()
			if si.GetRouteName() != "default" {
				t.Errorf("route before = %q", si.GetRouteName())
			}
			if p, _ := si.Protocol(); p != "HTTP/2.0" || si.DownstreamRemoteAddress() != "127.0.0.9:1234" || si.WorkerID() != 3 {
				t.Errorf("stream info %s %s %d", p, si.DownstreamRemoteAddress(), si.WorkerID())
			}
			if v, err := f.cb.GetProperty("request.path"); err != nil || v != "/a?x=1" {
				t.Errorf("request.path %q %v", v, err)
			}
			if v, err := f.cb.GetProperty("request.url_path"); err != nil || v != "/a" {
				t.Errorf("request.url_path %q %v", v, err)
			}
			if v, err := f.cb.GetProperty("source.address"); err != nil || v != "127.0.0.9:1234" {
				t.Errorf("source.address %q %v", v, err)
			}
			if _, err := f.cb.GetProperty("request.headers"); !errors.Is(err, api.ErrSerializationFailure) {
				t.Errorf("request.headers err %v", err)
			}
			if _, err := f.cb.GetProperty("no.such"); !errors.Is(err, api.ErrValueNotFound) {
				t.Errorf("no.such err %v", err)
			}
			si.DynamicMetadata().Set("govoy", "n", 3)
			si.FilterState().SetString("k", "v", api.StateTypeReadOnly, api.LifeSpanRequest, api.None)
			h.Set("x-version", "v2")
			f.cb.ClearRouteCache()
			if si.GetRouteName() != "canary" {
				t.Errorf("route after clear = %q", si.GetRouteName())
			}
			if err := f.cb.DecoderFilterCallbacks().SetUpstreamOverrideHost("not-an-ip", false); !errors.Is(err, api.ErrInvalidIPAddress) {
				t.Errorf("override host err %v", err)
			}
			if err := f.cb.DecoderFilterCallbacks().SetUpstreamOverrideHost("127.0.0.2:20880", true); err != nil {
				t.Errorf("override host err %v", err)
			}
			if s, ok := f.cb.SecretManager().GetGenericSecret("token"); !ok || s != "s3cret" {
				t.Errorf("secret %q %v", s, ok)
			}
			f.cb.Log(api.Info, "hello")
			f.cb.Log(api.Debug, "not captured")
			return api.Continue
		}
	}, mockhost.WithSecrets(map[string]string{"token": "s3cret"}))
	res := h.Do(t, nil, mockhost.Request{
		Path: "/a?x=1", Protocol: "HTTP/2.0", RemoteAddr: "127.0.0.9:1234", WorkerID: 3,
		Route: func(h mockhost.Header) string {
			if h.Get("x-version") == "v2" {
				return "canary"
			}
			return "default"
		},
	}, echo)
	if res.RouteName != "canary" || res.Upstream.RouteName != "canary" || res.RouteCacheClears != 1 {
		t.Errorf("route %q/%q clears %d", res.RouteName, res.Upstream.RouteName, res.RouteCacheClears)
	}
	if res.DynamicMetadata["govoy"]["n"] != float64(3) || res.FilterState["k"] != "v" {
		t.Errorf("metadata %v state %v", res.DynamicMetadata, res.FilterState)
	}
	if res.Upstream.OverrideHost != "127.0.0.2:20880" || !res.Upstream.StrictOverride {
		t.Errorf("override %q %v", res.Upstream.OverrideHost, res.Upstream.StrictOverride)
	}
	if !res.Logged("hello") || res.Logged("not captured") {
		t.Errorf("logs %v", res.Logs)
	}
}

func TestOnLogSeesFinalMaps(t *testing.T) {
	var status int
	var reqHeader string
	h := newHost(func(f *funcFilter) {
		f.onLog = func(f *funcFilter, rh api.RequestHeaderMap, rt api.RequestTrailerMap, sh api.ResponseHeaderMap, st api.ResponseTrailerMap) {
			reqHeader, _ = rh.Get("x-in")
			status, _ = sh.Status()
			if rt != nil || st != nil {
				t.Errorf("trailers should be nil: %v %v", rt, st)
			}
		}
	})
	h.Do(t, nil, mockhost.Request{Headers: map[string][]string{"x-in": {"1"}}}, func(*mockhost.Received) mockhost.Response {
		return mockhost.Response{Status: 204}
	})
	if status != 204 || reqHeader != "1" {
		t.Errorf("OnLog saw %d %q", status, reqHeader)
	}
}

func TestConfigParseMergeAndCounters(t *testing.T) {
	h := newHost(func(*funcFilter) {})
	cfgMsg, _ := structpb.NewStruct(map[string]any{"a": "filter", "b": "filter"})
	cfg, err := h.ParseFilterConfig(cfgMsg)
	if err != nil {
		t.Fatal(err)
	}
	routeMsg, _ := structpb.NewStruct(map[string]any{"b": "route"})
	rcfg, err := h.ParseRouteConfig(routeMsg)
	if err != nil {
		t.Fatal(err)
	}
	if rcfg.(*testConfig).counter != nil {
		t.Error("route config got metric callbacks; Envoy passes nil")
	}
	merged := h.Merge(cfg, rcfg).(*testConfig)
	if merged.fields["a"] != "filter" || merged.fields["b"] != "route" {
		t.Errorf("merged %v", merged.fields)
	}
	badMsg, _ := structpb.NewStruct(map[string]any{"bad": "x"})
	if _, err := h.ParseFilterConfig(badMsg); err == nil || !strings.Contains(err.Error(), "bad") {
		t.Errorf("bad config err %v", err)
	}

	// Many requests in parallel, half of them async.
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := h.Do(t, merged, mockhost.Request{Path: fmt.Sprintf("/%d", i), Body: "x"}, echo)
			if res.Status != 200 || string(res.Body) != "x" {
				t.Errorf("request %d: %d %q", i, res.Status, res.Body)
			}
		}()
	}
	wg.Wait()
	if got := h.Counter("requests"); got != n {
		t.Errorf("requests counter = %d, want %d", got, n)
	}
	if h.Counters()["requests"] != n {
		t.Errorf("Counters() = %v", h.Counters())
	}
}

func TestConcurrentAsync(t *testing.T) {
	h := newHost(func(f *funcFilter) {
		f.decodeHeaders = func(f *funcFilter, h api.RequestHeaderMap, end bool) api.StatusType {
			go func() {
				defer f.cb.DecoderFilterCallbacks().RecoverPanic()
				h.Set("x-id", h.Path())
				f.cb.DecoderFilterCallbacks().Continue(api.Continue)
			}()
			return api.Running
		}
		f.encodeHeaders = func(f *funcFilter, h api.ResponseHeaderMap, end bool) api.StatusType {
			go func() {
				defer f.cb.EncoderFilterCallbacks().RecoverPanic()
				h.Set("x-enc", "1")
				f.cb.EncoderFilterCallbacks().Continue(api.Continue)
			}()
			return api.Running
		}
	})
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := fmt.Sprintf("/r%d", i)
			res := h.Do(t, nil, mockhost.Request{Path: path, Chunks: []string{"1", "2"}}, func(r *mockhost.Received) mockhost.Response {
				return mockhost.Response{Headers: map[string][]string{"x-id": {r.Headers.Get("x-id")}}, Body: string(r.Body)}
			})
			if res.Headers.Get("x-id") != path || res.Headers.Get("x-enc") != "1" || string(res.Body) != "12" {
				t.Errorf("%s: %v %q", path, res.Headers, res.Body)
			}
		}()
	}
	wg.Wait()
}

func TestAddDataTurnsHeadersOnlyIntoBody(t *testing.T) {
	h := newHost(func(f *funcFilter) {
		f.decodeHeaders = func(f *funcFilter, h api.RequestHeaderMap, end bool) api.StatusType {
			f.cb.DecoderFilterCallbacks().AddData([]byte("added"), false)
			return api.Continue
		}
	})
	res := h.Do(t, nil, mockhost.Request{}, echo)
	if string(res.Upstream.Body) != "added" {
		t.Errorf("upstream body %q", res.Upstream.Body)
	}
}

func TestUnexpectedStatusIsReported(t *testing.T) {
	h := newHost(func(f *funcFilter) {
		f.decodeTrailers = func(*funcFilter, api.RequestTrailerMap) api.StatusType { return api.StopAndBuffer }
	}, mockhost.WithAsyncTimeout(50*time.Millisecond))
	res := h.Run(nil, mockhost.Request{Method: "POST", Body: "b", Trailers: map[string][]string{"t": {"1"}}}, echo)
	if res.Err == nil || !strings.Contains(res.Err.Error(), "unexpected status StopAndBuffer") {
		t.Errorf("err = %v", res.Err)
	}
}

func TestFreeStandingMaps(t *testing.T) {
	h := mockhost.NewRequestHeaders(map[string][]string{"X-A": {"1"}, ":path": {"/x"}})
	h.Add("x-a", "2")
	if got := h.Values("X-a"); !slices.Equal(got, []string{"1", "2"}) || h.Path() != "/x" {
		t.Errorf("values %v path %q", got, h.Path())
	}
	r := mockhost.NewResponseHeaders(map[string][]string{":status": {"404"}})
	if st, ok := r.Status(); !ok || st != 404 {
		t.Errorf("status %d", st)
	}
	b := mockhost.NewBuffer([]byte("abc"))
	b.WriteUint16(7)
	b.Drain(1)
	if b.String() != "bc7" || b.Len() != 3 {
		t.Errorf("buffer %q", b.String())
	}
	b.Reset()
	if b.Bytes() != nil || b.Len() != 0 {
		t.Errorf("reset buffer %q", b.Bytes())
	}
}

func TestGrpcAndHeadLocalReplies(t *testing.T) {
	h := newHost(func(f *funcFilter) {
		f.decodeHeaders = func(f *funcFilter, h api.RequestHeaderMap, end bool) api.StatusType {
			f.cb.DecoderFilterCallbacks().SendLocalReply(429, "too many 100%", map[string][]string{"x-empty": {""}, "x-set": {"1"}}, 14, "limited")
			return api.LocalReply
		}
	})
	res := h.Do(t, nil, mockhost.Request{Method: "POST", Headers: map[string][]string{"content-type": {"application/grpc"}}, Body: "msg"}, echo)
	if res.Status != 200 || res.Headers.Get("grpc-status") != "14" || res.Headers.Get("grpc-message") != "too many 100%25" ||
		res.Headers.Get("content-type") != "application/grpc" || len(res.Body) != 0 {
		t.Errorf("grpc local reply: %d %v %q", res.Status, res.Headers, res.Body)
	}
	if _, ok := res.Headers["x-empty"]; ok || res.Headers.Get("x-set") != "1" {
		t.Errorf("headers with empty values must be skipped: %v", res.Headers)
	}
	res = h.Do(t, nil, mockhost.Request{Method: "HEAD"}, echo)
	if res.Status != 429 || len(res.Body) != 0 || res.Headers.Get("content-length") != "13" {
		t.Errorf("HEAD local reply: %d %v %q", res.Status, res.Headers, res.Body)
	}
}

// Envoy's quirk, kept on purpose: StopAndBuffer returned from DecodeData holds that chunk, and the
// end-of-stream call only carries the data that arrived after it; all of it goes upstream in order.
func TestStopAndBufferFromDataPhase(t *testing.T) {
	var events []string
	h := newHost(func(f *funcFilter) {
		f.events = &events
		f.decodeData = func(f *funcFilter, b api.BufferInstance, end bool) api.StatusType {
			if end {
				return api.Continue
			}
			return api.StopAndBuffer
		}
	})
	res := h.Do(t, nil, mockhost.Request{Method: "POST", Chunks: []string{"a", "b", "c"}}, echo)
	want := []string{"DecodeHeaders(end=false)", `DecodeData("a",end=false)`, `DecodeData("bc",end=true)`}
	if !slices.Equal(events[:3], want) {
		t.Errorf("events %q", events)
	}
	if string(res.Upstream.Body) != "abc" {
		t.Errorf("upstream body %q", res.Upstream.Body)
	}
}

func TestAsyncDataPhaseAndInjectData(t *testing.T) {
	h := newHost(func(f *funcFilter) {
		f.decodeData = func(f *funcFilter, b api.BufferInstance, end bool) api.StatusType {
			go func() {
				defer f.cb.DecoderFilterCallbacks().RecoverPanic()
				b.SetString("[" + b.String() + "]")
				f.cb.DecoderFilterCallbacks().InjectData([]byte("+"))
				f.cb.DecoderFilterCallbacks().Continue(api.Continue)
			}()
			return api.Running
		}
		f.encodeHeaders = func(f *funcFilter, h api.ResponseHeaderMap, end bool) api.StatusType {
			go func() {
				defer f.cb.EncoderFilterCallbacks().RecoverPanic()
				h.Set("x-async-encode", "1")
				f.cb.EncoderFilterCallbacks().Continue(api.Continue)
			}()
			return api.Running
		}
	})
	res := h.Do(t, nil, mockhost.Request{Method: "POST", Body: "x", Trailers: map[string][]string{"t": {"1"}}}, func(r *mockhost.Received) mockhost.Response {
		return mockhost.Response{Body: string(r.Body), Trailers: map[string][]string{"grpc-status": {"0"}}}
	})
	if got := string(res.Upstream.Body); got != "+[x]" && got != "[x]+" {
		t.Errorf("upstream body %q", got)
	}
	if res.Upstream.Trailers.Get("t") != "1" || res.Trailers.Get("grpc-status") != "0" || res.Headers.Get("x-async-encode") != "1" {
		t.Errorf("trailers %v / %v headers %v", res.Upstream.Trailers, res.Trailers, res.Headers)
	}
}

func TestInjectDataOnWorkerIsRejected(t *testing.T) {
	h := newHost(func(f *funcFilter) {
		f.decodeData = func(f *funcFilter, b api.BufferInstance, end bool) api.StatusType {
			f.cb.DecoderFilterCallbacks().InjectData([]byte("x"))
			return api.Continue
		}
	})
	res := h.Do(t, nil, mockhost.Request{Method: "POST", Body: "b"}, echo)
	if res.Status != 500 || len(res.Panics) != 1 || !strings.Contains(res.Panics[0], "CAPIInvalidScene") {
		t.Errorf("status %d panics %q", res.Status, res.Panics)
	}
}
