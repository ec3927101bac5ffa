package consumers

import (
	"strings"
	"testing"
)

// Removing a parameter leaves no trace of it, keeps the path and every other parameter.
func FuzzStripQueryParam(f *testing.F) {
	f.Add("/p?a=1&key=abc&b=2", "key")
	f.Add("/p?k%65y=1&&key&key=2#f", "key")
	f.Add("/?=&=x", "")
	f.Fuzz(func(t *testing.T, path, name string) {
		out := StripQueryParam(path, name)
		if _, ok := QueryParam(out, name); ok {
			t.Fatalf("StripQueryParam(%q, %q) = %q still has the parameter", path, name, out)
		}
		base, _, _ := strings.Cut(path, "?")
		if !strings.HasPrefix(out, base) {
			t.Fatalf("path part changed: %q -> %q", path, out)
		}
		if _, has := QueryParam(path, name); !has && !strings.Contains(path, "?") && out != path {
			t.Fatalf("path without query changed: %q -> %q", path, out)
		}
	})
}
