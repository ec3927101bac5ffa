package configcheck

import (
	"fmt"
	"strings"
	"testing"
)

func TestJSONPathAt(t *testing.T) {
	js := []byte(`{"a": {"b": [1, {"c": true}, [5, 6]]}, "d": "x"}`)
	for _, tc := range []struct{ at, want string }{
		{`"a"`, "a"},
		{`1,`, "a.b[0]"},
		{`"c"`, "a.b[1].c"},
		{`true`, "a.b[1].c"},
		{`6]`, "a.b[2][1]"},
		{`"x"`, "d"},
	} {
		off := strings.Index(string(js), tc.at)
		if got := jsonPathAt(js, off); got != tc.want {
			t.Errorf("at %s (offset %d): got %q, want %q", tc.at, off, got, tc.want)
		}
	}
}

func TestLocateJSONErrorMultiLine(t *testing.T) {
	js := []byte("{\n  \"admin\": {\n    \"adress\": 1\n  }\n}")
	// protojson counts columns from 1: "adress" starts at line 3, column 5.
	if got := locateJSONError(js, `proto: (line 3:5): unknown field "adress"`); got != "admin.adress" {
		t.Fatalf("got %q", got)
	}
	if got := locateJSONError(js, "no position here"); got != "" {
		t.Fatalf("got %q", got)
	}
}

// FuzzJSONPathAt: any bytes and offset give a path or "", never a panic.
func FuzzJSONPathAt(f *testing.F) {
	f.Add([]byte(`{"a": {"b": [1, {"c": true}, [5, 6]]}, "d": "x"}`), 20)
	f.Add([]byte(`[[[]]]`), 3)
	f.Add([]byte(`{"a": ]`), 6)
	f.Fuzz(func(t *testing.T, js []byte, off int) {
		_ = jsonPathAt(js, off)
		_ = locateJSONError(js, fmt.Sprintf("proto: (line %d:%d): x", off%7, off))
	})
}
