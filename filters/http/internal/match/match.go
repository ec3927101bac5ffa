// Package match is the string matching the HTTP plugins share: a header (or cookie) matcher that
// tests every value of one name with exact, prefix, suffix, contains, regex or presence, optionally
// inverted, and the Cookie header parser. It is compiled once at config parse time; matching does
// not allocate.
package match

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Kind is how a value is compared.
type Kind uint8

const (
	Exact Kind = iota + 1
	Prefix
	Suffix
	Contains
	Regex   // RE2, anchored: the whole value must match (like Envoy's safe_regex)
	Present // the name has a value (Spec.Present true) or has none (false); values are not read
)

var kindNames = [...]string{Exact: "exact", Prefix: "prefix", Suffix: "suffix", Contains: "contains", Regex: "regex", Present: "present"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// Spec describes one matcher.
type Spec struct {
	Name    string
	Kind    Kind
	Value   string // Exact, Prefix, Suffix, Contains, Regex
	Present bool   // Kind Present
	Invert  bool
}

// Matcher is a compiled Spec.
type Matcher struct {
	name    string
	kind    Kind
	value   string
	re      *regexp.Regexp
	present bool
	invert  bool
}

// Compile checks and compiles s. A bad regex is an error naming "regex".
func Compile(s Spec) (Matcher, error) {
	m := Matcher{name: s.Name, kind: s.Kind, value: s.Value, present: s.Present, invert: s.Invert}
	switch s.Kind {
	case Exact, Prefix, Suffix, Contains, Present:
	case Regex:
		re, err := regexp.Compile("^(?:" + s.Value + ")$")
		if err != nil {
			return Matcher{}, &RegexError{Err: err}
		}
		m.re = re
	default:
		return Matcher{}, errors.New(requiredMsg)
	}
	return m, nil
}

const requiredMsg = "one of exact, prefix, suffix, contains, regex, present is required"

// RegexError is a Spec.Value that does not compile as RE2.
type RegexError struct{ Err error }

func (e *RegexError) Error() string { return "regex: " + e.Err.Error() }
func (e *RegexError) Unwrap() error { return e.Err }

// Name is the header or cookie name the matcher reads.
func (m *Matcher) Name() string { return m.name }

// Match reports whether the values of the matcher's name match (after inversion). A value matcher
// matches when any value does; no values never match (so an inverted one does).
func (m *Matcher) Match(values []string) bool {
	if m.kind == Present {
		return (len(values) > 0) == m.present != m.invert
	}
	for _, v := range values {
		if m.matchOne(v) {
			return !m.invert
		}
	}
	return m.invert
}

func (m *Matcher) matchOne(v string) bool {
	switch m.kind {
	case Exact:
		return v == m.value
	case Prefix:
		return strings.HasPrefix(v, m.value)
	case Suffix:
		return strings.HasSuffix(v, m.value)
	case Contains:
		return strings.Contains(v, m.value)
	case Regex:
		return m.re.MatchString(v)
	}
	return false
}

// Headers reports whether every matcher matches the request headers (names as compiled; compile
// header names lower-case, as Envoy stores them).
func Headers(ms []Matcher, h api.RequestHeaderMap) bool {
	for i := range ms {
		if !ms[i].Match(h.Values(ms[i].name)) {
			return false
		}
	}
	return true
}

// Cookies reports whether every matcher matches the parsed cookies (see ParseCookies).
func Cookies(ms []Matcher, cookies map[string][]string) bool {
	for i := range ms {
		if !ms[i].Match(cookies[ms[i].name]) {
			return false
		}
	}
	return true
}

// FromProto reads a matcher config message. The plugins' protos share one shape, which this relies
// on: `string name`, `bool invert`, and a oneof `match` of `string exact, prefix, suffix, contains,
// regex` and `bool present`. An unset oneof is an error ("one of ... is required").
func FromProto(msg proto.Message) (Spec, error) {
	r := msg.ProtoReflect()
	d := r.Descriptor()
	name, invert, oneof := d.Fields().ByName("name"), d.Fields().ByName("invert"), d.Oneofs().ByName("match")
	if name == nil || invert == nil || oneof == nil {
		return Spec{}, fmt.Errorf("%s is not a matcher message (name, invert, oneof match)", d.FullName())
	}
	s := Spec{Name: r.Get(name).String(), Invert: r.Get(invert).Bool()}
	fd := r.WhichOneof(oneof)
	if fd == nil {
		return Spec{}, errors.New(requiredMsg)
	}
	switch fd.Name() {
	case "exact":
		s.Kind = Exact
	case "prefix":
		s.Kind = Prefix
	case "suffix":
		s.Kind = Suffix
	case "contains":
		s.Kind = Contains
	case "regex":
		s.Kind = Regex
	case "present":
		s.Kind, s.Present = Present, r.Get(fd).Bool()
		return s, nil
	default:
		return Spec{}, fmt.Errorf("%s: unsupported match %q", d.FullName(), fd.Name())
	}
	if fd.Kind() != protoreflect.StringKind {
		return Spec{}, fmt.Errorf("%s.%s: want a string field", d.FullName(), fd.Name())
	}
	s.Value = r.Get(fd).String()
	return s, nil
}

// CompileAll compiles a repeated matcher field. Errors name the entry: "<field>[i].regex: ...".
// lowerNames lower-cases the names (headers; cookie names are case-sensitive).
func CompileAll[M proto.Message](in []M, field string, lowerNames bool) ([]Matcher, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]Matcher, 0, len(in))
	for i, msg := range in {
		s, err := FromProto(msg)
		if err == nil {
			if lowerNames {
				s.Name = strings.ToLower(s.Name)
			}
			var m Matcher
			if m, err = Compile(s); err == nil {
				out = append(out, m)
				continue
			}
		}
		if re := (*RegexError)(nil); errors.As(err, &re) {
			return nil, fmt.Errorf("%s[%d].%w", field, i, err) // names the field: headers[0].regex
		}
		return nil, fmt.Errorf("%s[%d]: %w", field, i, err)
	}
	return out, nil
}

// ParseCookies parses Cookie header lines into name -> values. Malformed pairs are skipped rather
// than failing the whole header, since one bad cookie from a browser must not hide the others.
// Values in double quotes are unquoted.
func ParseCookies(lines []string) map[string][]string {
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
