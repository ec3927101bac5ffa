// Package consumers holds what the authentication plugins (key_auth, jwt_auth) share: reading a
// credential from a header or query parameter, removing it before the request goes upstream, and
// the 401 answer.
package consumers

import (
	"net/url"
	"strings"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"

	"github.com/govoy/govoy/filters/plugin"
)

// QueryParam returns the first value of the query parameter name in a request path
// ("/p?a=1&b=2"), decoded. Parameters that do not decode are skipped.
func QueryParam(path, name string) (string, bool) {
	_, query, _, ok, _ := splitPath(path)
	if !ok {
		return "", false
	}
	for query != "" {
		var pair string
		pair, query, _ = strings.Cut(query, "&")
		k, v, _ := strings.Cut(pair, "=")
		if key, err := url.QueryUnescape(k); err != nil || key != name {
			continue
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			continue
		}
		return val, true
	}
	return "", false
}

// splitPath cuts a request path into what comes before the query, the query and the fragment.
// A '?' after the '#' belongs to the fragment.
func splitPath(path string) (base, query, frag string, hasQuery, hasFrag bool) {
	beforeFrag, frag, hasFrag := strings.Cut(path, "#")
	base, query, hasQuery = strings.Cut(beforeFrag, "?")
	return base, query, frag, hasQuery, hasFrag
}

// StripQueryParam returns path without any occurrence of the query parameter name; the other
// parameters keep their order and encoding.
func StripQueryParam(path, name string) string {
	base, query, frag, ok, hasFrag := splitPath(path)
	if !ok {
		return path
	}
	kept := make([]string, 0, 4)
	for _, pair := range strings.Split(query, "&") {
		k, _, _ := strings.Cut(pair, "=")
		if key, err := url.QueryUnescape(k); err == nil && key == name {
			continue
		}
		if pair != "" {
			kept = append(kept, pair)
		}
	}
	out := base
	if len(kept) > 0 {
		out += "?" + strings.Join(kept, "&")
	}
	if hasFrag {
		out += "#" + frag
	}
	return out
}

// Source says where a credential was found, so it can be hidden from the upstream.
type Source struct {
	Header string // header name, or "" when the credential came from the query
	Query  string // query parameter name
}

// Hide removes the credential from the request.
func (s Source) Hide(headers api.RequestHeaderMap) {
	if s.Header != "" {
		headers.Del(s.Header)
		return
	}
	if s.Query != "" {
		headers.SetPath(StripQueryParam(headers.Path(), s.Query))
	}
}

// Challenge formats a WWW-Authenticate value: scheme realm="realm"[, error="..."] (RFC 7235, and
// RFC 6750 for Bearer errors). realm is validated by config rules to hold no quote.
func Challenge(scheme, realm, bearerError string) string {
	v := scheme + ` realm="` + realm + `"`
	if bearerError != "" {
		v += `, error="` + bearerError + `"`
	}
	return v
}

// Unauthorized is a 401 local reply carrying the challenge; body is a short reason, never key material.
func Unauthorized(challenge, body, details string) plugin.Result {
	return plugin.Reply(401, body+"\n", map[string][]string{"www-authenticate": {challenge}}, details)
}

// Copy returns a per-request copy of a consumer parsed once per config, so a later plugin that
// changes the struct cannot affect other requests. Labels are shared and must be treated as read-only.
func Copy(c *plugin.Consumer) *plugin.Consumer {
	cp := *c
	return &cp
}
