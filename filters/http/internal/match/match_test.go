package match_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/govoy/govoy/filters/http/faultinjection/faultpb"
	"github.com/govoy/govoy/filters/http/internal/match"
	"github.com/govoy/govoy/filters/http/tagging/taggingpb"
	"github.com/govoy/govoy/filters/mockhost"
	"google.golang.org/protobuf/types/known/emptypb"
)

func compile(t *testing.T, s match.Spec) match.Matcher {
	t.Helper()
	m, err := match.Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMatchKinds(t *testing.T) {
	for _, c := range []struct {
		spec   match.Spec
		values []string
		want   bool
	}{
		{match.Spec{Kind: match.Exact, Value: "a"}, []string{"a"}, true},
		{match.Spec{Kind: match.Exact, Value: "a"}, []string{"ab"}, false},
		{match.Spec{Kind: match.Exact, Value: "a"}, []string{"x", "a"}, true}, // any value
		{match.Spec{Kind: match.Exact, Value: ""}, []string{""}, true},
		{match.Spec{Kind: match.Exact, Value: ""}, nil, false},
		{match.Spec{Kind: match.Prefix, Value: "ab"}, []string{"abc"}, true},
		{match.Spec{Kind: match.Prefix, Value: "ab"}, []string{"cab"}, false},
		{match.Spec{Kind: match.Suffix, Value: "bc"}, []string{"abc"}, true},
		{match.Spec{Kind: match.Suffix, Value: "bc"}, []string{"bca"}, false},
		{match.Spec{Kind: match.Contains, Value: "b"}, []string{"abc"}, true},
		{match.Spec{Kind: match.Contains, Value: "z"}, []string{"abc"}, false},
		{match.Spec{Kind: match.Regex, Value: "a.c"}, []string{"abc"}, true},
		{match.Spec{Kind: match.Regex, Value: "b"}, []string{"abc"}, false}, // anchored
		{match.Spec{Kind: match.Regex, Value: "a|abc"}, []string{"abc"}, true},
		{match.Spec{Kind: match.Present, Present: true}, []string{""}, true},
		{match.Spec{Kind: match.Present, Present: true}, nil, false},
		{match.Spec{Kind: match.Present, Present: false}, nil, true},
		{match.Spec{Kind: match.Present, Present: false}, []string{"x"}, false},
		// inverted
		{match.Spec{Kind: match.Exact, Value: "a", Invert: true}, []string{"a"}, false},
		{match.Spec{Kind: match.Exact, Value: "a", Invert: true}, []string{"b"}, true},
		{match.Spec{Kind: match.Exact, Value: "a", Invert: true}, nil, true},
		{match.Spec{Kind: match.Present, Present: true, Invert: true}, nil, true},
		{match.Spec{Kind: match.Present, Present: true, Invert: true}, []string{"x"}, false},
	} {
		m := compile(t, c.spec)
		if got := m.Match(c.values); got != c.want {
			t.Errorf("%v %+v on %q = %v, want %v", c.spec.Kind, c.spec, c.values, got, c.want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	if _, err := match.Compile(match.Spec{Kind: match.Regex, Value: "("}); err == nil || !strings.HasPrefix(err.Error(), "regex: ") {
		t.Errorf("bad regex: %v", err)
	}
	if _, err := match.Compile(match.Spec{Name: "x"}); err == nil || !strings.Contains(err.Error(), "one of exact") {
		t.Errorf("no kind: %v", err)
	}
}

func TestHeadersAndCookies(t *testing.T) {
	ms, err := match.CompileAll([]*faultpb.HeaderMatcher{
		{Name: "X-Env", Match: &faultpb.HeaderMatcher_Exact{Exact: "canary"}},
		{Name: "x-debug", Match: &faultpb.HeaderMatcher_Present{Present: true}, Invert: true},
	}, "headers", true)
	if err != nil {
		t.Fatal(err)
	}
	if ms[0].Name() != "x-env" {
		t.Errorf("header name %q not lower-cased", ms[0].Name())
	}
	h := mockhost.NewRequestHeaders(map[string][]string{"x-env": {"canary"}})
	if !match.Headers(ms, h) {
		t.Error("matching headers did not match")
	}
	h = mockhost.NewRequestHeaders(map[string][]string{"x-env": {"canary"}, "x-debug": {"1"}})
	if match.Headers(ms, h) {
		t.Error("inverted present matched")
	}
	if !match.Headers(nil, h) {
		t.Error("no matchers must match")
	}

	cs, err := match.CompileAll([]*taggingpb.StringMatcher{{Name: "Uid", Match: &taggingpb.StringMatcher_Suffix{Suffix: "7"}}}, "cookies", false)
	if err != nil {
		t.Fatal(err)
	}
	ck := match.ParseCookies([]string{`a=1; Uid="u-17"; bad; =x`, "uid=2"})
	if !reflect.DeepEqual(ck, map[string][]string{"a": {"1"}, "Uid": {"u-17"}, "uid": {"2"}}) {
		t.Fatalf("cookies %v", ck)
	}
	if !match.Cookies(cs, ck) {
		t.Error("cookie names are case-sensitive: Uid should match")
	}
	if match.Cookies(cs, map[string][]string{"uid": {"7"}}) {
		t.Error("cookie uid matched matcher Uid")
	}
}

func TestCompileAllNamesTheField(t *testing.T) {
	_, err := match.CompileAll([]*taggingpb.StringMatcher{
		{Name: "x", Match: &taggingpb.StringMatcher_Exact{Exact: "a"}},
		{Name: "y", Match: &taggingpb.StringMatcher_Regex{Regex: "("}},
	}, "rules[3].headers", true)
	if err == nil || !strings.HasPrefix(err.Error(), "rules[3].headers[1].regex: ") {
		t.Errorf("got %v", err)
	}
	_, err = match.CompileAll([]*faultpb.HeaderMatcher{{Name: "x"}}, "headers", true)
	if err == nil || err.Error() != "headers[0]: one of exact, prefix, suffix, contains, regex, present is required" {
		t.Errorf("got %v", err)
	}
	_, err = match.CompileAll([]*emptypb.Empty{{}}, "headers", true)
	if err == nil || !strings.Contains(err.Error(), "not a matcher message") {
		t.Errorf("got %v", err)
	}
}

func TestFromProtoBothPlugins(t *testing.T) {
	s, err := match.FromProto(&faultpb.HeaderMatcher{Name: "n", Match: &faultpb.HeaderMatcher_Contains{Contains: "v"}, Invert: true})
	if err != nil || s != (match.Spec{Name: "n", Kind: match.Contains, Value: "v", Invert: true}) {
		t.Errorf("fault: %+v %v", s, err)
	}
	s, err = match.FromProto(&taggingpb.StringMatcher{Name: "n", Match: &taggingpb.StringMatcher_Present{Present: false}})
	if err != nil || s != (match.Spec{Name: "n", Kind: match.Present}) {
		t.Errorf("tagging: %+v %v", s, err)
	}
	// exact "" is a value, not an unset field
	s, err = match.FromProto(&taggingpb.StringMatcher{Name: "n", Match: &taggingpb.StringMatcher_Exact{}})
	if err != nil || s.Kind != match.Exact || s.Value != "" {
		t.Errorf("empty exact: %+v %v", s, err)
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	m := compile(t, match.Spec{Kind: match.Regex, Value: "a+b"})
	vs := []string{"x", "aab"}
	if n := testing.AllocsPerRun(100, func() { m.Match(vs) }); n != 0 {
		t.Errorf("Match allocates %v times", n)
	}
}
