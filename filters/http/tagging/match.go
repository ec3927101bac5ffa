package tagging

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/govoy/govoy/filters/http/tagging/taggingpb"
)

// stringMatcher is a compiled taggingpb.StringMatcher; match gets every value of the header or cookie.
type stringMatcher struct {
	name   string
	invert bool
	match  func(values []string) bool
}

func (m stringMatcher) matches(values []string) bool { return m.match(values) != m.invert }

func compileMatchers(in []*taggingpb.StringMatcher, field string, lower bool) ([]stringMatcher, error) {
	out := make([]stringMatcher, 0, len(in))
	for i, m := range in {
		sm := stringMatcher{name: m.GetName(), invert: m.GetInvert()}
		if lower {
			sm.name = strings.ToLower(sm.name)
		}
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
		case *taggingpb.StringMatcher_Exact:
			sm.match = anyValue(func(v string) bool { return v == x.Exact })
		case *taggingpb.StringMatcher_Prefix:
			sm.match = anyValue(func(v string) bool { return strings.HasPrefix(v, x.Prefix) })
		case *taggingpb.StringMatcher_Suffix:
			sm.match = anyValue(func(v string) bool { return strings.HasSuffix(v, x.Suffix) })
		case *taggingpb.StringMatcher_Contains:
			sm.match = anyValue(func(v string) bool { return strings.Contains(v, x.Contains) })
		case *taggingpb.StringMatcher_Regex:
			// Anchored like Envoy's safe_regex matchers: the whole value must match.
			re, err := regexp.Compile("^(?:" + x.Regex + ")$")
			if err != nil {
				return nil, fmt.Errorf("%s[%d].regex: %w", field, i, err)
			}
			sm.match = anyValue(re.MatchString)
		case *taggingpb.StringMatcher_Present:
			want := x.Present
			sm.match = func(vs []string) bool { return (len(vs) > 0) == want }
		default:
			return nil, fmt.Errorf("%s[%d]: one of exact, prefix, suffix, contains, regex, present is required", field, i)
		}
		out = append(out, sm)
	}
	return out, nil
}

// cookies parses Cookie header lines into name -> values. Malformed pairs are skipped rather than
// failing the whole header, since one bad cookie from a browser must not hide the others.
func cookies(lines []string) map[string][]string {
	out := map[string][]string{}
	for _, line := range lines {
		for part := range strings.SplitSeq(line, ";") {
			name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok || name == "" {
				continue
			}
			if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
				value = value[1 : len(value)-1]
			}
			out[name] = append(out[name], value)
		}
	}
	return out
}
