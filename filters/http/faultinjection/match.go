package faultinjection

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"github.com/govoy/govoy/filters/http/faultinjection/faultpb"
)

// headerMatcher is a compiled faultpb.HeaderMatcher.
type headerMatcher struct {
	name   string
	invert bool
	match  func(values []string) bool
}

func compileHeaderMatchers(in []*faultpb.HeaderMatcher) ([]headerMatcher, error) {
	out := make([]headerMatcher, 0, len(in))
	for i, m := range in {
		hm := headerMatcher{name: strings.ToLower(m.GetName()), invert: m.GetInvert()}
		anyValue := func(f func(string) bool) func([]string) bool {
			return func(vs []string) bool {
				for _, v := range vs {
					if f(v) {
						return true
					}
				}
				return false
			}
		}
		switch x := m.GetMatch().(type) {
		case *faultpb.HeaderMatcher_Exact:
			hm.match = anyValue(func(v string) bool { return v == x.Exact })
		case *faultpb.HeaderMatcher_Prefix:
			hm.match = anyValue(func(v string) bool { return strings.HasPrefix(v, x.Prefix) })
		case *faultpb.HeaderMatcher_Suffix:
			hm.match = anyValue(func(v string) bool { return strings.HasSuffix(v, x.Suffix) })
		case *faultpb.HeaderMatcher_Contains:
			hm.match = anyValue(func(v string) bool { return strings.Contains(v, x.Contains) })
		case *faultpb.HeaderMatcher_Regex:
			// Anchored like Envoy's safe_regex: the whole value must match.
			re, err := regexp.Compile("^(?:" + x.Regex + ")$")
			if err != nil {
				return nil, fmt.Errorf("headers[%d].regex: %w", i, err)
			}
			hm.match = anyValue(re.MatchString)
		case *faultpb.HeaderMatcher_Present:
			want := x.Present
			hm.match = func(vs []string) bool { return (len(vs) > 0) == want }
		default:
			return nil, fmt.Errorf("headers[%d]: one of exact, prefix, suffix, contains, regex, present is required", i)
		}
		out = append(out, hm)
	}
	return out, nil
}

func matchHeaders(ms []headerMatcher, h api.RequestHeaderMap) bool {
	for _, m := range ms {
		if m.match(h.Values(m.name)) == m.invert {
			return false
		}
	}
	return true
}
