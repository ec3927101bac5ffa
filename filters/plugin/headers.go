package plugin

import "github.com/envoyproxy/envoy/contrib/golang/common/go/api"

// HeaderCopier is implemented by a parsed plugin config (the value Parse returned) whose requests
// make the SDK copy all request headers anyway: Get, Values, Set, Add, Del or Range on the request
// header map in DecodeHeaders. The SDK copies at most once per request, and a one-key lookup costs a
// C call of its own, so in a chain with such a plugin RequestHeader reads the copy too. Read when the
// chain config is prepared, never per request; only a cost hint (results are the same either way).
type HeaderCopier interface {
	CopiesRequestHeaders() bool
}

// RequestHeader returns the first value of the request header name ("" when absent or empty), for
// a plugin's DecodeHeaders. name must be lower case.
//
// Why: the SDK's Get copies every header into a Go map on first use (one C call, a map and a Go
// string per key and value); a plugin that reads one header pays for all of them. While the chain
// runs DecodeHeaders on the Envoy worker and none of its plugins is a HeaderCopier, RequestHeader
// instead looks the one key up in Envoy's map (GetRaw, one C call, no copy). Elsewhere (an async phase on a goroutine, where an earlier
// plugin's Set reaches Envoy's map only later; other phases; a Handle that is not the chain's) it
// falls back to Get, so it always sees what Get would.
//
// The value may point into Envoy's header map: it is valid until the phase returns or the header
// is changed. Use strings.Clone to keep it longer.
func RequestHeader(h Handle, headers api.RequestHeaderMap, name string) string {
	if f, ok := h.(*chainFilter); ok && f.rawHeaders.Load() {
		return headers.GetRaw(name)
	}
	v, _ := headers.Get(name)
	return v
}
