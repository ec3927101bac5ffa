// Package bolt is the SOFABolt codec (SOFARPC's default transport) for the govoy-rpc network
// filter, protocol versions 1 and 2. Routing fields come from the Bolt header map SOFARPC fills
// (service unique name, method name); the content (the serialized SofaRequest) is never read.
//
// Request header, v1 (22 bytes) / v2 (24 bytes, adds ver1 after proto and a switch byte after codec):
//
//	proto | [ver1] | type | cmdcode(2) | ver2 | requestId(4) | codec | [switch] | timeout(4) |
//	classLen(2) | headerLen(2) | contentLen(4) | class | header | content | [CRC32 when v2, ver1=2, switch bit 0]
//
// Responses carry respStatus(2) where requests carry timeout(4) (20 / 22 bytes). The header map is
// a sequence of (int32 length, bytes) key and value strings; length -1 is a null string.
package bolt

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"unsafe"

	"github.com/govoy/govoy/filters/rpc/codec"
)

// Name is the registry key of this codec.
const Name = "bolt"

// Protocol codes (first byte) and v2 protocol versions.
const (
	ProtoV1 = 1
	ProtoV2 = 2

	ver1Plain = 1 // v2 frame without optional CRC
	ver1CRC   = 2 // v2 frame that may carry a CRC (switch bit 0)

	switchCRC = 0x01
)

// Command types and codes.
const (
	TypeResponse      = 0
	TypeRequest       = 1
	TypeOnewayRequest = 2

	CmdHeartbeat   = 0
	CmdRPCRequest  = 1
	CmdRPCResponse = 2

	CodecHessian2 = 1
)

// Response status codes (SOFABolt ResponseStatus).
const (
	StatusSuccess                 = 0x00
	StatusError                   = 0x01
	StatusServerException         = 0x02
	StatusUnknown                 = 0x03
	StatusServerThreadpoolBusy    = 0x04
	StatusErrorComm               = 0x05
	StatusNoProcessor             = 0x06
	StatusTimeout                 = 0x07
	StatusClientSendError         = 0x08
	StatusCodecException          = 0x09
	StatusConnectionClosed        = 0x10
	StatusServerSerialException   = 0x11
	StatusServerDeserialException = 0x12
)

// Header keys SOFARPC writes and routing reads.
const (
	KeyService       = "service"                  // "interface:version[:uniqueId]", SOFARPC 5
	KeyTargetService = "sofa_head_target_service" // same value, older clients
	KeyMethod        = "sofa_head_method_name"
	KeyTargetApp     = "sofa_head_target_app"
)

// layout holds the offsets of one header shape.
type layout struct {
	typ, cmd, ver2, id, codec, sw   int // sw < 0: no switch byte (v1)
	timeout, status                 int // one of them is < 0
	classLen, headerLen, contentLen int
	size                            int
}

var (
	v1Req  = layout{typ: 1, cmd: 2, ver2: 4, id: 5, codec: 9, sw: -1, timeout: 10, status: -1, classLen: 14, headerLen: 16, contentLen: 18, size: 22}
	v1Resp = layout{typ: 1, cmd: 2, ver2: 4, id: 5, codec: 9, sw: -1, timeout: -1, status: 10, classLen: 12, headerLen: 14, contentLen: 16, size: 20}
	v2Req  = layout{typ: 2, cmd: 3, ver2: 5, id: 6, codec: 10, sw: 11, timeout: 12, status: -1, classLen: 16, headerLen: 18, contentLen: 20, size: 24}
	v2Resp = layout{typ: 2, cmd: 3, ver2: 5, id: 6, codec: 10, sw: 11, timeout: -1, status: 12, classLen: 14, headerLen: 16, contentLen: 18, size: 22}
)

func layoutFor(proto, typ byte) *layout {
	switch {
	case proto == ProtoV1 && typ == TypeResponse:
		return &v1Resp
	case proto == ProtoV1:
		return &v1Req
	case typ == TypeResponse:
		return &v2Resp
	default:
		return &v2Req
	}
}

// Codec implements codec.Codec for Bolt v1 and v2. The zero value is ready to use.
type Codec struct{}

func init() { codec.MustRegister(Codec{}) }

var _ codec.Codec = Codec{}

func (Codec) Name() string { return Name }

func (Codec) IDSpace() uint64 { return math.MaxUint32 }

func (Codec) Match(b []byte) codec.Match {
	if len(b) == 0 {
		return codec.MatchMore
	}
	off := 0
	switch b[0] {
	case ProtoV1:
	case ProtoV2:
		off = 1
		if len(b) > 1 && b[1] != ver1Plain && b[1] != ver1CRC {
			return codec.MatchNo
		}
	default:
		return codec.MatchNo
	}
	if len(b) > 1+off && b[1+off] > TypeOnewayRequest {
		return codec.MatchNo
	}
	if len(b) < 4+off {
		return codec.MatchMore
	}
	// Command codes are small (heartbeat, request, response, and a few control codes).
	if binary.BigEndian.Uint16(b[2+off:]) > 0xff {
		return codec.MatchNo
	}
	return codec.MatchYes
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("bolt: %s: %w", fmt.Sprintf(format, args...), codec.ErrMalformed)
}

func (Codec) Decode(buf []byte, _ codec.Side, maxFrame int) (codec.Frame, int, error) {
	if len(buf) == 0 {
		return nil, 0, nil
	}
	proto := buf[0]
	if proto != ProtoV1 && proto != ProtoV2 {
		return nil, 0, malformed("unknown protocol code %d", proto)
	}
	typOff := 1
	if proto == ProtoV2 {
		typOff = 2
		if len(buf) > 1 && buf[1] != ver1Plain && buf[1] != ver1CRC {
			return nil, 0, malformed("unknown v2 protocol version %d", buf[1])
		}
	}
	if len(buf) <= typOff {
		return nil, 0, nil
	}
	typ := buf[typOff]
	if typ > TypeOnewayRequest {
		return nil, 0, malformed("unknown command type %d", typ)
	}
	l := layoutFor(proto, typ)
	if len(buf) < l.size {
		return nil, 0, nil
	}
	classLen := int16(binary.BigEndian.Uint16(buf[l.classLen:]))
	headerLen := int16(binary.BigEndian.Uint16(buf[l.headerLen:]))
	contentLen := int32(binary.BigEndian.Uint32(buf[l.contentLen:]))
	if classLen < 0 || headerLen < 0 || contentLen < 0 {
		return nil, 0, malformed("negative length (class %d, header %d, content %d)", classLen, headerLen, contentLen)
	}
	total := int64(l.size) + int64(classLen) + int64(headerLen) + int64(contentLen)
	crc := proto == ProtoV2 && buf[1] == ver1CRC && buf[l.sw]&switchCRC != 0
	if crc {
		total += 4
	}
	if maxFrame <= 0 {
		maxFrame = codec.DefaultMaxFrame
	}
	if total > int64(maxFrame) {
		return nil, 0, fmt.Errorf("bolt: frame of %d bytes exceeds the %d byte limit: %w", total, maxFrame, codec.ErrFrameTooLarge)
	}
	if int64(len(buf)) < total {
		return nil, 0, nil
	}
	f := allocFrame(int(total))
	copy(f.raw, buf)
	f.l, f.crc = l, crc
	if crc {
		end := len(f.raw) - 4
		if want, got := binary.BigEndian.Uint32(f.raw[end:]), crc32.ChecksumIEEE(f.raw[:end]); want != got {
			return nil, 0, malformed("CRC32 mismatch: frame says %08x, computed %08x", want, got)
		}
	}
	f.parse()
	return f, int(total), nil
}

// frameSize is unsafe.Sizeof(Frame{}) (a test checks it): allocFrame's buffer sizes are chosen
// so that frame plus buffer fill one of Go's size classes.
const frameSize = 104

// allocFrame returns a frame whose raw has length and capacity n. Up to 4 KiB the bytes share
// the frame's allocation: one allocation per decoded frame instead of two, which matters at a
// million frames a second. Each buffer is a size class less frameSize (and less the 8-byte
// header Go puts on objects over 512 bytes).
func allocFrame(n int) *Frame {
	switch {
	case n <= 256-frameSize:
		return allocWith[[256 - frameSize]byte](n)
	case n <= 512-frameSize:
		return allocWith[[512 - frameSize]byte](n)
	case n <= 640-8-frameSize:
		return allocWith[[640 - 8 - frameSize]byte](n)
	case n <= 768-8-frameSize:
		return allocWith[[768 - 8 - frameSize]byte](n)
	case n <= 1024-8-frameSize:
		return allocWith[[1024 - 8 - frameSize]byte](n)
	case n <= 1152-8-frameSize:
		return allocWith[[1152 - 8 - frameSize]byte](n)
	case n <= 1408-8-frameSize:
		return allocWith[[1408 - 8 - frameSize]byte](n)
	case n <= 1792-8-frameSize:
		return allocWith[[1792 - 8 - frameSize]byte](n)
	case n <= 2304-8-frameSize:
		return allocWith[[2304 - 8 - frameSize]byte](n)
	case n <= 3072-8-frameSize:
		return allocWith[[3072 - 8 - frameSize]byte](n)
	case n <= 4096-8-frameSize:
		return allocWith[[4096 - 8 - frameSize]byte](n)
	}
	return &Frame{raw: make([]byte, n)}
}

// allocWith allocates a frame followed by a B (a byte array of at least n bytes) and makes raw
// the first n bytes of it. The capacity is n, so appends never write into the rest of B.
func allocWith[B any](n int) *Frame {
	x := new(struct {
		Frame
		b B
	})
	x.raw = unsafe.Slice((*byte)(unsafe.Pointer(&x.b)), n)
	return &x.Frame
}

func (Codec) Encode(f codec.Frame, dst []byte) ([]byte, error) {
	bf, ok := f.(*Frame)
	if !ok {
		return dst, fmt.Errorf("bolt: encode %T: %w", f, codec.ErrForeignFrame)
	}
	return bf.AppendWire(dst)
}

// newResponse builds a response frame shaped like req (protocol version, switch, codec).
func newResponse(req *Frame, cmd uint16, status uint16) *Frame {
	proto := req.raw[0]
	l := layoutFor(proto, TypeResponse)
	raw := make([]byte, l.size, l.size+4)
	raw[0] = proto
	if proto == ProtoV2 {
		raw[1] = req.raw[1]
		raw[l.sw] = req.raw[req.l.sw]
	}
	raw[l.typ] = TypeResponse
	binary.BigEndian.PutUint16(raw[l.cmd:], cmd)
	raw[l.ver2] = req.raw[req.l.ver2]
	binary.BigEndian.PutUint32(raw[l.id:], uint32(req.ID()))
	raw[l.codec] = req.raw[req.l.codec]
	binary.BigEndian.PutUint16(raw[l.status:], status)
	f := &Frame{raw: raw, l: l, crc: req.crc}
	if f.crc {
		f.raw = binary.BigEndian.AppendUint32(f.raw, crc32.ChecksumIEEE(f.raw))
	}
	f.parse()
	return f
}

// Heartbeat builds a v1 heartbeat request, the form every Bolt peer accepts.
func (Codec) Heartbeat(id uint64) codec.Frame {
	l := &v1Req
	raw := make([]byte, l.size)
	raw[0] = ProtoV1
	raw[l.typ] = TypeRequest
	binary.BigEndian.PutUint16(raw[l.cmd:], CmdHeartbeat)
	raw[l.ver2] = 1
	binary.BigEndian.PutUint32(raw[l.id:], uint32(id))
	raw[l.codec] = CodecHessian2
	binary.BigEndian.PutUint32(raw[l.timeout:], math.MaxUint32) // -1: no timeout
	f := &Frame{raw: raw, l: l}
	f.parse()
	return f
}

func (Codec) HeartbeatReply(req codec.Frame) (codec.Frame, error) {
	bf, ok := req.(*Frame)
	if !ok {
		return nil, fmt.Errorf("bolt: heartbeat reply to %T: %w", req, codec.ErrForeignFrame)
	}
	if !bf.IsHeartbeat() || bf.Kind() != codec.KindRequest {
		return nil, fmt.Errorf("bolt: heartbeat reply: frame %d is not a heartbeat request: %w", bf.ID(), codec.ErrNotRequest)
	}
	return newResponse(bf, CmdHeartbeat, StatusSuccess), nil
}

// StatusFor maps a neutral status to the Bolt response status a hijack uses (the same choices
// MOSN's Bolt mapping makes, so SOFARPC clients raise the same exceptions behind either proxy).
func StatusFor(st codec.Status) uint16 {
	switch st {
	case codec.StatusOK:
		return StatusSuccess
	case codec.StatusNoRoute:
		return StatusNoProcessor
	case codec.StatusNoProvider:
		return StatusConnectionClosed
	case codec.StatusTimeout:
		return StatusTimeout
	case codec.StatusRateLimited, codec.StatusCircuitOpen:
		return StatusServerThreadpoolBusy
	case codec.StatusBadRequest:
		return StatusCodecException
	default:
		return StatusUnknown
	}
}

// Hijack builds an RPC response carrying only the status: the Bolt client turns the status into
// its exception (InvokeTimeoutException, InvokeServerBusyException, ...) without reading content.
// Bolt has no error-message field outside the serialized content, so msg is not sent.
func (Codec) Hijack(req codec.Frame, st codec.Status, msg string) (codec.Frame, error) {
	bf, ok := req.(*Frame)
	if !ok {
		return nil, fmt.Errorf("bolt: hijack %T: %w", req, codec.ErrForeignFrame)
	}
	if bf.Kind() != codec.KindRequest {
		return nil, fmt.Errorf("bolt: hijack: frame %d is a %s, only two-way requests get a response: %w", bf.ID(), bf.Kind(), codec.ErrNotRequest)
	}
	if st == codec.StatusOK {
		return nil, fmt.Errorf("bolt: hijack: status must be an error, got %s", st)
	}
	return newResponse(bf, CmdRPCResponse, StatusFor(st)), nil
}
