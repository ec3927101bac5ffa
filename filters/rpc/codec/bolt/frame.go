package bolt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"time"
	"unsafe"

	"github.com/govoy/govoy/filters/rpc/codec"
)

// Frame is a decoded Bolt command. It owns raw; header strings point into it.
//
// Decode validates the header map and picks the routing entries out of it; the full header list
// is built on the first Headers call (most requests are routed on service and method alone).
// Like every mutation, that first call must come from the goroutine that owns the frame.
type Frame struct {
	raw []byte
	l   *layout
	hdr *headers // built by Headers
	err error
	// The routing fields, as spans of raw: no pointers to write (and to pass through the GC's
	// write barrier) while decoding; Route makes the strings.
	service, version, group, method span
	timeout                         time.Duration
	crc                             bool
}

// span locates a string in raw.
type span struct{ off, n int32 }

// text returns the string at s. Spans were cut from raw, whose length never changes, so the
// string is made without a bounds check: Route calls this four times per call.
func (f *Frame) text(s span) string {
	if s.n <= 0 {
		return ""
	}
	return unsafe.String((*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(f.raw)), s.off)), s.n)
}

// headers is the header list of a command, built on demand.
type headers struct {
	codec.Pairs
	buf [8]codec.Pair // backing store: SOFARPC requests carry a handful of headers
}

var _ codec.Frame = (*Frame)(nil)

func (f *Frame) u16(off int) uint16 { return binary.BigEndian.Uint16(f.raw[off:]) }
func (f *Frame) u32(off int) uint32 { return binary.BigEndian.Uint32(f.raw[off:]) }

// Version is the protocol code: 1 or 2.
func (f *Frame) Version() int { return int(f.raw[0]) }

// CmdCode is the command code (0 heartbeat, 1 request, 2 response).
func (f *Frame) CmdCode() uint16 { return f.u16(f.l.cmd) }

// Class is the class name of the content, e.g. com.alipay.sofa.rpc.core.request.SofaRequest.
func (f *Frame) Class() string {
	return f.text(span{int32(f.l.size), int32(f.u16(f.l.classLen))})
}

// CodecID is the serializer of the content (1 = hessian2).
func (f *Frame) CodecID() byte { return f.raw[f.l.codec] }

// Content is the serialized payload (read-only).
func (f *Frame) Content() []byte {
	end := len(f.raw)
	if f.crc {
		end -= 4
	}
	return f.raw[end-int(f.u32(f.l.contentLen)) : end]
}

func (f *Frame) Kind() codec.Kind {
	switch f.raw[f.l.typ] {
	case TypeResponse:
		return codec.KindResponse
	case TypeOnewayRequest:
		return codec.KindOnewayRequest
	default:
		return codec.KindRequest
	}
}

func (f *Frame) IsHeartbeat() bool { return f.CmdCode() == CmdHeartbeat }

func (f *Frame) ID() uint64 { return uint64(f.u32(f.l.id)) }

func (f *Frame) SetID(id uint64) {
	binary.BigEndian.PutUint32(f.raw[f.l.id:], uint32(id))
	f.fixCRC(f.raw)
}

func (f *Frame) fixCRC(b []byte) {
	if f.crc {
		end := len(b) - 4
		binary.BigEndian.PutUint32(b[end:], crc32.ChecksumIEEE(b[:end]))
	}
}

func (f *Frame) Route() codec.Route {
	return codec.Route{Service: f.text(f.service), Method: f.text(f.method), Version: f.text(f.version), Group: f.text(f.group), Timeout: f.timeout}
}

// Headers returns the header map, reading it from the frame on the first call.
func (f *Frame) Headers() codec.Headers {
	if f.hdr == nil {
		f.hdr = new(headers)
		f.hdr.Use(f.hdr.buf[:0])
		start := f.l.size + int(f.u16(f.l.classLen))
		f.walkHeader(start, start+int(f.u16(f.l.headerLen)), f.hdr.Add)
	}
	return &f.hdr.Pairs
}

func (f *Frame) hdrChanged() bool { return f.hdr != nil && f.hdr.Changed() }

func (f *Frame) Err() error { return f.err }

func (f *Frame) StatusCode() uint32 {
	if f.l.status < 0 {
		return 0
	}
	return uint32(f.u16(f.l.status))
}

func (f *Frame) Status() codec.Status {
	if f.l.status < 0 {
		return codec.StatusOK
	}
	switch f.u16(f.l.status) {
	case StatusSuccess:
		return codec.StatusOK
	case StatusTimeout:
		return codec.StatusTimeout
	case StatusServerThreadpoolBusy:
		return codec.StatusRateLimited
	case StatusNoProcessor:
		return codec.StatusNoRoute
	case StatusConnectionClosed:
		return codec.StatusNoProvider
	case StatusCodecException, StatusServerDeserialException:
		return codec.StatusBadRequest
	default:
		return codec.StatusServerError
	}
}

// Timeout is the request's timeout field in milliseconds (-1 or 0: none).
func (f *Frame) Timeout() int32 {
	if f.l.timeout < 0 {
		return 0
	}
	return int32(f.u32(f.l.timeout))
}

// parse reads the class name and header map. Lengths were checked by Decode, so failures here are
// inside the header map and land in f.err.
func (f *Frame) parse() {
	start := f.l.size
	classLen := int(f.u16(f.l.classLen))
	headerLen := int(f.u16(f.l.headerLen))
	if err := f.scanHeader(start+classLen, start+classLen+headerLen); err != nil {
		f.err = fmt.Errorf("bolt: command %d: header map: %w: %w", f.ID(), codec.ErrBadContent, err)
		return
	}
	if ms := f.Timeout(); ms > 0 && f.Kind() != codec.KindResponse && !f.IsHeartbeat() {
		f.timeout = time.Duration(ms) * time.Millisecond
	}
}

// scanHeader validates the header map and fills the routing fields from it, without building the
// header list: the first (non-null) service or target service entry, and the method name.
func (f *Frame) scanHeader(p, end int) error {
	routed := f.Kind() != codec.KindResponse && !f.IsHeartbeat()
	var svc, target, method span
	var found uint8
	for p < end {
		k, kn := f.field(p, end)
		if kn < fieldNull {
			return fieldErr(p, kn)
		}
		q := k + max(kn, 0)
		v, vn := f.field(q, end)
		if vn < fieldNull {
			return fmt.Errorf("value of %q: %w", f.str(k, kn), fieldErr(q, vn))
		}
		p = v + max(vn, 0)
		if !routed || kn < 0 || vn < 0 { // SOFARPC drops entries with a null key or value
			continue
		}
		val := span{int32(v), int32(vn)}
		switch key := f.raw[k : k+kn]; {
		case len(key) == len(KeyService) && string(key) == KeyService && found&1 == 0:
			svc, found = val, found|1
		case len(key) == len(KeyTargetService) && string(key) == KeyTargetService && found&2 == 0:
			target, found = val, found|2
		case len(key) == len(KeyMethod) && string(key) == KeyMethod && found&4 == 0:
			method, found = val, found|4
		}
	}
	if !routed {
		return nil
	}
	if found&1 == 0 {
		svc = target
	}
	// SOFARPC's unique name: interface[:version[:uniqueId]].
	f.service, f.version, f.group = cut3(f.raw[svc.off:svc.off+svc.n], svc.off)
	f.method = method
	return nil
}

// cut3 splits b, found at off in raw, at its first two colons.
func cut3(b []byte, off int32) (a, v, g span) {
	a = span{off, int32(len(b))}
	i := bytes.IndexByte(b, ':')
	if i < 0 {
		return a, span{}, span{}
	}
	a.n = int32(i)
	v = span{off + int32(i) + 1, int32(len(b) - i - 1)}
	j := bytes.IndexByte(b[i+1:], ':')
	if j < 0 {
		return a, v, span{}
	}
	v.n = int32(j)
	return a, v, span{v.off + int32(j) + 1, int32(len(b) - i - 1 - j - 1)}
}

// What field reports instead of a length when there is no string.
const (
	fieldNull    = -1 // length -1: a null string
	fieldShort   = -2 // fewer than 4 bytes left for the length
	fieldOverrun = -3 // the bytes run past the header map
)

// field reads the (int32 length, bytes) string at p: its bytes start at s and span n, or n is one
// of the field constants. The string ends at s + max(n, 0).
func (f *Frame) field(p, end int) (s, n int) {
	if end-p < 4 {
		return p, fieldShort
	}
	l := int32(binary.BigEndian.Uint32(f.raw[p:]))
	switch {
	case l < 0:
		return p + 4, fieldNull
	case int(l) > end-p-4:
		return p + 4, fieldOverrun
	}
	return p + 4, int(l)
}

func fieldErr(p, n int) error {
	if n == fieldShort {
		return fmt.Errorf("string length at %d runs past the header", p)
	}
	return fmt.Errorf("string at %d runs past the header", p)
}

// str is the string of n bytes at s in raw, sharing its memory ("" for null or empty).
func (f *Frame) str(s, n int) string {
	if n <= 0 {
		return ""
	}
	return unsafe.String(&f.raw[s], n)
}

// walkHeader calls fn with each entry of the header map in raw[p:end] that has a key and a value
// (SOFARPC drops entries with a null key or value), with where the entry sits in raw. Errors stop
// the walk; scanHeader reported them when the frame was decoded.
func (f *Frame) walkHeader(p, end int, fn func(k, v string, from, to int)) {
	for p < end {
		k, kn := f.field(p, end)
		if kn < fieldNull {
			return
		}
		v, vn := f.field(k+max(kn, 0), end)
		if vn < fieldNull {
			return
		}
		start := p
		p = v + max(vn, 0)
		if kn >= 0 && vn >= 0 {
			fn(f.str(k, kn), f.str(v, vn), start, p)
		}
	}
}

// AppendWire appends the frame; only when headers were Set is the header map rebuilt (unchanged
// entries copied byte for byte), headerLen updated and the CRC recomputed.
func (f *Frame) AppendWire(dst []byte) ([]byte, error) {
	if !f.hdrChanged() {
		return append(dst, f.raw...), nil
	}
	if f.err != nil {
		return dst, fmt.Errorf("bolt: command %d: headers can be changed only when the header map was readable", f.ID())
	}
	base := len(dst)
	classEnd := f.l.size + int(f.u16(f.l.classLen))
	oldHdrEnd := classEnd + int(f.u16(f.l.headerLen))
	dst = append(dst, f.raw[:classEnd]...)
	for _, p := range f.hdr.List() {
		if p.Start >= 0 {
			dst = append(dst, f.raw[p.Start:p.End]...)
			continue
		}
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(p.Key)))
		dst = append(dst, p.Key...)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(p.Value)))
		dst = append(dst, p.Value...)
	}
	hdrLen := len(dst) - base - classEnd
	if hdrLen > math.MaxInt16 {
		return dst[:base], fmt.Errorf("bolt: command %d: header map of %d bytes exceeds the protocol's %d", f.ID(), hdrLen, math.MaxInt16)
	}
	dst = append(dst, f.raw[oldHdrEnd:]...)
	out := dst[base:]
	binary.BigEndian.PutUint16(out[f.l.headerLen:], uint16(hdrLen))
	f.fixCRC(out)
	return dst, nil
}
