package hessianscan

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	hessian "github.com/apache/dubbo-go-hessian2"
)

type user struct {
	Name  string
	Age   int32
	Tags  []string
	Boss  *user
	Attrs map[string]string
}

func (user) JavaClassName() string { return "org.example.User" }

func init() { hessian.RegisterPOJO(&user{}) }

func encode(t testing.TB, vals ...any) []byte {
	t.Helper()
	e := hessian.NewEncoder()
	for _, v := range vals {
		if err := e.Encode(v); err != nil {
			t.Fatalf("encode %T: %v", v, err)
		}
	}
	return e.Buffer()
}

// values covers every tag family dubbo-go-hessian2 writes.
func values() []any {
	boss := &user{Name: "boss", Age: 60}
	return []any{
		nil, true, false,
		int32(0), int32(-16), int32(47), int32(-2048), int32(2047), int32(-262144), int32(262143), int32(math.MaxInt32), int32(math.MinInt32),
		int64(0), int64(-8), int64(15), int64(-2048), int64(2047), int64(-262144), int64(262143), int64(math.MaxInt32), int64(math.MaxInt64), int64(math.MinInt64),
		0.0, 1.0, 12.0, -300.0, 12.25, math.Pi, 1e300,
		"", "a", strings.Repeat("x", 31), strings.Repeat("y", 32), strings.Repeat("é", 1023), strings.Repeat("z", 1024),
		strings.Repeat("長", 40000), "emoji 😀 inside", strings.Repeat("😀", 20000),
		[]byte{}, []byte{1, 2, 3}, make([]byte, 15), make([]byte, 16), make([]byte, 1023), make([]byte, 1024), make([]byte, 70000),
		time.UnixMilli(1700000000123), time.Unix(1700000040, 0),
		[]string{"a", "b"}, []int32{1, 2, 3}, []any{"x", int64(2), nil, []any{map[string]any{"k": "v"}}},
		map[string]string{"k1": "v1", "k2": "v2"}, map[any]any{int64(1): "one", "two": []any{int32(2)}},
		&user{Name: "alice", Age: 30, Tags: []string{"t"}, Boss: boss, Attrs: map[string]string{"a": "b"}},
		[]*user{{Name: "u1"}, {Name: "u2", Boss: boss}},
	}
}

func TestSkipMatchesLibrary(t *testing.T) {
	for i, v := range values() {
		b := encode(t, v)
		// The library must accept what we skip; the scanner must consume exactly the value.
		if _, err := hessian.NewDecoder(b).Decode(); err != nil {
			t.Fatalf("value %d (%T): library decode: %v", i, v, err)
		}
		s := New(b)
		if err := s.Skip(); err != nil {
			t.Fatalf("value %d (%T): skip: %v", i, v, err)
		}
		if s.Remaining() != 0 {
			t.Fatalf("value %d (%T): skip left %d of %d bytes", i, v, s.Remaining(), len(b))
		}
	}
}

func TestSkipSequenceWithSharedClassDefs(t *testing.T) {
	// One encoder for all values: later objects refer to class definitions written earlier.
	vals := values()
	b := encode(t, vals...)
	s := New(b)
	for i := range vals {
		if err := s.Skip(); err != nil {
			t.Fatalf("value %d: %v", i, err)
		}
	}
	if s.Remaining() != 0 {
		t.Fatalf("%d bytes left", s.Remaining())
	}
}

func TestStringMatchesLibrary(t *testing.T) {
	for _, want := range []string{"", "org.example.DemoService", strings.Repeat("é", 1023), strings.Repeat("長", 40000), "a😀b", strings.Repeat("😀", 20000)} {
		b := encode(t, want)
		lib, err := hessian.NewDecoder(b).Decode()
		if err != nil {
			t.Fatal(err)
		}
		got, ok, err := New(b).String()
		if err != nil || !ok {
			t.Fatalf("String(%.20q): ok=%v err=%v", want, ok, err)
		}
		if got != want || got != lib.(string) {
			t.Fatalf("String: got %d bytes, want %d (library %d)", len(got), len(want), len(lib.(string)))
		}
	}
	if _, ok, err := New(encode(t, nil)).String(); ok || err != nil {
		t.Fatalf("null string: ok=%v err=%v", ok, err)
	}
}

func TestStringIsZeroCopy(t *testing.T) {
	b := encode(t, "org.example.DemoService")
	allocs := testing.AllocsPerRun(100, func() {
		s := Scanner{b: b}
		if _, _, err := s.String(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("String allocates %v times", allocs)
	}
}

func TestIntMatchesLibrary(t *testing.T) {
	for _, v := range values() {
		var want int64
		switch x := v.(type) {
		case int32:
			want = int64(x)
		case int64:
			want = x
		default:
			continue
		}
		got, err := New(encode(t, v)).Int()
		if err != nil || got != want {
			t.Fatalf("Int(%d) = %d, %v", want, got, err)
		}
	}
}

func TestScalarAndMap(t *testing.T) {
	b := encode(t, map[string]any{"s": "v", "i": int32(3000), "l": int64(-5), "b": true, "list": []string{"x"}})
	s := New(b)
	if ok, err := s.MapStart(); !ok || err != nil {
		t.Fatalf("MapStart: %v %v", ok, err)
	}
	got := map[string]string{}
	for !s.End() {
		k, _, err := s.String()
		if err != nil {
			t.Fatal(err)
		}
		v, ok, err := s.Scalar()
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			got[k] = v
		}
	}
	want := map[string]string{"s": "v", "i": "3000", "l": "-5", "b": "true"}
	if len(got) != len(want) {
		t.Fatalf("got %v want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s: got %q want %q", k, got[k], v)
		}
	}
	if s.Remaining() != 0 {
		t.Fatalf("%d bytes left", s.Remaining())
	}
}

func TestBadInputErrors(t *testing.T) {
	cases := map[string][]byte{
		"truncated int":         {'I', 0, 0},
		"truncated string":      {0x05, 'a', 'b'},
		"reserved tag":          {'E'},
		"stray end":             {'Z'},
		"undefined class":       {0x61},
		"huge list":             {'X', 'I', 0x7f, 0xff, 0xff, 0xff},
		"unterminated map":      {'H', 0x01, 'a', 0x01, 'b'},
		"bad utf8":              {0x02, 0xff, 0xff},
		"binary chunk then int": {'A', 0, 1, 0, 0x90},
	}
	for name, b := range cases {
		err := New(b).Skip()
		if err == nil {
			t.Errorf("%s: no error", name)
		} else if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: unclassified error %v", name, err)
		}
	}
	deep := append([]byte(strings.Repeat("W", MaxDepth+1)), 'N')
	if err := New(deep).Skip(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("deep nesting: %v", err)
	}
}

func FuzzSkip(f *testing.F) {
	for _, v := range values()[:40] {
		f.Add(encode(f, v))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := New(b)
		for s.Remaining() > 0 {
			before := s.Pos()
			if err := s.Skip(); err != nil {
				return
			}
			if s.Pos() <= before || s.Pos() > len(b) {
				t.Fatalf("skip moved from %d to %d of %d", before, s.Pos(), len(b))
			}
		}
	})
}

// errClass names the error class a scan failure carries.
func errClass(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrTruncated):
		return "truncated"
	case errors.Is(err, ErrInvalid):
		return "invalid"
	}
	return "unclassified: " + err.Error()
}

// FuzzSkipMatchesReference checks the scanner against the previous implementation (ref_test.go):
// the same reads (Skip, String, Scalar, chosen by ops) end at the same offsets with the same
// results and error classes.
func FuzzSkipMatchesReference(f *testing.F) {
	for _, v := range values() {
		f.Add(encode(f, v), []byte{0})
		f.Add(encode(f, v, "k", v), []byte{1, 2, 0})
		f.Add(encode(f, "key", v, "a longer key of 20 b", v), []byte{3, 3, 3, 3})
	}
	f.Fuzz(func(t *testing.T, b, ops []byte) {
		if len(ops) == 0 {
			ops = []byte{0}
		}
		s, r := New(b), newRef(b)
		for i := 0; s.Remaining() > 0 && i < 64; i++ {
			var got, want string
			var gerr, werr error
			switch ops[i%len(ops)] % 4 {
			case 0:
				gerr, werr = s.Skip(), r.Skip()
			case 1:
				var gok, wok bool
				got, gok, gerr = s.String()
				want, wok, werr = r.String()
				if gok != wok {
					t.Fatalf("step %d String ok %v, reference %v", i, gok, wok)
				}
			case 3: // the fast path must agree with String where it answers, and consume nothing otherwise
				before := s.Pos()
				start, n := s.ShortASCIISpan()
				if n < 0 {
					if s.Pos() != before {
						t.Fatalf("step %d: ShortASCIISpan declined but moved from %d to %d", i, before, s.Pos())
					}
					got, _, gerr = s.String()
				} else {
					got = string(b[start : start+n])
				}
				want, _, werr = r.String()
			case 2:
				var gok, wok bool
				got, gok, gerr = s.Scalar()
				want, wok, werr = r.Scalar()
				if gok != wok {
					t.Fatalf("step %d Scalar ok %v, reference %v", i, gok, wok)
				}
			}
			if errClass(gerr) != errClass(werr) || got != want || s.Pos() != r.Pos() {
				t.Fatalf("step %d op %d: got (%q, %v, pos %d), reference (%q, %v, pos %d)", i, ops[i%len(ops)]%4, got, gerr, s.Pos(), want, werr, r.Pos())
			}
			if gerr != nil {
				return
			}
		}
	})
}

// TestResetAtKeepsClasses: a scanner restarted in the middle of the data with the class table an
// earlier scan saw reads objects that refer to those classes.
func TestResetAtKeepsClasses(t *testing.T) {
	u := &user{Name: "a", Tags: []string{"t"}}
	b := encode(t, u, "mid", &user{Name: "b"}, []*user{{Name: "c"}, {Name: "d"}})
	s := New(b)
	if err := s.Skip(); err != nil {
		t.Fatal(err)
	}
	mid := s.Pos()
	if s.NumClasses() != 1 || s.Class(0) != 5 {
		t.Fatalf("class table %d entries, first %d fields", s.NumClasses(), s.Class(0))
	}
	classes := []int{s.Class(0)}
	want := len(b)
	var r Scanner
	r.ResetAt(b, mid, classes)
	for r.Remaining() > 0 {
		if err := r.Skip(); err != nil {
			t.Fatalf("after ResetAt: %v", err)
		}
	}
	if r.Pos() != want {
		t.Fatalf("ended at %d of %d", r.Pos(), want)
	}
	// Without the table the object reference at mid is undefined.
	r.ResetAt(b, mid, nil)
	_ = r.Skip() // "mid"
	if err := r.Skip(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("object without its class: %v", err)
	}
}

// TestManyClasses covers class tables longer than the scanner's inline storage.
func TestManyClasses(t *testing.T) {
	var b []byte
	for i := range 20 {
		// A class definition with i+1 fields, then an instance of it.
		b = append(b, 'C', byte(3), 'c', 'l', byte('a'+i))
		b = append(b, byte(0x90+i+1))
		for j := range i + 1 {
			b = append(b, 1, byte('a'+j))
		}
		b = append(b, 'O', byte(0x90+i))
		for range i + 1 {
			b = append(b, 'T')
		}
	}
	b = append(b, 'O', 0x90+19) // refers to the last class again
	for range 20 {
		b = append(b, 'N')
	}
	s := New(b)
	for s.Remaining() > 0 {
		if err := s.Skip(); err != nil {
			t.Fatalf("at %d: %v", s.Pos(), err)
		}
	}
	if s.NumClasses() != 20 || s.Class(19) != 20 || s.Class(3) != 4 {
		t.Fatalf("%d classes, class 19 has %d fields", s.NumClasses(), s.Class(19))
	}
	s.Reset(b)
	if s.NumClasses() != 0 {
		t.Fatal("Reset kept the class table")
	}
}
