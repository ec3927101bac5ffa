// Package mockhost fakes Envoy v1.39.0's side of the contrib golang HTTP filter at the Go level, so
// plugin tests run without Envoy or cgo.
//
// It drives any api.StreamFilterFactory + api.StreamFilterConfigParser (for Govoy, the chain exported
// by filters/plugin) through one request at a time, the way golang_filter.cc and processor_state.cc
// do:
//
//   - decode/encode header, data and trailer phases with Envoy's status handling (Continue,
//     StopAndBuffer, StopAndBufferWatermark, StopNoBuffer, Running, LocalReply);
//   - Continue and SendLocalReply are always posted to the request's "worker" (the goroutine running
//     Do), from any goroutine, like Envoy's dispatcher post; Running waits for them with a timeout;
//   - data that arrives while Go is busy is buffered; StopAndBuffer re-delivers the whole body at end
//     of stream; a full buffer answers 413 on requests and 500 on responses;
//   - header maps and buffers may only be touched while their phase is being processed in Go (Envoy
//     answers CAPINotInGo and the SDK panics); reads are served from a per-phase copy like the SDK's;
//   - a local reply sent while decoding runs through the filter's encode phases, one sent while
//     encoding goes straight to the client;
//   - panics in a phase become a 500 "error happened in filter" local reply;
//   - the end of a stream calls OnStreamComplete, OnLog (DownstreamEnd) and OnDestroy, in Envoy's order.
//
// Usage:
//
//	host := mockhost.New(plugin.FilterFactory, plugin.ConfigParser)
//	cfg, err := host.ParseFilterConfig(chainMsg)
//	res := host.Do(t, cfg, mockhost.Request{Method: "GET", Path: "/"}, func(r *mockhost.Received) mockhost.Response {
//		return mockhost.Response{Status: 200, Body: "ok"}
//	})
//	// res.Status, res.Body, res.LocalReply, res.Upstream (what the upstream received), res.Logs
//	// host.Counter("key_auth.denied")
//
// A Host is safe for concurrent use: run many Do calls in parallel.
//
// Free-standing header maps and buffers (NewRequestHeaders, NewBuffer, ...) serve unit tests of code
// that takes api types without a request around it.
//
// Where it differs from Envoy, on purpose:
//   - The client sends the whole request at once and the upstream answers only after the whole
//     request reached it; flow control (watermarks) is not modelled, only the buffer limit.
//   - Using a header map, buffer or callback of a phase after Continue/SendLocalReply was called
//     panics with ErrNotInGo at once; in Envoy it may still work until the posted Continue runs.
//   - The route is the Request's RouteName, or Request.Route(headers) re-run after ClearRouteCache;
//     per-route configs are whatever config the test passes to Do (use Host.Merge like Envoy).
//   - Headers Envoy's connection manager adds (x-request-id, x-forwarded-proto, ...) are not added;
//     put them in Request.Headers when a filter needs them.
//   - OnLogDownstreamStart/Periodic are not called (Envoy only calls them with access-log flush
//     settings). Request and response are HTTP/1.1 unless Request.Protocol says otherwise.
//   - Local replies follow Http::Utility::prepareLocalReply: content-length and text/plain for a
//     body, trailers-only for gRPC requests (grpc-status is the filter's grpcStatus verbatim, as in
//     Envoy), headers only for HEAD.
package mockhost
