package hessianscan

// The scanner as it was before the tag-table rewrite, kept as the reference the fuzzer compares
// the current scanner with (same positions, same error classes, same strings).

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// refScanner walks hessian2 values in b. The zero value scans an empty input; use New.
type refScanner struct {
	b       []byte
	pos     int
	depth   int
	classes []int // field count of each class definition seen, by definition order
}

// New returns a scanner over b. Strings it returns may alias b, so b must not be modified afterwards.
func newRef(b []byte) *refScanner { return &refScanner{b: b} }

// Reset makes s scan b from the start, keeping its class table storage.
func (s *refScanner) Reset(b []byte) {
	s.b, s.pos, s.depth, s.classes = b, 0, 0, s.classes[:0]
}

// UseClassTable makes the scanner record class definitions in buf (e.g. an array in a longer-lived
// struct), saving an allocation for the common case of a few classes.
func (s *refScanner) UseClassTable(buf []int) { s.classes = buf[:0] }

// Pos is the offset of the next unread byte.
func (s *refScanner) Pos() int { return s.pos }

// Remaining is the number of unread bytes.
func (s *refScanner) Remaining() int { return len(s.b) - s.pos }

// Peek returns the next tag without consuming it.
func (s *refScanner) Peek() (byte, bool) {
	if s.pos >= len(s.b) {
		return 0, false
	}
	return s.b[s.pos], true
}

func (s *refScanner) errf(base error, format string, args ...any) error {
	return fmt.Errorf("%w at offset %d: %s", base, s.pos, fmt.Sprintf(format, args...))
}

func (s *refScanner) byte() (byte, error) {
	if s.pos >= len(s.b) {
		return 0, s.errf(ErrTruncated, "need 1 byte")
	}
	c := s.b[s.pos]
	s.pos++
	return c, nil
}

func (s *refScanner) skip(n int) error {
	if n < 0 || n > len(s.b)-s.pos {
		return s.errf(ErrTruncated, "need %d bytes, have %d", n, len(s.b)-s.pos)
	}
	s.pos += n
	return nil
}

func (s *refScanner) u16() (int, error) {
	if len(s.b)-s.pos < 2 {
		return 0, s.errf(ErrTruncated, "need 2 bytes")
	}
	v := int(s.b[s.pos])<<8 | int(s.b[s.pos+1])
	s.pos += 2
	return v, nil
}

// Int reads an int or a long value (every hessian2 integer encoding).
func (s *refScanner) Int() (int64, error) {
	tag, err := s.byte()
	if err != nil {
		return 0, err
	}
	return s.intAfter(tag)
}

func (s *refScanner) intAfter(tag byte) (int64, error) {
	b := s.b
	switch {
	case tag >= 0x80 && tag <= 0xbf: // one-octet int
		return int64(tag) - 0x90, nil
	case tag >= 0xc0 && tag <= 0xcf: // two-octet int
		if err := s.skip(1); err != nil {
			return 0, err
		}
		return (int64(tag)-0xc8)<<8 | int64(b[s.pos-1]), nil
	case tag >= 0xd0 && tag <= 0xd7: // three-octet int
		if err := s.skip(2); err != nil {
			return 0, err
		}
		return (int64(tag)-0xd4)<<16 | int64(b[s.pos-2])<<8 | int64(b[s.pos-1]), nil
	case tag == 'I' || tag == 'Y': // int32, long stored as int32
		if err := s.skip(4); err != nil {
			return 0, err
		}
		p := s.pos - 4
		return int64(int32(uint32(b[p])<<24 | uint32(b[p+1])<<16 | uint32(b[p+2])<<8 | uint32(b[p+3]))), nil
	case tag >= 0xd8 && tag <= 0xef: // one-octet long
		return int64(tag) - 0xe0, nil
	case tag >= 0xf0: // two-octet long
		if err := s.skip(1); err != nil {
			return 0, err
		}
		return (int64(tag)-0xf8)<<8 | int64(b[s.pos-1]), nil
	case tag >= 0x38 && tag <= 0x3f: // three-octet long
		if err := s.skip(2); err != nil {
			return 0, err
		}
		return (int64(tag)-0x3c)<<16 | int64(b[s.pos-2])<<8 | int64(b[s.pos-1]), nil
	case tag == 'L':
		if err := s.skip(8); err != nil {
			return 0, err
		}
		p := s.pos - 8
		var v uint64
		for i := 0; i < 8; i++ {
			v = v<<8 | uint64(b[p+i])
		}
		return int64(v), nil
	}
	s.pos--
	return 0, s.errf(ErrInvalid, "tag 0x%02x is not an integer", tag)
}

// refIsStringTag reports whether tag starts a string (or a string chunk).
func refIsStringTag(tag byte) bool {
	return tag <= 0x1f || (tag >= 0x30 && tag <= 0x33) || tag == 'R' || tag == 'S'
}

// chars advances over n UTF-16 code units of hessian's UTF-8 and reports whether they hold a
// surrogate pair written as two 3-byte sequences (Java's encoding), which needs converting.
func (s *refScanner) chars(n int) (surrogates bool, err error) {
	b, p := s.b, s.pos
	// Fast path: names and attachment values are mostly ASCII, where n chars are n bytes. Check
	// eight bytes at a time; stop at the first non-ASCII word and walk the rest.
	for n >= 8 && len(b)-p >= 8 && binary.LittleEndian.Uint64(b[p:])&0x8080808080808080 == 0 {
		p += 8
		n -= 8
	}
	// Short tail (or short string): one masked load covers it when 8 bytes are readable.
	if n > 0 && n < 8 && len(b)-p >= 8 && binary.LittleEndian.Uint64(b[p:])&(0x8080808080808080>>(64-8*n)) == 0 {
		s.pos = p + n
		return false, nil
	}
	for n > 0 {
		if p >= len(b) {
			return false, s.errf(ErrTruncated, "string ends %d chars early", n)
		}
		c := b[p]
		switch {
		case c < 0x80:
			p++
			n--
		case c&0xe0 == 0xc0:
			p += 2
			n--
		case c&0xf0 == 0xe0:
			if c == 0xed && p+1 < len(b) && b[p+1] >= 0xa0 {
				surrogates = true
			}
			p += 3
			n--
		case c&0xf8 == 0xf0: // a raw 4-byte sequence counts as two UTF-16 units
			p += 4
			n -= 2
		default:
			s.pos = p
			return false, s.errf(ErrInvalid, "byte 0x%02x cannot start a UTF-8 character", c)
		}
	}
	if p > len(b) {
		return false, s.errf(ErrTruncated, "string character runs past the end")
	}
	s.pos = p
	return surrogates, nil
}

// refIsASCII reports whether b holds only ASCII bytes, eight at a time.
func refIsASCII(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b)&0x8080808080808080 != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// strLen reads the header of one string chunk. final is false for a non-final 'R' chunk.
func (s *refScanner) strLen(tag byte) (n int, final bool, err error) {
	switch {
	case tag <= 0x1f:
		return int(tag), true, nil
	case tag >= 0x30 && tag <= 0x33:
		c, err := s.byte()
		if err != nil {
			return 0, false, err
		}
		return int(tag-0x30)<<8 | int(c), true, nil
	case tag == 'S' || tag == 'R':
		n, err := s.u16()
		return n, tag == 'S', err
	}
	s.pos--
	return 0, false, s.errf(ErrInvalid, "tag 0x%02x is not a string", tag)
}

// String reads a string or null. null is reported with ok == false. Unless the string is chunked or
// holds surrogate pairs, the result points into the scanned bytes and costs no allocation.
func (s *refScanner) String() (str string, ok bool, err error) {
	if s.pos >= len(s.b) {
		return "", false, s.errf(ErrTruncated, "need a string")
	}
	tag := s.b[s.pos]
	s.pos++
	n, final := int(tag), true
	if tag <= 0x1f && n <= len(s.b)-s.pos && refIsASCII(s.b[s.pos:s.pos+n]) {
		// Fast path: a short ASCII string (most names and attachments) is n bytes.
		start := s.pos
		s.pos += n
		if n == 0 {
			return "", true, nil
		}
		return unsafe.String(&s.b[start], n), true, nil
	}
	if tag > 0x1f { // not a short string: the common case is handled without a call
		if tag == 'N' {
			return "", false, nil
		}
		if n, final, err = s.strLen(tag); err != nil {
			return "", false, err
		}
	}
	start := s.pos
	sur, err := s.chars(n)
	if err != nil {
		return "", false, err
	}
	if final && !sur {
		if s.pos == start {
			return "", true, nil
		}
		return unsafe.String(&s.b[start], s.pos-start), true, nil
	}
	// Slow path: join chunks and turn Java's surrogate pairs into UTF-8.
	buf := refAppendJavaUTF8(nil, s.b[start:s.pos])
	for !final {
		tag, err = s.byte()
		if err != nil {
			return "", false, err
		}
		if n, final, err = s.strLen(tag); err != nil {
			return "", false, err
		}
		start = s.pos
		if _, err = s.chars(n); err != nil {
			return "", false, err
		}
		buf = refAppendJavaUTF8(buf, s.b[start:s.pos])
	}
	return string(buf), true, nil
}

// refAppendJavaUTF8 appends src to dst, combining 3-byte-encoded surrogate pairs into 4-byte UTF-8.
func refAppendJavaUTF8(dst, src []byte) []byte {
	for i := 0; i < len(src); {
		if src[i] == 0xed && i+5 < len(src) && src[i+1] >= 0xa0 && src[i+1] <= 0xaf &&
			src[i+3] == 0xed && src[i+4] >= 0xb0 {
			hi := rune(src[i+1]&0x0f)<<6 | rune(src[i+2]&0x3f)
			lo := rune(src[i+4]&0x0f)<<6 | rune(src[i+5]&0x3f)
			dst = utf8.AppendRune(dst, 0x10000+(hi<<10|lo))
			i += 6
			continue
		}
		dst = append(dst, src[i])
		i++
	}
	return dst
}

// Scalar reads a value meant as a string header value: strings as they are, ints, longs, booleans
// and doubles formatted in decimal. Anything else (lists, maps, objects, null) is skipped and
// reported with ok == false.
func (s *refScanner) Scalar() (str string, ok bool, err error) {
	tag, has := s.Peek()
	if !has {
		return "", false, s.errf(ErrTruncated, "need a value")
	}
	switch {
	case refIsStringTag(tag):
		return s.String()
	case tag == 'T':
		s.pos++
		return "true", true, nil
	case tag == 'F':
		s.pos++
		return "false", true, nil
	case tag >= 0x80 || tag == 'I' || tag == 'Y' || tag == 'L' || (tag >= 0x38 && tag <= 0x3f):
		v, err := s.Int()
		if err != nil {
			return "", false, err
		}
		return strconv.FormatInt(v, 10), true, nil
	}
	return "", false, s.Skip()
}

// MapStart consumes the start of a map: 'H' (untyped) or 'M' with its type. null gives ok == false.
func (s *refScanner) MapStart() (ok bool, err error) {
	tag, err := s.byte()
	if err != nil {
		return false, err
	}
	switch tag {
	case 'N':
		return false, nil
	case 'H':
		return true, nil
	case 'M':
		return true, s.skipType()
	}
	s.pos--
	return false, s.errf(ErrInvalid, "tag 0x%02x is not a map", tag)
}

// End consumes the 'Z' that closes a map or variable list, reporting whether it was there.
func (s *refScanner) End() bool {
	if s.pos < len(s.b) && s.b[s.pos] == 'Z' {
		s.pos++
		return true
	}
	return false
}

func (s *refScanner) skipType() error {
	tag, ok := s.Peek()
	if !ok {
		return s.errf(ErrTruncated, "need a type")
	}
	if refIsStringTag(tag) {
		_, _, err := s.String()
		return err
	}
	_, err := s.Int() // a reference to an earlier type
	return err
}

// count reads a length or index and checks it against what is left, so a hostile count cannot
// make a loop run long: every element takes at least one byte.
func (s *refScanner) count(what string) (int, error) {
	v, err := s.Int()
	if err != nil {
		return 0, err
	}
	if v < 0 || v > int64(len(s.b)-s.pos) {
		return 0, s.errf(ErrInvalid, "%s %d out of range", what, v)
	}
	return int(v), nil
}

func (s *refScanner) skipN(n int) error {
	for i := 0; i < n; i++ {
		if err := s.Skip(); err != nil {
			return err
		}
	}
	return nil
}

func (s *refScanner) skipUntilEnd() error {
	for !s.End() {
		if err := s.Skip(); err != nil {
			return err
		}
	}
	return nil
}

func (s *refScanner) skipObject(ref int) error {
	if ref < 0 || ref >= len(s.classes) {
		return s.errf(ErrInvalid, "object refers to undefined class %d", ref)
	}
	return s.skipN(s.classes[ref])
}

// Skip moves past one value of any type without building it.
func (s *refScanner) Skip() error {
	if s.depth >= MaxDepth {
		return s.errf(ErrInvalid, "nesting deeper than %d", MaxDepth)
	}
	s.depth++ // no defer: this is the hot loop of every request
	err := s.skipValue()
	s.depth--
	return err
}

func (s *refScanner) skipValue() error {
	if s.pos >= len(s.b) {
		return s.errf(ErrTruncated, "need a value")
	}
	tag := s.b[s.pos]
	s.pos++
	var err error
	switch {
	case tag <= 0x1f, tag >= 0x30 && tag <= 0x33, tag == 'R', tag == 'S':
		s.pos--
		_, _, err = s.String()
		return err
	case tag >= 0x20 && tag <= 0x2f: // short binary
		return s.skip(int(tag - 0x20))
	case tag >= 0x34 && tag <= 0x37: // medium binary
		c, err := s.byte()
		if err != nil {
			return err
		}
		return s.skip(int(tag-0x34)<<8 | int(c))
	case tag == 'A' || tag == 'B': // binary chunks
		for {
			n, err := s.u16()
			if err != nil {
				return err
			}
			if err = s.skip(n); err != nil {
				return err
			}
			if tag == 'B' {
				return nil
			}
			if tag, err = s.byte(); err != nil {
				return err
			}
			if tag >= 0x20 && tag <= 0x2f || tag >= 0x34 && tag <= 0x37 {
				s.pos--
				return s.Skip()
			}
			if tag != 'A' && tag != 'B' {
				s.pos--
				return s.errf(ErrInvalid, "tag 0x%02x cannot continue a binary", tag)
			}
		}
	case tag >= 0x80 && tag <= 0xbf, tag >= 0xd8 && tag <= 0xef, tag == 'N', tag == 'T', tag == 'F',
		tag == 0x5b, tag == 0x5c:
		return nil // value is in the tag
	case tag >= 0xc0 && tag <= 0xcf, tag >= 0xf0, tag == 0x5d:
		return s.skip(1)
	case tag >= 0xd0 && tag <= 0xd7, tag >= 0x38 && tag <= 0x3f, tag == 0x5e:
		return s.skip(2)
	case tag == 'I', tag == 'Y', tag == 'K', tag == 0x5f:
		return s.skip(4)
	case tag == 'D', tag == 'J', tag == 'L':
		return s.skip(8)
	case tag == 'Q': // reference to an earlier value
		_, err = s.Int()
		return err
	case tag == 'C': // class definition, then the value that uses it
		if _, _, err = s.String(); err != nil {
			return err
		}
		n, err := s.count("class field count")
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			if _, _, err = s.String(); err != nil {
				return err
			}
		}
		s.classes = append(s.classes, n)
		// A definition precedes the instance it describes; the pair is one value.
		return s.Skip()
	case tag == 'O':
		ref, err := s.count("class reference")
		if err != nil {
			return err
		}
		return s.skipObject(ref)
	case tag >= 0x60 && tag <= 0x6f:
		return s.skipObject(int(tag - 0x60))
	case tag == 'H', tag == 'W':
		return s.skipUntilEnd()
	case tag == 'M', tag == 'U':
		if err = s.skipType(); err != nil {
			return err
		}
		return s.skipUntilEnd()
	case tag == 'V':
		if err = s.skipType(); err != nil {
			return err
		}
		n, err := s.count("list length")
		if err != nil {
			return err
		}
		return s.skipN(n)
	case tag == 'X':
		n, err := s.count("list length")
		if err != nil {
			return err
		}
		return s.skipN(n)
	case tag >= 0x70 && tag <= 0x77:
		if err = s.skipType(); err != nil {
			return err
		}
		return s.skipN(int(tag - 0x70))
	case tag >= 0x78 && tag <= 0x7f:
		return s.skipN(int(tag - 0x78))
	}
	s.pos--
	return s.errf(ErrInvalid, "tag 0x%02x cannot start a value", tag)
}
