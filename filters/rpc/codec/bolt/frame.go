package bolt

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"strings"
	"time"
	"unsafe"

	"github.com/govoy/govoy/filters/rpc/codec"
)

// Frame is a decoded Bolt command. It owns raw; header strings point into it.
type Frame struct {
	raw   []byte
	l     *layout
	crc   bool
	route codec.Route
	hdr   codec.Pairs
	// hdrBuf backs hdr: SOFARPC requests carry a handful of headers.
	hdrBuf [8]codec.Pair
	class  string
	err    error
}

var _ codec.Frame = (*Frame)(nil)

func (f *Frame) u16(off int) uint16 { return binary.BigEndian.Uint16(f.raw[off:]) }
func (f *Frame) u32(off int) uint32 { return binary.BigEndian.Uint32(f.raw[off:]) }

// Version is the protocol code: 1 or 2.
func (f *Frame) Version() int { return int(f.raw[0]) }

// CmdCode is the command code (0 heartbeat, 1 request, 2 response).
func (f *Frame) CmdCode() uint16 { return f.u16(f.l.cmd) }

// Class is the class name of the content, e.g. com.alipay.sofa.rpc.core.request.SofaRequest.
func (f *Frame) Class() string { return f.class }

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

func (f *Frame) Route() codec.Route { return f.route }

func (f *Frame) Headers() codec.Headers { return &f.hdr }

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
	if classLen > 0 {
		f.class = unsafe.String(&f.raw[start], classLen)
	}
	if err := f.parseHeader(start+classLen, start+classLen+headerLen); err != nil {
		f.err = fmt.Errorf("bolt: command %d: header map: %w: %w", f.ID(), codec.ErrBadContent, err)
		return
	}
	if f.Kind() == codec.KindResponse || f.IsHeartbeat() {
		return
	}
	svc, ok := f.hdr.Get(KeyService)
	if !ok {
		svc, _ = f.hdr.Get(KeyTargetService)
	}
	// SOFARPC's unique name: interface[:version[:uniqueId]].
	f.route.Service, svc, _ = strings.Cut(svc, ":")
	f.route.Version, f.route.Group, _ = strings.Cut(svc, ":")
	f.route.Method, _ = f.hdr.Get(KeyMethod)
	if ms := f.Timeout(); ms > 0 {
		f.route.Timeout = time.Duration(ms) * time.Millisecond
	}
}

// str reads one (int32 length, bytes) string at p; null (-1) gives ok == false.
func (f *Frame) str(p, end int) (s string, ok bool, next int, err error) {
	if end-p < 4 {
		return "", false, p, fmt.Errorf("string length at %d runs past the header", p)
	}
	n := int32(binary.BigEndian.Uint32(f.raw[p:]))
	p += 4
	if n < 0 {
		return "", false, p, nil
	}
	if int(n) > end-p {
		return "", false, p, fmt.Errorf("string of %d bytes at %d runs past the header", n, p)
	}
	if n == 0 {
		return "", true, p, nil
	}
	return unsafe.String(&f.raw[p], int(n)), true, p + int(n), nil
}

func (f *Frame) parseHeader(p, end int) error {
	if p == end {
		return nil
	}
	f.hdr.Use(f.hdrBuf[:0])
	for p < end {
		start := p
		k, kok, next, err := f.str(p, end)
		if err != nil {
			return err
		}
		v, vok, next, err := f.str(next, end)
		if err != nil {
			return fmt.Errorf("value of %q: %w", k, err)
		}
		p = next
		if kok && vok { // SOFARPC drops entries with a null key or value
			f.hdr.Add(k, v, start, p)
		}
	}
	return nil
}

// AppendWire appends the frame; only when headers were Set is the header map rebuilt (unchanged
// entries copied byte for byte), headerLen updated and the CRC recomputed.
func (f *Frame) AppendWire(dst []byte) ([]byte, error) {
	if !f.hdr.Changed() {
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
