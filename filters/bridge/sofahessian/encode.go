// Package sofahessian writes and reads the Hessian 2 *draft* grammar that SOFARPC 5 speaks on
// Bolt (sofa-hessian 3.5.x, Caucho Hessian 3.1 lineage), which differs from the final Hessian 2
// grammar dubbo-go-hessian2 writes: class definitions are 'O' len name count fields and instances
// 'o' ref; lists are 'V' [type] [length] ... 'z' (or 'v' typeref length ... without 'z'); maps
// 'M' [type] ... 'z'; types 't' len16 name or a reference; object references 'J'/'K'/'R'; longs
// fitting 32 bits 'w'; doubles 0x67..0x6b; dates 'd'. The grammar was read off bytes sofa-hessian
// itself writes (testdata/values.txt, produced by integration/testdata/gatewaypeers/sofarpc).
//
// The package knows SofaRequest (what a SOFARPC consumer sends) and SofaResponse (the answer).
package sofahessian

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf16"
)

// Object is a Java object: its class and fields in order.
type Object struct {
	Class  string
	Fields []string
	Values []any // one per field
}

// Get returns the value of field name and whether the object has it.
func (o *Object) Get(name string) (any, bool) {
	for i, f := range o.Fields {
		if f == name && i < len(o.Values) {
			return o.Values[i], true
		}
	}
	return nil, false
}

// List is a Java collection or array; Type is the Hessian type ("" untyped = ArrayList,
// "[string" = String[], "java.util.HashSet", ...).
type List struct {
	Type  string
	Items []any
}

// Map is a Java map with its entries in order; Type "" is a HashMap.
type Map struct {
	Type   string
	Keys   []any
	Values []any
}

// Get returns the value of the first entry whose key is the string k.
func (m *Map) Get(k string) (any, bool) {
	for i, key := range m.Keys {
		if s, ok := key.(string); ok && s == k {
			return m.Values[i], true
		}
	}
	return nil, false
}

// Encoder appends values to a buffer. Class definitions and type names are written once and
// referenced afterwards, as sofa-hessian does, so one Encoder must write one Hessian stream.
type Encoder struct {
	buf     []byte
	classes map[string]int // class + "\x00" + fields → definition index
	types   map[string]int // list/map type → type reference
	depth   int
}

// MaxTypeLen bounds class and type names (the draft writes list and map types with 16-bit lengths).
const MaxTypeLen = 4096

// MaxDepth bounds the nesting of values both ways.
const MaxDepth = 64

// NewEncoder appends to dst.
func NewEncoder(dst []byte) *Encoder { return &Encoder{buf: dst} }

// Bytes is everything written so far (dst included).
func (e *Encoder) Bytes() []byte { return e.buf }

// Encode writes v: nil, bool, the Go integer types (int8/int16/int32 as int, int/int64 as
// long), float32/float64 (double), string, []byte, time.Time (date), []any, map[string]any (keys
// sorted), *List, *Map, *Object.
func (e *Encoder) Encode(v any) error {
	e.depth++
	defer func() { e.depth-- }()
	if e.depth > MaxDepth {
		return fmt.Errorf("sofahessian: values nested deeper than %d", MaxDepth)
	}
	switch t := v.(type) {
	case nil:
		e.buf = append(e.buf, 'N')
	case bool:
		if t {
			e.buf = append(e.buf, 'T')
		} else {
			e.buf = append(e.buf, 'F')
		}
	case int8:
		e.writeInt(int32(t))
	case int16:
		e.writeInt(int32(t))
	case int32:
		e.writeInt(t)
	case uint8:
		e.writeInt(int32(t))
	case uint16:
		e.writeInt(int32(t))
	case int:
		e.writeLong(int64(t))
	case int64:
		e.writeLong(t)
	case float32:
		e.writeDouble(float64(t))
	case float64:
		e.writeDouble(t)
	case string:
		e.writeString(t)
	case []byte:
		e.writeBytes(t)
	case time.Time:
		e.buf = append(e.buf, 'd')
		e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(t.UnixMilli()))
	case []any:
		return e.writeList("", t)
	case *List:
		if t == nil {
			e.buf = append(e.buf, 'N')
			return nil
		}
		if len(t.Type) > MaxTypeLen {
			return fmt.Errorf("sofahessian: list type of %d bytes (at most %d)", len(t.Type), MaxTypeLen)
		}
		return e.writeList(t.Type, t.Items)
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		e.buf = append(e.buf, 'M')
		for _, k := range keys {
			e.writeString(k)
			if err := e.Encode(t[k]); err != nil {
				return fmt.Errorf("map key %q: %w", k, err)
			}
		}
		e.buf = append(e.buf, 'z')
	case *Map:
		if t == nil {
			e.buf = append(e.buf, 'N')
			return nil
		}
		if len(t.Type) > MaxTypeLen {
			return fmt.Errorf("sofahessian: map type of %d bytes (at most %d)", len(t.Type), MaxTypeLen)
		}
		if len(t.Keys) != len(t.Values) {
			return fmt.Errorf("sofahessian: map of %d keys and %d values", len(t.Keys), len(t.Values))
		}
		e.buf = append(e.buf, 'M')
		e.writeType(t.Type, 'u')
		for i, k := range t.Keys {
			if err := e.Encode(k); err != nil {
				return fmt.Errorf("map key %d: %w", i, err)
			}
			if err := e.Encode(t.Values[i]); err != nil {
				return fmt.Errorf("map value %v: %w", k, err)
			}
		}
		e.buf = append(e.buf, 'z')
	case *Object:
		if t == nil {
			e.buf = append(e.buf, 'N')
			return nil
		}
		return e.writeObject(t)
	default:
		return fmt.Errorf("sofahessian: cannot encode %T", v)
	}
	return nil
}

// writeInt uses the shortest of the draft's int forms.
func (e *Encoder) writeInt(v int32) {
	switch {
	case v >= -16 && v <= 47:
		e.buf = append(e.buf, byte(0x90+v))
	case v >= -2048 && v <= 2047:
		e.buf = append(e.buf, byte(0xc8+(v>>8)), byte(v))
	case v >= -262144 && v <= 262143:
		e.buf = append(e.buf, byte(0xd4+(v>>16)), byte(v>>8), byte(v))
	default:
		e.buf = append(e.buf, 'I')
		e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(v))
	}
}

func (e *Encoder) writeLong(v int64) {
	switch {
	case v >= -8 && v <= 15:
		e.buf = append(e.buf, byte(0xe0+v))
	case v >= -2048 && v <= 2047:
		e.buf = append(e.buf, byte(0xf8+(v>>8)), byte(v))
	case v >= -262144 && v <= 262143:
		e.buf = append(e.buf, byte(0x3c+(v>>16)), byte(v>>8), byte(v))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		e.buf = append(e.buf, 'w')
		e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(v))
	default:
		e.buf = append(e.buf, 'L')
		e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(v))
	}
}

func (e *Encoder) writeDouble(v float64) {
	if i := int32(v); float64(i) == v && !math.IsInf(v, 0) {
		switch {
		case i == 0:
			e.buf = append(e.buf, 0x67)
			return
		case i == 1:
			e.buf = append(e.buf, 0x68)
			return
		case i >= math.MinInt8 && i <= math.MaxInt8:
			e.buf = append(e.buf, 0x69, byte(i))
			return
		case i >= math.MinInt16 && i <= math.MaxInt16:
			e.buf = append(e.buf, 0x6a, byte(i>>8), byte(i))
			return
		}
	}
	if f := float32(v); float64(f) == v {
		e.buf = append(e.buf, 0x6b)
		e.buf = binary.BigEndian.AppendUint32(e.buf, math.Float32bits(f))
		return
	}
	e.buf = append(e.buf, 'D')
	e.buf = binary.BigEndian.AppendUint64(e.buf, math.Float64bits(v))
}

// chunk is the longest string or byte chunk sofa-hessian writes.
const chunk = 0x8000

// writeString writes s with lengths in UTF-16 units and characters outside the BMP as two
// 3-byte surrogates (Java's per-char UTF-8), as sofa-hessian reads them.
func (e *Encoder) writeString(s string) {
	units := utf16Len(s)
	for units > chunk {
		n, rest := cutUnits(s, chunk)
		e.buf = append(e.buf, 's', byte(n>>8), byte(n))
		e.appendChars(s[:len(s)-len(rest)])
		s, units = rest, units-n
	}
	if units <= 31 {
		e.buf = append(e.buf, byte(units))
	} else {
		e.buf = append(e.buf, 'S', byte(units>>8), byte(units))
	}
	e.appendChars(s)
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r > 0xffff {
			n++
		}
	}
	return n
}

// cutUnits splits s after at most max UTF-16 units without splitting a surrogate pair.
func cutUnits(s string, max int) (int, string) {
	n := 0
	for i, r := range s {
		w := 1
		if r > 0xffff {
			w = 2
		}
		if n+w > max {
			return n, s[i:]
		}
		n += w
	}
	return n, ""
}

func (e *Encoder) appendChars(s string) {
	for _, r := range s {
		if r > 0xffff {
			hi, lo := utf16.EncodeRune(r)
			e.appendUnit(hi)
			e.appendUnit(lo)
			continue
		}
		e.appendUnit(r)
	}
}

func (e *Encoder) appendUnit(r rune) {
	switch {
	case r < 0x80:
		e.buf = append(e.buf, byte(r))
	case r < 0x800:
		e.buf = append(e.buf, byte(0xc0|r>>6), byte(0x80|r&0x3f))
	default:
		e.buf = append(e.buf, byte(0xe0|r>>12), byte(0x80|(r>>6)&0x3f), byte(0x80|r&0x3f))
	}
}

func (e *Encoder) writeBytes(b []byte) {
	for len(b) > chunk {
		e.buf = append(e.buf, 'b', byte(chunk>>8), byte(chunk&0xff))
		e.buf = append(e.buf, b[:chunk]...)
		b = b[chunk:]
	}
	if len(b) <= 15 {
		e.buf = append(e.buf, byte(0x20+len(b)))
	} else {
		e.buf = append(e.buf, 'B', byte(len(b)>>8), byte(len(b)))
	}
	e.buf = append(e.buf, b...)
}

// writeType writes a list or map type: 't' name the first time, then a reference (refCode 'u'
// for maps; lists use the 'v' form, see writeList).
func (e *Encoder) writeType(typ string, refCode byte) {
	if typ == "" {
		return
	}
	if ref, ok := e.types[typ]; ok {
		e.buf = append(e.buf, refCode)
		e.writeInt(int32(ref))
		return
	}
	if e.types == nil {
		e.types = map[string]int{}
	}
	e.types[typ] = len(e.types)
	n := utf16Len(typ) // callers keep type names short (MaxTypeLen)
	e.buf = append(e.buf, 't', byte(n>>8), byte(n))
	e.appendChars(typ)
}

// writeList writes 'v' typeref length items when the type was written before (no 'z', as
// sofa-hessian does), else 'V' [type] length items 'z'.
func (e *Encoder) writeList(typ string, items []any) error {
	ref, known := e.types[typ]
	known = known && typ != ""
	if known {
		e.buf = append(e.buf, 'v')
		e.writeInt(int32(ref))
		e.writeInt(int32(len(items)))
	} else {
		e.buf = append(e.buf, 'V')
		e.writeType(typ, 'u')
		if len(items) <= 0xff {
			e.buf = append(e.buf, 'n', byte(len(items)))
		} else {
			e.buf = append(e.buf, 'l')
			e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(len(items)))
		}
	}
	for i, it := range items {
		if err := e.Encode(it); err != nil {
			return fmt.Errorf("[%d]: %w", i, err)
		}
	}
	if !known {
		e.buf = append(e.buf, 'z')
	}
	return nil
}

func (e *Encoder) writeObject(o *Object) error {
	if len(o.Class) > MaxTypeLen || o.Class == "" {
		return fmt.Errorf("sofahessian: object class name of %d bytes (1..%d)", len(o.Class), MaxTypeLen)
	}
	if len(o.Fields) != len(o.Values) {
		return fmt.Errorf("sofahessian: object %s has %d fields and %d values", o.Class, len(o.Fields), len(o.Values))
	}
	key := o.Class + "\x00" + strings.Join(o.Fields, "\x00")
	def, ok := e.classes[key]
	if !ok {
		if e.classes == nil {
			e.classes = map[string]int{}
		}
		def = len(e.classes)
		e.classes[key] = def
		e.buf = append(e.buf, 'O')
		e.writeInt(int32(utf16Len(o.Class)))
		e.appendChars(o.Class)
		e.writeInt(int32(len(o.Fields)))
		for _, f := range o.Fields {
			e.writeString(f)
		}
	}
	e.buf = append(e.buf, 'o')
	e.writeInt(int32(def))
	for i, v := range o.Values {
		if err := e.Encode(v); err != nil {
			return fmt.Errorf("%s.%s: %w", o.Class, o.Fields[i], err)
		}
	}
	return nil
}
