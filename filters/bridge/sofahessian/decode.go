package sofahessian

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf16"
)

// ErrMalformed wraps every decoding error.
var ErrMalformed = errors.New("sofahessian: malformed")

type classDef struct {
	name   string
	fields []string
}

// Decoder reads values from one Hessian stream; references, class definitions and types are
// shared by the values read in order, as in sofa-hessian.
type Decoder struct {
	buf     []byte
	pos     int
	refs    []any
	classes []classDef
	types   []string
	depth   int
}

// NewDecoder reads b (not copied; strings are).
func NewDecoder(b []byte) *Decoder { return &Decoder{buf: b} }

// Remaining is the number of bytes not read yet.
func (d *Decoder) Remaining() int { return len(d.buf) - d.pos }

// Decode reads one value: nil, bool, int32 (int), int64 (long), float64 (double), string,
// []byte, time.Time (date), *List, *Map or *Object. References make shared and cyclic values
// point to the same *List/*Map/*Object.
func (d *Decoder) Decode() (any, error) {
	return d.value()
}

func (d *Decoder) errf(format string, a ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrMalformed, d.pos, fmt.Sprintf(format, a...))
}

func (d *Decoder) byte1() (byte, error) {
	if d.pos >= len(d.buf) {
		return 0, d.errf("unexpected end of data")
	}
	b := d.buf[d.pos]
	d.pos++
	return b, nil
}

func (d *Decoder) next(n int) ([]byte, error) {
	if n < 0 || len(d.buf)-d.pos < n {
		return nil, d.errf("%d bytes needed, %d left", n, len(d.buf)-d.pos)
	}
	b := d.buf[d.pos : d.pos+n]
	d.pos += n
	return b, nil
}

func (d *Decoder) peek() (byte, bool) {
	if d.pos >= len(d.buf) {
		return 0, false
	}
	return d.buf[d.pos], true
}

func (d *Decoder) value() (any, error) {
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > MaxDepth {
		return nil, d.errf("values nested deeper than %d", MaxDepth)
	}
	for {
		c, err := d.byte1()
		if err != nil {
			return nil, err
		}
		switch {
		case c == 'N':
			return nil, nil
		case c == 'T':
			return true, nil
		case c == 'F':
			return false, nil
		case c <= 0x1f || c == 'S' || c == 's':
			d.pos--
			return d.str()
		case c >= 0x20 && c <= 0x2f || c == 'B' || c == 'b':
			d.pos--
			return d.bytes()
		case c >= 0x80 && c <= 0xd7 || c == 'I':
			d.pos--
			return d.int32()
		case c >= 0xd8 || c >= 0x38 && c <= 0x3f || c == 'w' || c == 'L':
			return d.long(c)
		case c >= 0x67 && c <= 0x6b || c == 'D':
			return d.double(c)
		case c == 'd':
			b, err := d.next(8)
			if err != nil {
				return nil, err
			}
			return time.UnixMilli(int64(binary.BigEndian.Uint64(b))).UTC(), nil
		case c == 'J' || c == 'K' || c == 'R':
			return d.ref(c)
		case c == 'V':
			return d.list()
		case c == 'v':
			return d.fixedList()
		case c == 'M':
			return d.mapValue()
		case c == 'O':
			if err := d.classDef(); err != nil {
				return nil, err
			}
			continue // the instance follows
		case c == 'o':
			return d.object()
		default:
			return nil, d.errf("unknown code 0x%02x", c)
		}
	}
}

// int32 reads an int value (used for metadata too: lengths, references, counts).
func (d *Decoder) int32() (int32, error) {
	c, err := d.byte1()
	if err != nil {
		return 0, err
	}
	switch {
	case c >= 0x80 && c <= 0xbf:
		return int32(c) - 0x90, nil
	case c >= 0xc0 && c <= 0xcf:
		b, err := d.byte1()
		return (int32(c)-0xc8)<<8 | int32(b), err
	case c >= 0xd0 && c <= 0xd7:
		b, err := d.next(2)
		if err != nil {
			return 0, err
		}
		return (int32(c)-0xd4)<<16 | int32(b[0])<<8 | int32(b[1]), nil
	case c == 'I':
		b, err := d.next(4)
		if err != nil {
			return 0, err
		}
		return int32(binary.BigEndian.Uint32(b)), nil
	}
	return 0, d.errf("want an int, got code 0x%02x", c)
}

// count reads an int that must be a length or index in 0..max.
func (d *Decoder) count(what string, max int) (int, error) {
	n, err := d.int32()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	if n < 0 || int(n) > max {
		return 0, d.errf("%s %d out of range 0..%d", what, n, max)
	}
	return int(n), nil
}

func (d *Decoder) long(c byte) (int64, error) {
	switch {
	case c >= 0xd8 && c <= 0xef:
		return int64(c) - 0xe0, nil
	case c >= 0xf0:
		b, err := d.byte1()
		return (int64(c)-0xf8)<<8 | int64(b), err
	case c >= 0x38 && c <= 0x3f:
		b, err := d.next(2)
		if err != nil {
			return 0, err
		}
		return (int64(c)-0x3c)<<16 | int64(b[0])<<8 | int64(b[1]), nil
	case c == 'w':
		b, err := d.next(4)
		if err != nil {
			return 0, err
		}
		return int64(int32(binary.BigEndian.Uint32(b))), nil
	default: // 'L'
		b, err := d.next(8)
		if err != nil {
			return 0, err
		}
		return int64(binary.BigEndian.Uint64(b)), nil
	}
}

func (d *Decoder) double(c byte) (float64, error) {
	switch c {
	case 0x67:
		return 0, nil
	case 0x68:
		return 1, nil
	case 0x69:
		b, err := d.byte1()
		return float64(int8(b)), err
	case 0x6a:
		b, err := d.next(2)
		if err != nil {
			return 0, err
		}
		return float64(int16(binary.BigEndian.Uint16(b))), nil
	case 0x6b:
		b, err := d.next(4)
		if err != nil {
			return 0, err
		}
		return float64(math.Float32frombits(binary.BigEndian.Uint32(b))), nil
	default: // 'D'
		b, err := d.next(8)
		if err != nil {
			return 0, err
		}
		return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
	}
}

// str reads a string: compact (0x00-0x1f), 'S' final or 's' chunks then a final part; lengths
// count UTF-16 units.
func (d *Decoder) str() (string, error) {
	var units []uint16
	for {
		c, err := d.byte1()
		if err != nil {
			return "", err
		}
		var n int
		final := true
		switch {
		case c <= 0x1f:
			n = int(c)
		case c == 'S' || c == 's':
			b, err := d.next(2)
			if err != nil {
				return "", err
			}
			n = int(binary.BigEndian.Uint16(b))
			final = c == 'S'
		default:
			return "", d.errf("want a string, got code 0x%02x", c)
		}
		if n > len(d.buf)-d.pos { // every unit takes at least one byte
			return "", d.errf("string of %d characters, %d bytes left", n, len(d.buf)-d.pos)
		}
		if final && units == nil && isASCII(d.buf[d.pos:d.pos+n]) { // the common case: one byte per unit
			d.pos += n
			return string(d.buf[d.pos-n : d.pos]), nil
		}
		if units == nil {
			units = make([]uint16, 0, n)
		}
		for range n {
			u, err := d.unit()
			if err != nil {
				return "", err
			}
			units = append(units, u)
		}
		if final {
			return string(utf16.Decode(units)), nil
		}
	}
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// unit reads one UTF-16 unit written as 1 to 3 UTF-8 bytes.
func (d *Decoder) unit() (uint16, error) {
	c, err := d.byte1()
	if err != nil {
		return 0, err
	}
	switch {
	case c < 0x80:
		return uint16(c), nil
	case c&0xe0 == 0xc0:
		b, err := d.byte1()
		if err != nil {
			return 0, err
		}
		if b&0xc0 != 0x80 {
			return 0, d.errf("bad UTF-8 continuation byte 0x%02x", b)
		}
		return uint16(c&0x1f)<<6 | uint16(b&0x3f), nil
	case c&0xf0 == 0xe0:
		b, err := d.next(2)
		if err != nil {
			return 0, err
		}
		if b[0]&0xc0 != 0x80 || b[1]&0xc0 != 0x80 {
			return 0, d.errf("bad UTF-8 continuation bytes 0x%02x 0x%02x", b[0], b[1])
		}
		return uint16(c&0x0f)<<12 | uint16(b[0]&0x3f)<<6 | uint16(b[1]&0x3f), nil
	}
	return 0, d.errf("bad UTF-8 lead byte 0x%02x", c)
}

func (d *Decoder) bytes() ([]byte, error) {
	out := []byte{}
	for {
		c, err := d.byte1()
		if err != nil {
			return nil, err
		}
		var n int
		final := true
		switch {
		case c >= 0x20 && c <= 0x2f:
			n = int(c - 0x20)
		default: // 'B', 'b'
			b, err := d.next(2)
			if err != nil {
				return nil, err
			}
			n = int(binary.BigEndian.Uint16(b))
			final = c == 'B'
		}
		b, err := d.next(n)
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
		if final {
			return out, nil
		}
		if c, ok := d.peek(); !ok || c != 'b' && c != 'B' && (c < 0x20 || c > 0x2f) {
			return nil, d.errf("byte chunk not followed by another")
		}
	}
}

func (d *Decoder) ref(c byte) (any, error) {
	var n int
	switch c {
	case 'J':
		b, err := d.byte1()
		if err != nil {
			return nil, err
		}
		n = int(b)
	case 'K':
		b, err := d.next(2)
		if err != nil {
			return nil, err
		}
		n = int(binary.BigEndian.Uint16(b))
	default:
		b, err := d.next(4)
		if err != nil {
			return nil, err
		}
		n = int(int32(binary.BigEndian.Uint32(b)))
	}
	if n < 0 || n >= len(d.refs) {
		return nil, d.errf("reference %d to one of %d values", n, len(d.refs))
	}
	return d.refs[n], nil
}

// typ reads an optional list or map type: 't' len16 name, or 'u' int (a reference).
func (d *Decoder) typ() (string, error) {
	c, ok := d.peek()
	if !ok {
		return "", d.errf("unexpected end of data")
	}
	switch c {
	case 't':
		d.pos++
		b, err := d.next(2)
		if err != nil {
			return "", err
		}
		s, err := d.units(int(binary.BigEndian.Uint16(b)))
		if err != nil {
			return "", err
		}
		d.types = append(d.types, s)
		return s, nil
	case 'u':
		d.pos++
		return d.typeRef()
	}
	return "", nil
}

func (d *Decoder) typeRef() (string, error) {
	n, err := d.count("type reference", len(d.types)-1)
	if err != nil {
		return "", err
	}
	return d.types[n], nil
}

// units reads n UTF-16 units without a string code (class and type names).
func (d *Decoder) units(n int) (string, error) {
	if n > len(d.buf)-d.pos {
		return "", d.errf("name of %d characters, %d bytes left", n, len(d.buf)-d.pos)
	}
	u := make([]uint16, n)
	for i := range u {
		var err error
		if u[i], err = d.unit(); err != nil {
			return "", err
		}
	}
	return string(utf16.Decode(u)), nil
}

func (d *Decoder) list() (any, error) {
	typ, err := d.typ()
	if err != nil {
		return nil, err
	}
	n := 0
	if c, ok := d.peek(); ok && (c == 'n' || c == 'l') {
		d.pos++
		if c == 'n' {
			b, err := d.byte1()
			if err != nil {
				return nil, err
			}
			n = int(b)
		} else {
			b, err := d.next(4)
			if err != nil {
				return nil, err
			}
			n = int(min(binary.BigEndian.Uint32(b), math.MaxInt32))
		}
	}
	l := &List{Type: typ, Items: make([]any, 0, min(n, len(d.buf)-d.pos))}
	d.refs = append(d.refs, l)
	for {
		c, ok := d.peek()
		if !ok {
			return nil, d.errf("list not terminated")
		}
		if c == 'z' {
			d.pos++
			return l, nil
		}
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		l.Items = append(l.Items, v)
	}
}

// fixedList reads 'v' typeref length items (no terminator).
func (d *Decoder) fixedList() (any, error) {
	typ, err := d.typeRef()
	if err != nil {
		return nil, err
	}
	n, err := d.count("list length", len(d.buf)-d.pos)
	if err != nil {
		return nil, err
	}
	l := &List{Type: typ, Items: make([]any, 0, n)}
	d.refs = append(d.refs, l)
	for range n {
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		l.Items = append(l.Items, v)
	}
	return l, nil
}

func (d *Decoder) mapValue() (any, error) {
	typ, err := d.typ()
	if err != nil {
		return nil, err
	}
	m := &Map{Type: typ}
	d.refs = append(d.refs, m)
	for {
		c, ok := d.peek()
		if !ok {
			return nil, d.errf("map not terminated")
		}
		if c == 'z' {
			d.pos++
			return m, nil
		}
		k, err := d.value()
		if err != nil {
			return nil, err
		}
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		m.Keys = append(m.Keys, k)
		m.Values = append(m.Values, v)
	}
}

// classDef reads 'O' len name count field-names (after the 'O').
func (d *Decoder) classDef() error {
	n, err := d.count("class name length", len(d.buf)-d.pos)
	if err != nil {
		return err
	}
	name, err := d.units(n)
	if err != nil {
		return err
	}
	if name == "" {
		return d.errf("class definition without a name")
	}
	nf, err := d.count("field count of "+name, len(d.buf)-d.pos)
	if err != nil {
		return err
	}
	def := classDef{name: name, fields: make([]string, nf)}
	for i := range def.fields {
		if def.fields[i], err = d.str(); err != nil {
			return fmt.Errorf("field %d of class %s: %w", i, name, err)
		}
	}
	d.classes = append(d.classes, def)
	return nil
}

func (d *Decoder) object() (any, error) {
	n, err := d.count("class reference", len(d.classes)-1)
	if err != nil {
		return nil, err
	}
	def := d.classes[n]
	o := &Object{Class: def.name, Fields: def.fields, Values: make([]any, len(def.fields))}
	d.refs = append(d.refs, o)
	for i, f := range def.fields {
		v, err := d.value()
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", def.name, f, err)
		}
		o.Values[i] = v
	}
	return o, nil
}
