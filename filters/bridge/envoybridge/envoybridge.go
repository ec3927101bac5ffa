// Package envoybridge adapts the gateway of filters/bridge to the interfaces of Envoy's golang
// HTTP-TCP bridge (plugin "govoy-bridge"). It only moves bytes between the SDK and the pure-Go
// core: the request body is buffered whole, replaced by the RPC frame, and the upstream bytes are
// buffered until the response frame is complete, then replaced by the JSON answer. It uses only the
// SDK's interface package, so it runs in plain Go tests; filters/bridge/register registers it.
package envoybridge

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/govoy/govoy/filters/bridge"
	"github.com/govoy/govoy/filters/log"
)

// PluginName is the bridge's plugin_name in Envoy's config.
const PluginName = bridge.PluginName

// Parser decodes and validates the plugin_config.
type Parser struct{}

func (Parser) Parse(a *anypb.Any) (any, error) { return bridge.ParseAny(a) }

// Factory makes the bridge of one HTTP request.
func Factory(cfg any, _ api.HttpTcpBridgeCallbackHandler) api.HttpTcpBridge {
	c, _ := cfg.(*bridge.Config)
	return &stream{cfg: c}
}

// stream is one HTTP request on the bridge. Envoy calls it on one worker thread, one call at a time.
type stream struct {
	cfg     *bridge.Config
	path    string
	headers map[string]string
	ex      *bridge.Exchange
}

func (s *stream) EncodeHeaders(h api.RequestHeaderMap, data api.BufferInstance, end bool) (st api.HttpTcpBridgeStatus) {
	defer s.recover("EncodeHeaders", data, &st)
	s.path = h.Path()
	s.headers = map[string]string{}
	for _, name := range []string{bridge.TimeoutHeader} {
		if v, ok := h.Get(name); ok {
			s.headers[name] = v
		}
	}
	for _, name := range s.cfg.HeaderNames() {
		if v, ok := h.Get(name); ok {
			s.headers[name] = v
		}
	}
	if !end {
		return api.HttpTcpBridgeStopAndBuffer // EncodeData gets the whole body
	}
	return s.start(data, nil)
}

func (s *stream) EncodeData(data api.BufferInstance, end bool) (st api.HttpTcpBridgeStatus) {
	defer s.recover("EncodeData", data, &st)
	if !end {
		return api.HttpTcpBridgeStopAndBuffer
	}
	return s.start(data, data.Bytes())
}

func (s *stream) start(data api.BufferInstance, body []byte) api.HttpTcpBridgeStatus {
	if s.cfg == nil {
		return s.endWith(data, nil, bridge.UpstreamFailure(fmt.Errorf("bridge has no valid config")))
	}
	frame, ex := s.cfg.Start(bridge.Request{Path: s.path, Header: func(n string) string { return s.headers[n] }, Body: body})
	s.ex = ex
	if err := data.Set(frame); err != nil {
		return s.endWith(data, nil, bridge.UpstreamFailure(fmt.Errorf("set request frame: %w", err)))
	}
	return api.HttpTcpBridgeContinue
}

func (s *stream) OnUpstreamData(resp api.ResponseHeaderMap, data api.BufferInstance, end bool) (st api.HttpTcpBridgeStatus) {
	defer s.recover("OnUpstreamData", data, &st)
	if s.ex == nil {
		return s.endWith(data, resp, bridge.UpstreamFailure(fmt.Errorf("upstream data before the request was sent")))
	}
	res := s.ex.OnUpstream(data.Bytes(), end)
	if res == nil {
		return api.HttpTcpBridgeStopAndBuffer
	}
	return s.endWith(data, resp, res)
}

// endWith replaces data with the JSON answer and ends the HTTP response. Without resp (request
// phases) Envoy answers 200, so callers there only use it for internal failures.
func (s *stream) endWith(data api.BufferInstance, resp api.ResponseHeaderMap, res *bridge.Result) api.HttpTcpBridgeStatus {
	body := res.JSON()
	if resp != nil {
		resp.Set(":status", strconv.Itoa(res.Status))
		resp.Set("content-type", "application/json")
		resp.Set("content-length", strconv.Itoa(len(body)))
	}
	data.Set(body)
	return api.HttpTcpBridgeEndStream
}

// recover keeps a panic on the Go side: the request ends with a 500 (or Envoy's 200 in the request
// phases, which cannot set a status) and the panic is logged.
func (s *stream) recover(phase string, data api.BufferInstance, st *api.HttpTcpBridgeStatus) {
	if r := recover(); r != nil {
		log.Named(PluginName).Error(fmt.Sprintf("panic in %s: %v", phase, r))
		body := (&bridge.Result{Status: http.StatusInternalServerError, Error: "internal", Message: fmt.Sprint(r)}).JSON()
		data.Set(body)
		*st = api.HttpTcpBridgeEndStream
	}
}

func (s *stream) OnDestroy() {}
