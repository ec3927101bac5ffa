// Command testfilter is a golang HTTP filter built with Envoy's Go SDK alone, used to test the ABI
// host before and besides govoy.so. The request header x-mode picks what the filter does, so one
// .so covers sync and async paths, local replies, panics, buffering, trailers and the C API reads
// that yield from goroutines.
package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	xds "github.com/cncf/xds/go/xds/type/v3"
	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"github.com/envoyproxy/envoy/contrib/golang/filters/http/source/go/pkg/http"
	csapi "github.com/envoyproxy/envoy/contrib/golang/router/cluster_specifier/source/go/pkg/api"
	"github.com/envoyproxy/envoy/contrib/golang/router/cluster_specifier/source/go/pkg/cluster_specifier"
	tcpbridge "github.com/envoyproxy/envoy/contrib/golang/upstreams/http/tcp/source/go/pkg/upstreams/http/tcp"
	"google.golang.org/protobuf/types/known/anypb"
)

// Name is the plugin_name the host passes (--plugin-name).
const Name = "abitest"

func init() {
	http.RegisterHttpFilterFactoryAndConfigParser(Name, newFilter, &parser{})
	cluster_specifier.RegisterClusterSpecifierConfigFactory(func(*anypb.Any) csapi.ClusterSpecifier {
		return clusterByHeader{}
	})
	tcpbridge.RegisterHttpTcpBridgeFactoryAndConfigParser("abibridge", newBridge, bridgeParser{})
}

// The HTTP-TCP bridge: the request becomes a line protocol ("REQ <method> <path>\n", then
// "BODY <body>\n"); the upstream's reply, complete at its newline, becomes the upper-cased body.
type bridgeParser struct{}

func (bridgeParser) Parse(*anypb.Any) (interface{}, error) { return nil, nil }

type bridge struct {
	api.PassThroughHttpTcpBridge
	cb api.HttpTcpBridgeCallbackHandler
}

func newBridge(_ interface{}, cb api.HttpTcpBridgeCallbackHandler) api.HttpTcpBridge {
	return &bridge{cb: cb}
}

func (b *bridge) EncodeHeaders(h api.RequestHeaderMap, buf api.BufferInstance, end bool) api.HttpTcpBridgeStatus {
	if h.Path() == "/bridge/direct" {
		buf.SetString("answered by the bridge")
		return api.HttpTcpBridgeEndStream
	}
	buf.SetString(fmt.Sprintf("REQ %s %s route=%s\n", h.Method(), h.Path(), b.cb.GetRouteName()))
	return api.HttpTcpBridgeContinue
}

func (b *bridge) EncodeData(buf api.BufferInstance, end bool) api.HttpTcpBridgeStatus {
	buf.SetString("BODY " + buf.String() + "\n")
	return api.HttpTcpBridgeContinue
}

func (b *bridge) OnUpstreamData(rh api.ResponseHeaderMap, buf api.BufferInstance, end bool) api.HttpTcpBridgeStatus {
	s := buf.String()
	if !strings.HasSuffix(s, "\n") && !end {
		return api.HttpTcpBridgeStopAndBuffer
	}
	rh.Set("x-bridge", "1")
	buf.SetString(strings.ToUpper(s))
	return api.HttpTcpBridgeEndStream
}

// clusterByHeader is a golang cluster specifier: the x-cluster header names the cluster; no
// header means the default cluster; x-cluster-panic makes it panic (Envoy then uses the default).
type clusterByHeader struct{}

func (clusterByHeader) Cluster(h csapi.RequestHeaderMap) string {
	if _, ok := h.Get("x-cluster-panic"); ok {
		panic("abitest cluster specifier panic")
	}
	if _, ok := h.Get("x-cluster-all"); ok {
		all := h.GetAllHeaders()
		return all["x-cluster-all"][0] + all[":method"][0]
	}
	v, _ := h.Get("x-cluster")
	return v
}

func main() {}

type config struct {
	tag      string
	requests api.CounterMetric
	logs     api.CounterMetric
	destroys api.CounterMetric
	inflight api.GaugeMetric
}

type parser struct{}

// Parse reads a TypedStruct whose value has a string field "tag". tag "invalid" is rejected.
func (p *parser) Parse(a *anypb.Any, cb api.ConfigCallbackHandler) (interface{}, error) {
	ts := &xds.TypedStruct{}
	if err := a.UnmarshalTo(ts); err != nil {
		return nil, fmt.Errorf("abitest config: want xds.type.v3.TypedStruct: %w", err)
	}
	tag := ts.GetValue().GetFields()["tag"].GetStringValue()
	if tag == "invalid" {
		return nil, errors.New("abitest config: tag: must not be \"invalid\"")
	}
	c := &config{tag: tag}
	if cb != nil { // nil for route-level configs
		c.requests = cb.DefineCounterMetric("abitest_requests")
		c.logs = cb.DefineCounterMetric("abitest_logs")
		c.destroys = cb.DefineCounterMetric("abitest_destroys")
		c.inflight = cb.DefineGaugeMetric("abitest_inflight")
	}
	return c, nil
}

// Merge: the route's tag wins, metrics come from the filter-level config.
func (p *parser) Merge(parent, child interface{}) interface{} {
	pc, cc := parent.(*config), child.(*config)
	m := *pc
	if cc.tag != "" {
		m.tag = cc.tag
	}
	return &m
}

type filter struct {
	api.PassThroughStreamFilter
	cb   api.FilterCallbackHandler
	cfg  *config
	mode string
	note []string // what goroutine reads saw, returned as x-note on the response
	// dropped counts bytes discarded with StopNoBuffer
	dropped int
}

func newFilter(c interface{}, cb api.FilterCallbackHandler) api.StreamFilter {
	return &filter{cb: cb, cfg: c.(*config)}
}

func (f *filter) decodeCallbacks() api.DecoderFilterCallbacks { return f.cb.DecoderFilterCallbacks() }

func (f *filter) DecodeHeaders(h api.RequestHeaderMap, end bool) api.StatusType {
	f.mode = h.GetRaw("x-mode")
	f.cfg.requests.Increment(1)
	f.cfg.inflight.Increment(1)
	api.LogInfof("abitest decode %s mode=%q worker=%d", h.Path(), f.mode, f.cb.StreamInfo().WorkerID())
	h.Set("x-abitest-tag", f.cfg.tag)
	switch f.mode {
	case "local-reply":
		f.decodeCallbacks().SendLocalReply(403, "denied by go", map[string][]string{"x-reason": {"test"}}, 0, "abitest_denied")
		return api.LocalReply
	case "panic":
		panic("abitest panic on the worker")
	case "async":
		go func() {
			defer f.decodeCallbacks().RecoverPanic()
			h.Set("x-async", "yes:"+h.Path())
			f.decodeCallbacks().Continue(api.Continue)
		}()
		return api.Running
	case "async-slow":
		// Continues late; the test's client gives up first, so Continue meets a destroyed filter.
		go func() {
			defer f.decodeCallbacks().RecoverPanic()
			time.Sleep(500 * time.Millisecond)
			f.decodeCallbacks().Continue(api.Continue)
		}()
		return api.Running
	case "async-local-reply":
		go func() {
			defer f.decodeCallbacks().RecoverPanic()
			f.decodeCallbacks().SendLocalReply(429, "slow down", nil, 0, "abitest_async")
		}()
		return api.Running
	case "goroutine-panic":
		go func() {
			defer f.decodeCallbacks().RecoverPanic()
			panic("abitest panic in a goroutine")
		}()
		return api.Running
	case "reads":
		// Reads from a goroutine go through CAPIYield + envoyGoRequestSemaDec.
		go func() {
			defer f.decodeCallbacks().RecoverPanic()
			fs := f.cb.StreamInfo().FilterState()
			fs.SetString("abitest.key", "fs-value", api.StateTypeReadOnly, api.LifeSpanRequest, api.SharedWithUpstreamConnection)
			f.cb.StreamInfo().DynamicMetadata().Set("abitest", "k", "md-value")
			path, err := f.cb.GetProperty("request.path")
			f.note = append(f.note, "fs="+fs.GetString("abitest.key"), fmt.Sprintf("prop=%s/%v", path, err))
			md := f.cb.StreamInfo().DynamicMetadata().Get("abitest")
			f.note = append(f.note, fmt.Sprintf("md=%v", md["k"]), "route="+f.cb.StreamInfo().GetRouteName())
			f.decodeCallbacks().Continue(api.Continue)
		}()
		return api.Running
	case "adddata-headers":
		// addDecodedData while decoding headers: the body reaches the upstream.
		f.decodeCallbacks().AddData([]byte("added"), false)
	case "adddata-in-data":
		if end {
			return api.Continue
		}
		return api.StopAndBuffer
	case "override":
		v := h.GetRaw("x-override")
		if err := f.decodeCallbacks().SetUpstreamOverrideHost(v, h.GetRaw("x-strict") == "1"); err != nil {
			f.note = append(f.note, "override="+err.Error())
		}
	case "reroute":
		// The route was resolved before this filter; a new header plus a refresh re-runs the
		// cluster specifier now.
		h.Set("x-cluster", "canary")
		f.cb.RefreshRouteCache()
	case "reroute-async":
		go func() {
			defer f.decodeCallbacks().RecoverPanic()
			h.Set("x-cluster", "canary")
			f.cb.ClearRouteCache()
			f.decodeCallbacks().Continue(api.Continue)
		}()
		return api.Running
	case "buffer", "buffer-async":
		if end {
			return api.Continue
		}
		return api.StopAndBuffer
	case "watermark":
		if end {
			return api.Continue
		}
		return api.StopAndBufferWatermark
	}
	return api.Continue
}

func (f *filter) DecodeData(b api.BufferInstance, end bool) api.StatusType {
	switch f.mode {
	case "buffer":
		if !end {
			return api.StopAndBuffer
		}
		n := b.Len()
		b.AppendString("+go")
		f.note = append(f.note, fmt.Sprintf("decoded=%d", n))
	case "buffer-async":
		if !end {
			return api.StopAndBuffer
		}
		go func() {
			defer f.decodeCallbacks().RecoverPanic()
			b.SetString(strings.ToUpper(b.String()))
			f.decodeCallbacks().Continue(api.Continue)
		}()
		return api.Running
	case "adddata-in-data":
		// Envoy refuses addData while processing data (CAPIInvalidPhase): the SDK panics, and
		// the panic becomes a 500.
		if end {
			f.decodeCallbacks().AddData([]byte("late"), false)
		}
		return api.StopAndBuffer
	case "drop-data":
		if !end {
			f.dropped += b.Len()
			return api.StopNoBuffer
		}
		f.note = append(f.note, fmt.Sprintf("dropped=%d", f.dropped))
	}
	return api.Continue
}

func (f *filter) DecodeTrailers(t api.RequestTrailerMap) api.StatusType {
	if v, ok := t.Get("x-trailer"); ok {
		t.Set("x-trailer", v+"+go")
	}
	return api.Continue
}

func (f *filter) EncodeHeaders(h api.ResponseHeaderMap, end bool) api.StatusType {
	h.Set("x-abitest-encoded", "1")
	h.Set("x-abitest-tag", f.cfg.tag)
	if len(f.note) > 0 {
		h.Set("x-note", strings.Join(f.note, ";"))
	}
	switch f.mode {
	case "resp-buffer":
		if end {
			return api.Continue
		}
		h.Del("content-length")
		return api.StopAndBuffer
	case "resp-local-reply":
		f.cb.EncoderFilterCallbacks().SendLocalReply(502, "replaced by go", nil, 0, "abitest_encode")
		return api.LocalReply
	case "resp-async":
		go func() {
			defer f.cb.EncoderFilterCallbacks().RecoverPanic()
			h.Set("x-resp-async", "yes")
			f.cb.EncoderFilterCallbacks().Continue(api.Continue)
		}()
		return api.Running
	}
	return api.Continue
}

func (f *filter) EncodeData(b api.BufferInstance, end bool) api.StatusType {
	if f.mode == "resp-buffer" {
		if !end {
			return api.StopAndBuffer
		}
		b.SetString(strings.ToUpper(b.String()))
	}
	return api.Continue
}

func (f *filter) OnLog(req api.RequestHeaderMap, _ api.RequestTrailerMap, resp api.ResponseHeaderMap, _ api.ResponseTrailerMap) {
	f.cfg.logs.Increment(1)
	status := ""
	if resp != nil {
		status, _ = resp.Get(":status")
	}
	api.LogInfof("abitest access %s %s", req.Path(), status)
}

func (f *filter) OnDestroy(r api.DestroyReason) {
	f.cfg.destroys.Increment(1)
	api.LogInfof("abitest destroy reason=%d mode=%q", r, f.mode)
	f.cfg.inflight.Increment(-1)
}
