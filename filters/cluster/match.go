package cluster

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/govoy/govoy/filters/cluster/clusterpb"
)

// source is where a matcher or hash key reads its value.
type source uint8

const (
	fromHeader source = iota
	fromCookie
	fromQuery
)

type matchKind uint8

const (
	kindExact matchKind = iota
	kindPrefix
	kindSuffix
	kindContains
	kindRegex
	kindPresent
)

// matcher is one compiled StringMatcher.
type matcher struct {
	key     key
	kind    matchKind
	value   string
	re      *regexp.Regexp
	present bool
	invert  bool
}

func (m *matcher) match(r *request) bool {
	v, ok := r.value(&m.key)
	var res bool
	switch {
	case m.kind == kindPresent:
		res = ok == m.present
	case !ok:
		res = false
	case m.kind == kindExact:
		res = v == m.value
	case m.kind == kindPrefix:
		res = strings.HasPrefix(v, m.value)
	case m.kind == kindSuffix:
		res = strings.HasSuffix(v, m.value)
	case m.kind == kindContains:
		res = strings.Contains(v, m.value)
	default:
		res = m.re.MatchString(v)
	}
	return res != m.invert
}

// key names one request value: a header, or a cookie / query parameter and the header that carries it.
type key struct {
	src  source
	name string
	// header is the request header read: name itself, "cookie" or ":path".
	header string
	// slot is header's index in the per-call cache (see request), -1 when not cached.
	slot int
}

func compileMatchers(ms []*clusterpb.StringMatcher, src source, field string, slots *slotTable) ([]matcher, error) {
	out := make([]matcher, 0, len(ms))
	for i, m := range ms {
		f := fmt.Sprintf("%s[%d]", field, i)
		k, err := newKey(src, m.GetName(), f+".name", slots)
		if err != nil {
			return nil, err
		}
		c := matcher{key: k, invert: m.GetInvert()}
		switch v := m.GetMatch().(type) {
		case *clusterpb.StringMatcher_Exact:
			c.kind, c.value = kindExact, v.Exact
		case *clusterpb.StringMatcher_Prefix:
			c.kind, c.value = kindPrefix, v.Prefix
		case *clusterpb.StringMatcher_Suffix:
			c.kind, c.value = kindSuffix, v.Suffix
		case *clusterpb.StringMatcher_Contains:
			c.kind, c.value = kindContains, v.Contains
		case *clusterpb.StringMatcher_Regex:
			// Anchored: the whole value must match, as Envoy's safe_regex matchers do.
			re, err := regexp.Compile(`^(?:` + v.Regex + `)$`)
			if err != nil {
				return nil, fmt.Errorf("%s.regex: %w", f, err)
			}
			c.kind, c.re = kindRegex, re
		case *clusterpb.StringMatcher_Present:
			c.kind, c.present = kindPresent, v.Present
		default:
			return nil, fmt.Errorf("%s: one of exact, prefix, suffix, contains, regex, present is required", f)
		}
		out = append(out, c)
	}
	return out, nil
}

func newKey(src source, name, field string, slots *slotTable) (key, error) {
	if name == "" {
		return key{}, fmt.Errorf("%s: must not be empty", field)
	}
	k := key{src: src, name: name}
	switch src {
	case fromHeader:
		if !validHeaderName(name) {
			return key{}, fmt.Errorf("%s: %q is not a valid header name", field, name)
		}
		// Envoy's header map keys are lower case; the SDK looks names up as given.
		p, err := pin(strings.ToLower(name))
		if err != nil {
			return key{}, fmt.Errorf("%s: %w", field, err)
		}
		k.name, k.header = p, p
	case fromCookie:
		if strings.ContainsAny(name, "=; \t\"") {
			return key{}, fmt.Errorf("%s: %q is not a valid cookie name", field, name)
		}
		k.header = "cookie"
	case fromQuery:
		k.header = ":path"
	}
	k.slot = slots.slot(k.header)
	return k, nil
}

// validHeaderName accepts RFC 7230 tokens, with an optional leading ':' for pseudo headers.
func validHeaderName(s string) bool {
	s = strings.TrimPrefix(s, ":")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// cookieValue finds a cookie in a `cookie` header value ("a=1; b=2"). Envoy's HTTP/2 codec joins
// split cookie headers with "; ", so one header holds them all. The first occurrence wins.
func cookieValue(header, name string) (string, bool) {
	for header != "" {
		var part string
		if i := strings.IndexByte(header, ';'); i >= 0 {
			part, header = header[:i], header[i+1:]
		} else {
			part, header = header, ""
		}
		part = strings.TrimLeft(part, " \t")
		eq := strings.IndexByte(part, '=')
		if eq < 0 || strings.TrimRight(part[:eq], " \t") != name {
			continue
		}
		v := strings.TrimSpace(part[eq+1:])
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		return v, true
	}
	return "", false
}

// queryValue finds a query parameter in a request path. Names and values are compared URL-decoded;
// decoding (which allocates) only happens for parts that contain '%' or '+'. The first occurrence wins.
func queryValue(path, name string) (string, bool) {
	q := strings.IndexByte(path, '?')
	if q < 0 {
		return "", false
	}
	query := path[q+1:]
	if h := strings.IndexByte(query, '#'); h >= 0 {
		query = query[:h]
	}
	for query != "" {
		var part string
		if i := strings.IndexByte(query, '&'); i >= 0 {
			part, query = query[:i], query[i+1:]
		} else {
			part, query = query, ""
		}
		k, v, _ := strings.Cut(part, "=")
		if unescape(k) != name {
			continue
		}
		return unescape(v), true
	}
	return "", false
}

func unescape(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	u, err := url.QueryUnescape(s)
	if err != nil {
		return s // a malformed escape is compared as sent
	}
	return u
}

// pathOnly strips the query string (and a fragment) from a request path.
func pathOnly(p string) string {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		return p[:i]
	}
	return p
}
