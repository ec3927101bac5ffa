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
package mockhost
