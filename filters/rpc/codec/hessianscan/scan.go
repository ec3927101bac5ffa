// Package hessianscan reads hessian2 data in place: the few strings and the string map an RPC proxy
// routes on, and skipping over every other value without building it. dubbo-go-hessian2 decodes into
// Go objects through a bufio.Reader; a proxy that only needs the method name and attachments would
// pay for allocating every argument, so this package walks the bytes of an already received frame
// and returns strings that point into them. Encoding stays with dubbo-go-hessian2.
package hessianscan

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// MaxDepth bounds nesting of lists, maps and objects so hostile input cannot exhaust the stack.
const MaxDepth = 128

var (
	// ErrTruncated means the value runs past the end of the data.
	ErrTruncated = errors.New("hessian2: truncated value")
	// ErrInvalid means a byte cannot start or continue a value where it appears.
	ErrInvalid = errors.New("hessian2: invalid value")
)

// Scanner walks hessian2 values in b. The zero value scans an empty input; use New.
type Scanner struct {
	b     []byte
	pos   int
	depth int
	// The class table: field count of each class definition seen, by definition order. The first
	// ones sit in the scanner itself so a scanner on the stack costs no allocation.
	nClasses int
	classes  [8]int
	more     []int // classes beyond len(classes)
}

// New returns a scanner over b. Strings it returns may alias b, so b must not be modified afterwards.
func New(b []byte) *Scanner { return &Scanner{b: b} }

// Reset makes s scan b from the start with an empty class table.
func (s *Scanner) Reset(b []byte) {
	s.b, s.pos, s.depth, s.nClasses, s.more = b, 0, 0, 0, s.more[:0]
}

// ResetAt makes s scan b from offset pos with the class definitions a scan of b up to pos saw
// (classes[i] is the field count of class i, as Class reports it), so a reader can come back to
// a value it passed over without scanning what precedes it again.
func (s *Scanner) ResetAt(b []byte, pos int, classes []int) {
	s.Reset(b)
	s.pos = min(max(pos, 0), len(b))
	for _, n := range classes {
		s.addClass(n)
	}
}

// NumClasses is the number of class definitions seen so far.
func (s *Scanner) NumClasses() int { return s.nClasses }

// Class is the field count of class definition i (0 <= i < NumClasses).
func (s *Scanner) Class(i int) int {
	if i < len(s.classes) {
		return s.classes[i]
	}
	return s.more[i-len(s.classes)]
}

func (s *Scanner) addClass(n int) {
	if s.nClasses < len(s.classes) {
		s.classes[s.nClasses] = n
	} else {
		s.more = append(s.more, n)
	}
	s.nClasses++
}

// Pos is the offset of the next unread byte.
func (s *Scanner) Pos() int { return s.pos }

// Remaining is the number of unread bytes.
func (s *Scanner) Remaining() int { return len(s.b) - s.pos }

// Peek returns the next tag without consuming it.
func (s *Scanner) Peek() (byte, bool) {
	if s.pos >= len(s.b) {
		return 0, false
	}
	return s.b[s.pos], true
}

// AtString reports whether the next value is a string (not null).
func (s *Scanner) AtString() bool { return s.pos < len(s.b) && isStringTag(s.b[s.pos]) }

func (s *Scanner) errf(base error, format string, args ...any) error {
	return fmt.Errorf("%w at offset %d: %s", base, s.pos, fmt.Sprintf(format, args...))
}

func (s *Scanner) byte() (byte, error) {
	if s.pos >= len(s.b) {
		return 0, s.errf(ErrTruncated, "need 1 byte")
	}
	c := s.b[s.pos]
	s.pos++
	return c, nil
}

func (s *Scanner) skip(n int) error {
	if n < 0 || n > len(s.b)-s.pos {
		return s.errf(ErrTruncated, "need %d bytes, have %d", n, len(s.b)-s.pos)
	}
	s.pos += n
	return nil
}

func (s *Scanner) u16() (int, error) {
	if len(s.b)-s.pos < 2 {
		return 0, s.errf(ErrTruncated, "need 2 bytes")
	}
	v := int(s.b[s.pos])<<8 | int(s.b[s.pos+1])
	s.pos += 2
	return v, nil
}

// Int reads an int or a long value (every hessian2 integer encoding).
func (s *Scanner) Int() (int64, error) {
	tag, err := s.byte()
	if err != nil {
		return 0, err
	}
	return s.intAfter(tag)
}

func (s *Scanner) intAfter(tag byte) (int64, error) {
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

// isStringTag reports whether tag starts a string (or a string chunk).
func isStringTag(tag byte) bool {
	return tag <= 0x1f || (tag >= 0x30 && tag <= 0x33) || tag == 'R' || tag == 'S'
}

// asciiMask[n] selects the high bits of the first n bytes of a little-endian word.
var asciiMask = [8]uint64{0, 0x80, 0x8080, 0x808080, 0x80808080, 0x8080808080, 0x808080808080, 0x80808080808080}

// word reads the 8 bytes at p of b, which the caller has checked are there, without a bounds check.
func word(b []byte, p int) uint64 {
	return binary.LittleEndian.Uint64((*[8]byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), p))[:])
}

// ascii reports whether the n bytes at p (0 <= p <= len(b)) are in b and all ASCII, eight at a
// time. Names and attachment values are mostly ASCII, where n UTF-16 units are n bytes. It runs
// for every string of every request, hence the unchecked loads.
func ascii(b []byte, p, n int) bool {
	rem := len(b) - p
	if n > rem {
		return false
	}
	for n >= 8 {
		if word(b, p)&0x8080808080808080 != 0 {
			return false
		}
		p, n, rem = p+8, n-8, rem-8
	}
	if n == 0 {
		return true
	}
	if rem >= 8 { // one masked load covers the tail
		return word(b, p)&asciiMask[n&7] == 0
	}
	for _, c := range b[p : p+n] {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// ShortASCII reads the next value if it is a compact (tag 0x00-0x1f, or 0x30-0x33: up to 1023
// chars) ASCII string, the form of nearly all names, type descriptors, attachment keys and
// values, and reports whether it was one; otherwise nothing is consumed. The string points into
// the scanned bytes. It is the fast path of String.
func (s *Scanner) ShortASCII() (string, bool) {
	start, n := s.ShortASCIISpan()
	if n <= 0 {
		return "", n == 0
	}
	return unsafe.String((*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(s.b)), start)), n), true
}

// ShortASCIISpan is ShortASCII reporting where the string's bytes are instead: n bytes from start
// in the scanned bytes, or n == -1 (nothing consumed) when the next value is not a compact ASCII
// string.
func (s *Scanner) ShortASCIISpan() (start, n int) {
	b, p := s.b, s.pos
	if n = tiny(b, p); n >= 0 {
		s.pos = p + 1 + n
		return p + 1, n
	}
	if p >= len(b) {
		return 0, -1
	}
	switch n, start = int(b[p]), p+1; {
	case n <= 0x1f:
	case n >= 0x30 && n <= 0x33 && start < len(b): // up to 1023 chars: type descriptors, long values
		n, start = (n-0x30)<<8|int(b[start]), start+1
	default:
		return 0, -1
	}
	if n > len(b)-start {
		return 0, -1
	}
	q, k := start, n
	for ; k >= 8; q, k = q+8, k-8 {
		if word(b, q)&0x8080808080808080 != 0 {
			return 0, -1
		}
	}
	if k > 0 {
		if len(b)-q >= 8 {
			if word(b, q)&asciiMask[k&7] != 0 {
				return 0, -1
			}
		} else {
			for _, c := range b[q : q+k] {
				if c >= 0x80 {
					return 0, -1
				}
			}
		}
	}
	s.pos = start + n
	return start, n
}

// chars advances over n UTF-16 code units of hessian's UTF-8 and reports whether they hold a
// surrogate pair written as two 3-byte sequences (Java's encoding), which needs converting.
func (s *Scanner) chars(n int) (surrogates bool, err error) {
	b, p := s.b, s.pos
	if ascii(b, p, n) {
		s.pos = p + n
		return false, nil
	}
	// Skip the ASCII words ahead of the first non-ASCII one, then walk characters.
	for n >= 8 && len(b)-p >= 8 && binary.LittleEndian.Uint64(b[p:])&0x8080808080808080 == 0 {
		p += 8
		n -= 8
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

// strLen reads the header of one string chunk. final is false for a non-final 'R' chunk.
func (s *Scanner) strLen(tag byte) (n int, final bool, err error) {
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
func (s *Scanner) String() (str string, ok bool, err error) {
	if str, ok := s.ShortASCII(); ok {
		return str, true, nil
	}
	return s.stringSlow()
}

func (s *Scanner) stringSlow() (str string, ok bool, err error) {
	if s.pos >= len(s.b) {
		return "", false, s.errf(ErrTruncated, "need a string")
	}
	tag := s.b[s.pos]
	s.pos++
	n, final := int(tag), true
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
	buf := appendJavaUTF8(nil, s.b[start:s.pos])
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
		buf = appendJavaUTF8(buf, s.b[start:s.pos])
	}
	return string(buf), true, nil
}

// appendJavaUTF8 appends src to dst, combining 3-byte-encoded surrogate pairs into 4-byte UTF-8.
func appendJavaUTF8(dst, src []byte) []byte {
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
func (s *Scanner) Scalar() (str string, ok bool, err error) {
	if str, ok := s.ShortASCII(); ok {
		return str, true, nil
	}
	tag, has := s.Peek()
	if !has {
		return "", false, s.errf(ErrTruncated, "need a value")
	}
	switch {
	case isStringTag(tag):
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
func (s *Scanner) MapStart() (ok bool, err error) {
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
func (s *Scanner) End() bool {
	if s.pos < len(s.b) && s.b[s.pos] == 'Z' {
		s.pos++
		return true
	}
	return false
}

func (s *Scanner) skipType() error {
	tag, ok := s.Peek()
	if !ok {
		return s.errf(ErrTruncated, "need a type")
	}
	if _, n := s.ShortASCIISpan(); n >= 0 {
		return nil
	}
	if isStringTag(tag) {
		s.pos++
		return s.skipString(tag)
	}
	_, err := s.Int() // a reference to an earlier type
	return err
}

// count reads a length or index and checks it against what is left, so a hostile count cannot
// make a loop run long: every element takes at least one byte.
func (s *Scanner) count(what string) (int, error) {
	if p := s.pos; p < len(s.b) && s.b[p] >= 0x90 && s.b[p] <= 0xbf { // one-octet 0..47: the usual
		s.pos++
		if v := int(s.b[p]) - 0x90; v <= len(s.b)-s.pos {
			return v, nil
		}
		s.pos--
	}
	v, err := s.Int()
	if err != nil {
		return 0, err
	}
	if v < 0 || v > int64(len(s.b)-s.pos) {
		return 0, s.errf(ErrInvalid, "%s %d out of range", what, v)
	}
	return int(v), nil
}

// cheapLen is, for the tags of the most common cheap values (fixed-size values and short strings
// under 8 bytes), how many bytes follow the tag, and -1 for other tags; cheapMask selects the high
// bits of a string's bytes (ASCII test), 0 for fixed-size values.
var cheapLen, cheapMask = func() (n [256]int8, mask [256]uint64) {
	for t := range 256 {
		switch {
		case tagKind[t] == tFixed:
			n[t] = int8(fixedLen[t])
		case t < 8:
			n[t], mask[t] = int8(t), asciiMask[t]
		default:
			n[t] = -1
		}
	}
	return
}()

// skipCheap moves past the next value if it is a cheap one (cheapLen) and at least 8 more bytes
// follow it, and reports whether it did. It is inlined into the loops over container elements.
func (s *Scanner) skipCheap() bool {
	p := s.pos
	if len(s.b)-p <= 8 {
		return false
	}
	tag := s.b[p]
	n := int(cheapLen[tag])
	if n < 0 || word(s.b, p+1)&cheapMask[tag] != 0 {
		return false
	}
	s.pos = p + 1 + n
	return true
}

func (s *Scanner) skipN(n int) error {
	cheap := s.depth < MaxDepth // else Skip reports the depth
	for i := 0; i < n; i++ {
		if cheap && s.skipCheap() {
			continue
		}
		if n := tiny(s.b, s.pos); cheap && n >= 0 {
			s.pos += 1 + n
			continue
		}
		if err := s.Skip(); err != nil {
			return err
		}
	}
	return nil
}

func (s *Scanner) skipUntilEnd() error {
	cheap := s.depth < MaxDepth
	for !s.End() {
		if cheap && s.skipCheap() {
			continue
		}
		if n := tiny(s.b, s.pos); cheap && n >= 0 {
			s.pos += 1 + n
			continue
		}
		if err := s.Skip(); err != nil {
			return err
		}
	}
	return nil
}

func (s *Scanner) skipObject(ref int) error {
	if ref < 0 || ref >= s.nClasses {
		return s.errf(ErrInvalid, "object refers to undefined class %d", ref)
	}
	return s.skipN(s.Class(ref))
}

// Skip moves past one value of any type without building it.
func (s *Scanner) Skip() error {
	if s.depth >= MaxDepth {
		return s.errf(ErrInvalid, "nesting deeper than %d", MaxDepth)
	}
	if s.skipCheap() {
		return nil
	}
	s.depth++ // no defer: this is the hot loop of every request
	err := s.skipValue()
	s.depth--
	return err
}

// Tag families for skipping. A table lookup and a dense switch (a jump table) replace a chain of
// range comparisons: skipping is most of the work of reading a request.
const (
	tInvalid          uint8 = iota
	tFixed                  // the value's size follows from the tag alone: fixedLen
	tStrShort               // 0x00-0x1f: length in the tag
	tStrOther               // 0x30-0x33, 'R', 'S'
	tBinShort               // 0x20-0x2f
	tBinMed                 // 0x34-0x37
	tBinChunk               // 'A', 'B'
	tRef                    // 'Q'
	tClassDef               // 'C'
	tObject                 // 'O'
	tObjectShort            // 0x60-0x6f
	tUntilEnd               // 'H' map, 'W' variable list
	tTypedUntilEnd          // 'M' map, 'U' variable list
	tListTyped              // 'V'
	tListUntyped            // 'X'
	tListTypedShort         // 0x70-0x77
	tListUntypedShort       // 0x78-0x7f
)

// tagKind is the family of each tag; fixedLen the bytes after the tag of tFixed values.
var tagKind, fixedLen = func() (kind, size [256]uint8) {
	set := func(k, n uint8, tags ...byte) {
		for _, t := range tags {
			kind[t], size[t] = k, n
		}
	}
	span := func(from, to byte, more ...byte) []byte {
		for t := int(from); t <= int(to); t++ {
			more = append(more, byte(t))
		}
		return more
	}
	set(tStrShort, 0, span(0x00, 0x1f)...)
	set(tStrOther, 0, span(0x30, 0x33, 'R', 'S')...)
	set(tBinShort, 0, span(0x20, 0x2f)...)
	set(tBinMed, 0, span(0x34, 0x37)...)
	set(tBinChunk, 0, 'A', 'B')
	set(tFixed, 0, span(0x80, 0xbf, span(0xd8, 0xef, 'N', 'T', 'F', 0x5b, 0x5c)...)...)
	set(tFixed, 1, span(0xc0, 0xcf, span(0xf0, 0xff, 0x5d)...)...)
	set(tFixed, 2, span(0xd0, 0xd7, span(0x38, 0x3f, 0x5e)...)...)
	set(tFixed, 4, 'I', 'Y', 'K', 0x5f)
	set(tFixed, 8, 'D', 'J', 'L')
	set(tRef, 0, 'Q')
	set(tClassDef, 0, 'C')
	set(tObject, 0, 'O')
	set(tObjectShort, 0, span(0x60, 0x6f)...)
	set(tUntilEnd, 0, 'H', 'W')
	set(tTypedUntilEnd, 0, 'M', 'U')
	set(tListTyped, 0, 'V')
	set(tListUntyped, 0, 'X')
	set(tListTypedShort, 0, span(0x70, 0x77)...)
	set(tListUntypedShort, 0, span(0x78, 0x7f)...)
	return
}()

// skipString moves past a string whose tag was just consumed, chunks included, without joining it.
func (s *Scanner) skipString(tag byte) error {
	for {
		n, final, err := s.strLen(tag)
		if err != nil {
			return err
		}
		if _, err = s.chars(n); err != nil {
			return err
		}
		if final {
			return nil
		}
		if tag, err = s.byte(); err != nil {
			return err
		}
	}
}

// skipStringValue moves past a string or null, as String would read it, without building it.
func (s *Scanner) skipStringValue() error {
	if _, n := s.ShortASCIISpan(); n >= 0 {
		return nil
	}
	if s.pos >= len(s.b) {
		return s.errf(ErrTruncated, "need a string")
	}
	tag := s.b[s.pos]
	s.pos++
	switch {
	case tag <= 0x1f:
		_, err := s.chars(int(tag))
		return err
	case tag == 'N':
		return nil
	}
	return s.skipString(tag)
}

func (s *Scanner) skipValue() error {
	if s.pos >= len(s.b) {
		return s.errf(ErrTruncated, "need a value")
	}
	tag := s.b[s.pos]
	s.pos++
	var err error
	switch tagKind[tag] {
	case tFixed:
		return s.skip(int(fixedLen[tag]))
	case tStrShort:
		s.pos--
		if _, m := s.ShortASCIISpan(); m >= 0 {
			return nil
		}
		s.pos++
		_, err = s.chars(int(tag))
		return err
	case tStrOther:
		s.pos--
		if _, n := s.ShortASCIISpan(); n >= 0 {
			return nil
		}
		s.pos++
		return s.skipString(tag)
	case tBinShort:
		return s.skip(int(tag - 0x20))
	case tBinMed:
		c, err := s.byte()
		if err != nil {
			return err
		}
		return s.skip(int(tag-0x34)<<8 | int(c))
	case tBinChunk:
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
	case tRef: // reference to an earlier value
		_, err = s.Int()
		return err
	case tClassDef: // class definition, then the value that uses it
		if err = s.skipStringValue(); err != nil { // class name
			return err
		}
		n, err := s.count("class field count")
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ { // field names
			if m := tiny(s.b, s.pos); m >= 0 {
				s.pos += 1 + m
			} else if _, m := s.ShortASCIISpan(); m < 0 {
				if err = s.skipStringValue(); err != nil {
					return err
				}
			}
		}
		s.addClass(n)
		// A definition precedes the instance it describes; the pair is one value.
		return s.Skip()
	case tObject:
		ref, err := s.count("class reference")
		if err != nil {
			return err
		}
		return s.skipObject(ref)
	case tObjectShort:
		return s.skipObject(int(tag - 0x60))
	case tUntilEnd:
		return s.skipUntilEnd()
	case tTypedUntilEnd:
		if err = s.skipType(); err != nil {
			return err
		}
		return s.skipUntilEnd()
	case tListTyped:
		if err = s.skipType(); err != nil {
			return err
		}
		n, err := s.count("list length")
		if err != nil {
			return err
		}
		return s.skipN(n)
	case tListUntyped:
		n, err := s.count("list length")
		if err != nil {
			return err
		}
		return s.skipN(n)
	case tListTypedShort:
		if err = s.skipType(); err != nil {
			return err
		}
		return s.skipN(int(tag - 0x70))
	case tListUntypedShort:
		return s.skipN(int(tag - 0x78))
	}
	s.pos--
	return s.errf(ErrInvalid, "tag 0x%02x cannot start a value", tag)
}

// mask16[n] selects the high bits of the first n bytes of a 16-byte window (two little-endian
// words).
var mask16 = func() (m [16][2]uint64) {
	for n := range 16 {
		for i := range n {
			m[n][i/8] |= 0x80 << (8 * (i % 8))
		}
	}
	return
}()

// tiny returns the length of the ASCII string under 16 bytes whose tag is at p when more than 16
// bytes follow the tag, else -1. Small enough to be inlined where strings are hot.
func tiny(b []byte, p int) int {
	if len(b)-p <= 16 {
		return -1
	}
	n := int(b[p])
	if n >= 16 || (word(b, p+1)&mask16[n][0]|word(b, p+9)&mask16[n][1]) != 0 {
		return -1
	}
	return n
}
