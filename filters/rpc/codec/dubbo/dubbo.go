// Package dubbo is the Dubbo (dubbo:// over TCP, hessian2 serialization) codec for the govoy-rpc
// network filter. It reads only what routing needs from a request: the header, then in the hessian2
// body the dubbo version, service path, service version, method name and parameter types; the
// arguments are skipped without being built and the attachments map is read in place.
//
// Frame layout (16-byte header, big endian):
//
//	0-1 magic 0xdabb | 2 flags: 0x80 request, 0x40 two-way, 0x20 event, low 5 bits serialization id
//	3 status (responses) | 4-11 request id | 12-15 body length | body
package dubbo

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	hessian "github.com/apache/dubbo-go-hessian2"

	"github.com/govoy/govoy/filters/rpc/codec"
)

// Name is the registry key of this codec.
const Name = "dubbo"

const (
	headerLen = 16
	magicHigh = 0xda
	magicLow  = 0xbb

	flagRequest = 0x80
	flagTwoWay  = 0x40
	flagEvent   = 0x20
	serialMask  = 0x1f

	// SerializationHessian2 is the only serialization whose body this codec reads.
	SerializationHessian2 = 2
)

// Response status codes of the Dubbo protocol.
const (
	StatusOK                  = 20
	StatusClientTimeout       = 30
	StatusServerTimeout       = 31
	StatusBadRequest          = 40
	StatusBadResponse         = 50
	StatusServiceNotFound     = 60
	StatusServiceError        = 70
	StatusServerError         = 80
	StatusClientError         = 90
	StatusThreadpoolExhausted = 100
)

// Attachment keys the routing fields come from.
const (
	KeyGroup     = "group"
	KeyTimeout   = "timeout"
	KeyInterface = "interface"
	KeyVersion   = "version"
)

// Codec implements codec.Codec for Dubbo. The zero value is ready to use.
type Codec struct{}

func init() { codec.MustRegister(Codec{}) }

var _ codec.Codec = Codec{}

func (Codec) Name() string { return Name }

func (Codec) IDSpace() uint64 { return math.MaxInt64 } // Java long, never negative in practice

func (Codec) Match(b []byte) codec.Match {
	if len(b) == 0 {
		return codec.MatchMore
	}
	if b[0] != magicHigh {
		return codec.MatchNo
	}
	if len(b) == 1 {
		return codec.MatchMore
	}
	if b[1] != magicLow {
		return codec.MatchNo
	}
	return codec.MatchYes
}

func (Codec) Decode(buf []byte, _ codec.Side, maxFrame int) (codec.Frame, int, error) {
	if len(buf) > 0 && buf[0] != magicHigh || len(buf) > 1 && buf[1] != magicLow {
		return nil, 0, fmt.Errorf("dubbo: bad magic 0x%x: %w", buf[:min(2, len(buf))], codec.ErrMalformed)
	}
	if len(buf) < headerLen {
		return nil, 0, nil
	}
	bodyLen := int64(binary.BigEndian.Uint32(buf[12:16]))
	total := headerLen + bodyLen
	if maxFrame <= 0 {
		maxFrame = codec.DefaultMaxFrame
	}
	if total > int64(maxFrame) {
		return nil, 0, fmt.Errorf("dubbo: frame of %d bytes exceeds the %d byte limit: %w", total, maxFrame, codec.ErrFrameTooLarge)
	}
	if int64(len(buf)) < total {
		return nil, 0, nil
	}
	f := allocFrame(int(total))
	copy(f.raw, buf)
	f.parse()
	return f, int(total), nil
}

// frameSize is unsafe.Sizeof(Frame{}) (a test checks it): allocFrame's buffer sizes are chosen
// so that frame plus buffer fill one of Go's size classes.
const frameSize = 152

// allocFrame returns a frame whose raw has length and capacity n. Up to 4 KiB the bytes share
// the frame's allocation: one allocation per decoded frame instead of two, which matters at a
// million frames a second. Each buffer is a size class less frameSize (and less the 8-byte
// header Go puts on objects over 512 bytes).
func allocFrame(n int) *Frame {
	switch {
	case n <= 256-frameSize:
		return allocWith[[256 - frameSize]byte](n)
	case n <= 384-frameSize:
		return allocWith[[384 - frameSize]byte](n)
	case n <= 512-frameSize:
		return allocWith[[512 - frameSize]byte](n)
	case n <= 640-8-frameSize:
		return allocWith[[640 - 8 - frameSize]byte](n)
	case n <= 768-8-frameSize:
		return allocWith[[768 - 8 - frameSize]byte](n)
	case n <= 1024-8-frameSize:
		return allocWith[[1024 - 8 - frameSize]byte](n)
	case n <= 1280-8-frameSize:
		return allocWith[[1280 - 8 - frameSize]byte](n)
	case n <= 1536-8-frameSize:
		return allocWith[[1536 - 8 - frameSize]byte](n)
	case n <= 2048-8-frameSize:
		return allocWith[[2048 - 8 - frameSize]byte](n)
	case n <= 2688-8-frameSize:
		return allocWith[[2688 - 8 - frameSize]byte](n)
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
	df, ok := f.(*Frame)
	if !ok {
		return dst, fmt.Errorf("dubbo: encode %T: %w", f, codec.ErrForeignFrame)
	}
	return df.AppendWire(dst)
}

// newFrame builds a frame from a header and a hessian2 body.
func newFrame(flag, status byte, id uint64, body []byte) *Frame {
	raw := make([]byte, headerLen, headerLen+len(body))
	raw[0], raw[1], raw[2], raw[3] = magicHigh, magicLow, flag, status
	binary.BigEndian.PutUint64(raw[4:12], id)
	binary.BigEndian.PutUint32(raw[12:16], uint32(len(body)))
	f := &Frame{raw: append(raw, body...)}
	f.parse()
	return f
}

// nullBody is a hessian2 null: the body of heartbeats.
var nullBody = []byte{'N'}

func (Codec) Heartbeat(id uint64) codec.Frame {
	return newFrame(flagRequest|flagTwoWay|flagEvent|SerializationHessian2, 0, id, nullBody)
}

func (Codec) HeartbeatReply(req codec.Frame) (codec.Frame, error) {
	df, ok := req.(*Frame)
	if !ok {
		return nil, fmt.Errorf("dubbo: heartbeat reply to %T: %w", req, codec.ErrForeignFrame)
	}
	if !df.IsHeartbeat() || df.Kind() != codec.KindRequest {
		return nil, fmt.Errorf("dubbo: heartbeat reply: frame %d is not a two-way heartbeat request: %w", df.ID(), codec.ErrNotRequest)
	}
	return newFrame(flagEvent|df.raw[2]&serialMask, StatusOK, df.ID(), nullBody), nil
}

// StatusFor maps a neutral status to the Dubbo response status a hijack uses.
func StatusFor(st codec.Status) byte {
	switch st {
	case codec.StatusOK:
		return StatusOK
	case codec.StatusNoRoute, codec.StatusNoProvider:
		return StatusServiceNotFound
	case codec.StatusTimeout:
		return StatusServerTimeout
	case codec.StatusRateLimited, codec.StatusCircuitOpen:
		return StatusThreadpoolExhausted
	case codec.StatusBadRequest:
		return StatusBadRequest
	default:
		return StatusServerError
	}
}

// Hijack builds the response a Dubbo provider sends when it fails a call itself: the status in the
// header and the error message as a hessian2 string body (Dubbo clients read it with readUTF and
// raise RemotingException, or TimeoutException for the timeout statuses). The body is hessian2
// whatever the request used, and the serialization id says so.
func (Codec) Hijack(req codec.Frame, st codec.Status, msg string) (codec.Frame, error) {
	df, ok := req.(*Frame)
	if !ok {
		return nil, fmt.Errorf("dubbo: hijack %T: %w", req, codec.ErrForeignFrame)
	}
	if df.Kind() != codec.KindRequest {
		return nil, fmt.Errorf("dubbo: hijack: frame %d is a %s, only two-way requests get a response: %w", df.ID(), df.Kind(), codec.ErrNotRequest)
	}
	if st == codec.StatusOK {
		return nil, fmt.Errorf("dubbo: hijack: status must be an error, got %s", st)
	}
	if msg == "" {
		msg = st.String()
	}
	e := hessian.NewEncoder()
	if err := e.Encode(msg); err != nil {
		return nil, fmt.Errorf("dubbo: hijack: encode message: %w", err)
	}
	return newFrame(SerializationHessian2, StatusFor(st), df.ID(), e.Buffer()), nil
}
