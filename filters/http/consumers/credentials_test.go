package consumers

import "testing"

func TestQueryParam(t *testing.T) {
	for _, tc := range []struct {
		path, name, want string
		ok               bool
	}{
		{"/p?a=1&key=abc&b=2", "key", "abc", true},
		{"/p?key=a%2Bb%20c", "key", "a+b c", true},
		{"/p?k%65y=v", "key", "v", true}, // encoded name
		{"/p?key=first&key=second", "key", "first", true},
		{"/p?key=", "key", "", true},
		{"/p?keys=x", "key", "", false},
		{"/p?a=1#key=x", "key", "", false},
		{"/p#f?key=x", "key", "", false}, // a '?' in the fragment starts no query
		{"/p", "key", "", false},
		{"/p?key=%zz&key=ok", "key", "ok", true}, // undecodable values are skipped
	} {
		got, ok := QueryParam(tc.path, tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("QueryParam(%q, %q) = %q, %v; want %q, %v", tc.path, tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestStripQueryParam(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"/p?a=1&key=abc&b=x%20y", "/p?a=1&b=x%20y"},
		{"/p?key=abc", "/p"},
		{"/p?key=1&key=2&c", "/p?c"},
		{"/p?k%65y=1&a", "/p?a"},
		{"/p?a=1&key=2#frag", "/p?a=1#frag"},
		{"/p?key=1#f?key=2", "/p#f?key=2"}, // the fragment is not the query
		{"/p#f?key=2", "/p#f?key=2"},
		{"/p?keys=1", "/p?keys=1"},
		{"/p", "/p"},
	} {
		if got := StripQueryParam(tc.path, "key"); got != tc.want {
			t.Errorf("StripQueryParam(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
}

func TestChallenge(t *testing.T) {
	if got := Challenge("Bearer", "api", "invalid_token"); got != `Bearer realm="api", error="invalid_token"` {
		t.Fatal(got)
	}
	if got := Challenge("Key", "govoy", ""); got != `Key realm="govoy"` {
		t.Fatal(got)
	}
}
