package sofahessian

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govoy/govoy/filters/rpc/codec"
	"github.com/govoy/govoy/filters/rpc/codec/bolt"
)

// javaValues reads testdata/values.txt: "NAME HEX" lines written by sofa-hessian's Hessian2Output
// (integration/testdata/gatewaypeers/sofarpc, org.example.Grammar write).
func javaValues(t testing.TB) (names []string, vals map[string][]byte) {
	t.Helper()
	f, err := os.Open("testdata/values.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vals = map[string][]byte{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		name, h, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		names = append(names, name)
		vals[name] = b
	}
	return names, vals
}

func decodeAll(t testing.TB, b []byte) any {
	t.Helper()
	d := NewDecoder(b)
	v, err := d.Decode()
	if err != nil {
		t.Fatal(err)
	}
	if d.Remaining() != 0 {
		t.Fatalf("%d bytes left after the value", d.Remaining())
	}
	return v
}

func jsonOf(t testing.TB, v any) string {
	t.Helper()
	j, err := ToJSON(v)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestJavaValues decodes what sofa-hessian wrote and, for values without shared references,
// checks that encoding the decoded value gives Java's bytes back.
func TestJavaValues(t *testing.T) {
	names, vals := javaValues(t)
	want := map[string]string{
		"null": `null`, "true": `true`, "int0": `0`, "int-16": `-16`, "int48": `48`, "int-2048": `-2048`,
		"int2048": `2048`, "int-262144": `-262144`, "int262144": `262144`, "int-2147483648": `-2147483648`,
		"long15": `15`, "long-9": `-9`, "long2048": `2048`, "long-262144": `-262144`, "long262144": `262144`,
		"long1099511627776": `1099511627776`, "long-9223372036854775808": `-9223372036854775808`,
		"double-128.0": `-128`, "double1000.0": `1000`, "double-32768.0": `-32768`, "double0.5": `0.5`,
		"double3.14159": `3.14159`, "double1.0E300": `1e+300`, "float": `2.5`, "short": `1000`, "byte": `-3`,
		"char": `"x"`, "string-empty": `""`, "string-utf8": `"héllo 世界 😀"`,
		"string-32": `"0123456789abcdef0123456789abcdef"`, "bytes": `"AQID"`, "list": `["a",1,2]`,
		"aslist": `["x","y"]`, "emptylist": `[]`, "string-array": `["a","b"]`, "int-array": `[1,2,3]`,
		"object-array": `["a",1]`, "hashmap": `{"k":1}`, "linkedhashmap": `{"3":null,"a":[1,2]}`, "emptymap": `{}`,
		"pojo":           `{"active":false,"age":0,"attrs":null,"class":"org.example.User","friend":null,"id":7,"name":"n","score":0,"tags":["t"]}`,
		"pojo-cycle":     `[{"active":false,"age":0,"attrs":null,"class":"org.example.User","friend":{"active":false,"age":0,"attrs":null,"class":"org.example.User","friend":null,"id":0,"name":"b","score":0,"tags":null},"id":0,"name":"a","score":0,"tags":null},{"active":false,"age":0,"attrs":null,"class":"org.example.User","friend":{"active":false,"age":0,"attrs":null,"class":"org.example.User","friend":null,"id":0,"name":"a","score":0,"tags":null},"id":0,"name":"b","score":0,"tags":null},{"active":false,"age":0,"attrs":null,"class":"org.example.User","friend":{"active":false,"age":0,"attrs":null,"class":"org.example.User","friend":null,"id":0,"name":"b","score":0,"tags":null},"id":0,"name":"a","score":0,"tags":null}]`,
		"type-refs":      `[["x"],["y"],{},{}]`,
		"typed-map-refs": `[{"3":null,"a":[1,2]},{"3":null,"a":[1,2]}]`,
		"exception":      `{"class":"java.lang.IllegalStateException","message":"boom"}`,
		"date":           `"2023-11-14T22:13:20Z"`,
		"bigdecimal":     `"12.50"`,
	}
	// Shared references: our encoder writes no references, so these are not byte-identical.
	withRefs := map[string]bool{"pojo-cycle": true, "typed-map-refs": true, "refs-300": true, "exception": true}
	for _, name := range names {
		b := vals[name]
		v := decodeAll(t, b)
		got := jsonOf(t, v)
		if w, ok := want[name]; ok && got != w {
			t.Errorf("%s: JSON %s, want %s", name, got, w)
		}
		if name == "string-40000" && got != `"`+strings.Repeat("a", 40000)+`"` {
			t.Errorf("string-40000: wrong value")
		}
		if name == "refs-300" {
			l := v.(*List)
			if len(l.Items) != 302 || l.Items[300] != l.Items[299] || l.Items[301] != l.Items[3] || l.Items[0] == l.Items[1] {
				t.Errorf("refs-300: references not resolved to the shared lists")
			}
		}
		if withRefs[name] {
			continue
		}
		e := NewEncoder(nil)
		if err := e.Encode(v); err != nil {
			t.Fatalf("%s: encode: %v", name, err)
		}
		if !bytes.Equal(e.Bytes(), b) {
			t.Errorf("%s: encoded\n%x\nJava wrote\n%x", name, e.Bytes(), b)
		}
	}
	if len(names) < 60 {
		t.Fatalf("only %d Java values", len(names))
	}
}

// frameContent reads a captured Bolt frame and returns its class name and content.
func frameContent(t testing.TB, name string) (*bolt.Frame, []byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata/frames", name))
	if err != nil {
		t.Fatal(err)
	}
	f, n, err := bolt.Codec{}.Decode(raw, codec.FromUpstream, 0)
	if err != nil || f == nil || n != len(raw) {
		t.Fatalf("%s: bolt decode: %v (%d of %d bytes)", name, err, n, len(raw))
	}
	bf := f.(*bolt.Frame)
	return bf, bf.Content()
}

// TestCapturedRequests: what a SOFARPC 5.12 consumer sent decodes to the call it made, and
// AppendRequest writes the very same bytes for that call.
func TestCapturedRequests(t *testing.T) {
	cases := []struct {
		file, method string
		sigs         []string
		args         string // JSON of the arguments
	}{
		{"string", "sayHello", []string{"java.lang.String", "int"}, `["world",3]`},
		{"long", "twice", []string{"long"}, `[1099511627776]`},
		{"list", "reverse", []string{"java.util.List"}, `[["a","b","c"]]`},
		{"map", "lengths", []string{"java.util.Map"}, `[{"one":"1","three":"333"}]`},
		{"pojo", "rename", []string{"org.example.User", "java.lang.String"},
			`[{"active":true,"age":41,"attrs":{"team":"blue"},"class":"org.example.User","friend":null,"id":5,"name":"old","score":2.25,"tags":["x","y"]},"new"]`},
		{"pojo-result", "getUser", []string{"int"}, `[7]`},
		{"array-refs", "users", []string{"[Ljava.lang.String;"}, `[["ann","bob"]]`},
		{"exception", "fail", []string{"java.lang.String"}, `["on purpose"]`},
		{"unknown-service", "sayHello", []string{"java.lang.String", "int"}, `["x",1]`},
	}
	for _, c := range cases {
		f, content := frameContent(t, c.file+".request.bin")
		if f.Class() != RequestClass {
			t.Fatalf("%s: class %q", c.file, f.Class())
		}
		r, err := DecodeRequest(content)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		wantSvc := "org.example.GatewayService:1.0"
		if c.file == "unknown-service" {
			wantSvc = "org.example.GatewayService:9.9"
		}
		if r.Method != c.method || r.TargetService != wantSvc || strings.Join(r.ArgSigs, ",") != strings.Join(c.sigs, ",") {
			t.Errorf("%s: %s %s %v", c.file, r.Method, r.TargetService, r.ArgSigs)
		}
		if got := jsonOf(t, &List{Items: r.Args}); got != c.args {
			t.Errorf("%s: args %s, want %s", c.file, got, c.args)
		}
		if app, _ := r.Props.Get("app"); app != "gateway-client" {
			t.Errorf("%s: requestProps.app %v", c.file, app)
		}
		out, err := AppendRequest(nil, r)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, content) {
			t.Errorf("%s: AppendRequest wrote\n%x\nthe consumer wrote\n%x", c.file, out, content)
		}
	}
}

// TestCapturedResponses: what the SOFARPC provider answered.
func TestCapturedResponses(t *testing.T) {
	cases := []struct {
		file    string
		isError bool
		errMsg  string
		value   string // JSON of appResponse
		same    bool   // AppendResponse gives the same bytes (no shared references inside)
	}{
		{"string", false, "", `"hello world x3"`, true},
		{"long", false, "", `2199023255552`, true},
		{"list", false, "", `["c","b","a"]`, true},
		{"map", false, "", `{"one":1,"three":3}`, true},
		{"pojo", false, "", `{"active":true,"age":41,"attrs":{"team":"blue"},"class":"org.example.User","friend":null,"id":5,"name":"new","score":2.25,"tags":["x","y"]}`, true},
		{"pojo-result", false, "", `{"active":true,"age":30,"attrs":{"k":"v"},"class":"org.example.User","friend":null,"id":7,"name":"user-7","score":1.5,"tags":["a","b"]}`, true},
		{"array-refs", false, "", `[{"active":false,"age":0,"attrs":null,"class":"org.example.User","friend":{"active":false,"age":0,"attrs":null,"class":"org.example.User","friend":null,"id":1,"name":"bob","score":0,"tags":null},"id":0,"name":"ann","score":0,"tags":null},{"active":false,"age":0,"attrs":null,"class":"org.example.User","friend":null,"id":1,"name":"bob","score":0,"tags":null}]`, false},
		{"exception", false, "", `{"class":"java.lang.IllegalStateException","message":"provider failed: on purpose"}`, false},
		{"unknown-service", true, "RPC-020100010: RPC cannot find service: [org.example.GatewayService:9.9] ", `null`, true},
	}
	for _, c := range cases {
		f, content := frameContent(t, c.file+".response.bin")
		if f.Class() != ResponseClass || f.StatusCode() != bolt.StatusSuccess {
			t.Fatalf("%s: class %q status %d", c.file, f.Class(), f.StatusCode())
		}
		r, err := DecodeResponse(content)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if r.IsError != c.isError || r.ErrorMsg != c.errMsg {
			t.Errorf("%s: isError %v errorMsg %q", c.file, r.IsError, r.ErrorMsg)
		}
		if got := jsonOf(t, r.AppResponse); got != c.value {
			t.Errorf("%s: appResponse %s, want %s", c.file, got, c.value)
		}
		if _, thrown := IsThrowable(r.AppResponse); thrown != (c.file == "exception") {
			t.Errorf("%s: IsThrowable %v", c.file, thrown)
		}
		if !c.same {
			continue
		}
		out, err := AppendResponse(nil, r)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, content) {
			t.Errorf("%s: AppendResponse wrote\n%x\nthe provider wrote\n%x", c.file, out, content)
		}
	}
}

// TestRoundTrip: values the gateway writes come back unchanged.
func TestRoundTrip(t *testing.T) {
	long := strings.Repeat("é😀", 20000) // past one chunk, surrogate pairs at the boundary
	vals := []any{
		nil, true, int32(-262145), int64(-262145), int64(1 << 50), 0.1, -0.5, long, "", []byte(strings.Repeat("x", 70000)),
		time.UnixMilli(1700000000123).UTC(),
		&List{Type: "[int", Items: []any{int32(1)}}, &List{Type: "[int", Items: []any{int32(2), int32(3)}},
		&List{Items: make([]any, 300)},
		&Map{Type: "java.util.TreeMap", Keys: []any{"a"}, Values: []any{int32(1)}}, &Map{Type: "java.util.TreeMap"},
		&Object{Class: "a.B", Fields: []string{"x"}, Values: []any{"1"}}, &Object{Class: "a.B", Fields: []string{"x"}, Values: []any{"2"}},
	}
	e := NewEncoder(nil)
	for _, v := range vals {
		if err := e.Encode(v); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Encode(map[string]any{"b": []any{int64(1)}, "a": nil}); err != nil {
		t.Fatal(err)
	}
	d := NewDecoder(e.Bytes())
	for i, v := range vals {
		got, err := d.Decode()
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if jsonOf(t, got) != jsonOf(t, v) {
			t.Errorf("%d: got %.80s, want %.80s", i, jsonOf(t, got), jsonOf(t, v))
		}
	}
	if m, err := d.Decode(); err != nil || jsonOf(t, m) != `{"a":null,"b":[1]}` {
		t.Errorf("map[string]any: %v %v", m, err)
	}
	if d.Remaining() != 0 {
		t.Errorf("%d bytes left", d.Remaining())
	}
}

func TestDecodeErrors(t *testing.T) {
	deep := bytes.Repeat([]byte{'V'}, 100)
	cases := map[string][]byte{
		"empty":             {},
		"unknown code":      {0x43, 0x90},
		"short string":      {0x05, 'a'},
		"bad utf-8":         {0x01, 0xff},
		"ref out of range":  {'J', 3},
		"class ref":         {'o', 0x90},
		"deep":              deep,
		"list unterminated": {'V', 'n', 1, 0x90},
		"fixed list long":   {'V', 'V', 't', 0, 1, 'x', 'z', 'v', 0x90, 0xbf, 'z'},
		"type ref":          {'M', 'u', 0x91, 'z'},
		"string length":     {'S', 0xff, 0xff, 'a'},
		"bytes chunk":       {'b', 0, 1, 'x'},
		"class name":        {'O', 0x90, 0x90, 'o', 0x90},
	}
	for name, b := range cases {
		_, err := NewDecoder(b).Decode()
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	if _, err := DecodeResponse([]byte{0x90}); err == nil || !strings.Contains(err.Error(), "want a com.alipay.sofa.rpc.core.response.SofaResponse object, got a int32") {
		t.Errorf("not a response: %v", err)
	}
}

// TestToJSONBounds: a cycle becomes null, and a value growing by shared references is refused.
func TestToJSONBounds(t *testing.T) {
	self := &Map{Keys: []any{"me"}}
	self.Values = []any{self}
	if got := jsonOf(t, self); got != `{"me":null}` {
		t.Errorf("cycle: %s", got)
	}
	l := &List{Items: []any{"x"}}
	for range 30 {
		l = &List{Items: []any{l, l}}
	}
	if _, err := ToJSON(l); !errors.Is(err, ErrTooLarge) {
		t.Errorf("2^30 nodes: %v", err)
	}
}
