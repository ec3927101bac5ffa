package dubbo

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"

	hessian "github.com/apache/dubbo-go-hessian2"

	"github.com/govoy/govoy/filters/rpc/codec"
	"github.com/govoy/govoy/filters/rpc/codec/hessianscan"
)

// Frame is a decoded Dubbo message. It owns raw; routing strings point into it.
type Frame struct {
	raw   []byte
	route codec.Route
	err   error

	dubboVersion string
	paramTypes   string
	att          codec.Pairs
	attBuf       [8]codec.Pair // backing store for att: most requests carry fewer attachments
	classBuf     [8]int        // class table of the body scan: arguments rarely use more classes
	// opaque holds [start,end) of attachment entries whose value is not a scalar; they are copied
	// verbatim when the attachments are re-encoded.
	opaque [][2]int
	// attStart/attEnd locate the attachments map in raw; attStart is 0 when the body has none.
	attStart, attEnd int
	// attEntries is where the map's entries begin (after 'H', or 'M' and its type).
	attEntries int
}

var _ codec.Frame = (*Frame)(nil)

func (f *Frame) flag() byte { return f.raw[2] }

func (f *Frame) Kind() codec.Kind {
	switch {
	case f.flag()&flagRequest == 0:
		return codec.KindResponse
	case f.flag()&flagTwoWay != 0:
		return codec.KindRequest
	default:
		return codec.KindOnewayRequest
	}
}

// IsEvent reports the event flag (heartbeats, read-only notices).
func (f *Frame) IsEvent() bool { return f.flag()&flagEvent != 0 }

// IsHeartbeat: an event whose body is hessian2 null (or empty), as Dubbo sends them.
func (f *Frame) IsHeartbeat() bool {
	if !f.IsEvent() {
		return false
	}
	body := f.raw[headerLen:]
	return len(body) == 0 || len(body) == 1 && body[0] == 'N'
}

// SerializationID is the serialization of the body (2 = hessian2).
func (f *Frame) SerializationID() byte { return f.flag() & serialMask }

func (f *Frame) ID() uint64 { return binary.BigEndian.Uint64(f.raw[4:12]) }

func (f *Frame) SetID(id uint64) { binary.BigEndian.PutUint64(f.raw[4:12], id) }

func (f *Frame) Route() codec.Route { return f.route }

func (f *Frame) Headers() codec.Headers { return &f.att }

func (f *Frame) Err() error { return f.err }

// DubboVersion is the protocol version string a request body starts with (e.g. "2.0.2").
func (f *Frame) DubboVersion() string { return f.dubboVersion }

// ParamTypes is the JVM descriptor of the argument types, e.g. "Ljava/lang/String;I".
func (f *Frame) ParamTypes() string { return f.paramTypes }

// Body is the frame's body bytes (read-only).
func (f *Frame) Body() []byte { return f.raw[headerLen:] }

func (f *Frame) StatusCode() uint32 {
	if f.Kind() != codec.KindResponse {
		return 0
	}
	return uint32(f.raw[3])
}

func (f *Frame) Status() codec.Status {
	if f.Kind() != codec.KindResponse {
		return codec.StatusOK
	}
	switch f.raw[3] {
	case StatusOK:
		return codec.StatusOK
	case StatusClientTimeout, StatusServerTimeout:
		return codec.StatusTimeout
	case StatusBadRequest, StatusClientError:
		return codec.StatusBadRequest
	case StatusServiceNotFound:
		return codec.StatusNoProvider
	case StatusThreadpoolExhausted:
		return codec.StatusRateLimited
	default:
		return codec.StatusServerError
	}
}

// parse fills the routing fields of a hessian2 request. Failures land in f.err: the frame itself
// is sound, so the connection can carry on.
func (f *Frame) parse() {
	if f.Kind() == codec.KindResponse || f.IsEvent() {
		return
	}
	if f.SerializationID() != SerializationHessian2 {
		f.err = fmt.Errorf("dubbo: request %d: serialization id %d: only hessian2 (2) is read: %w", f.ID(), f.SerializationID(), codec.ErrBadContent)
		return
	}
	if err := f.parseBody(); err != nil {
		f.err = fmt.Errorf("dubbo: request %d: %w: %w", f.ID(), codec.ErrBadContent, err)
	}
}

func readString(s *hessianscan.Scanner, field string) (string, error) {
	v, _, err := s.String()
	if err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	return v, nil
}

func (f *Frame) parseBody() error {
	var sc hessianscan.Scanner
	sc.Reset(f.raw[headerLen:])
	sc.UseClassTable(f.classBuf[:0])
	s := &sc
	var err error
	if f.dubboVersion, err = readString(s, "dubbo version"); err != nil {
		return err
	}
	if f.route.Service, err = readString(s, "service path"); err != nil {
		return err
	}
	if f.route.Version, err = readString(s, "service version"); err != nil {
		return err
	}
	if f.route.Method, err = readString(s, "method name"); err != nil {
		return err
	}
	if f.paramTypes, err = readString(s, "parameter types"); err != nil {
		return err
	}
	n, err := countParams(f.paramTypes)
	if err != nil {
		return fmt.Errorf("parameter types %q: %w", f.paramTypes, err)
	}
	for i := 0; i < n; i++ {
		if err := s.Skip(); err != nil {
			return fmt.Errorf("argument %d: %w", i, err)
		}
	}
	if s.Remaining() > 0 {
		if err := f.parseAttachments(s); err != nil {
			return fmt.Errorf("attachments: %w", err)
		}
	}
	if v, ok := f.att.Get(KeyGroup); ok {
		f.route.Group = v
	}
	if f.route.Service == "" {
		f.route.Service, _ = f.att.Get(KeyInterface)
	}
	if f.route.Version == "" {
		f.route.Version, _ = f.att.Get(KeyVersion)
	}
	if v, ok := f.att.Get(KeyTimeout); ok {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms < 0 {
			return fmt.Errorf("attachment %q: %q is not a number of milliseconds", KeyTimeout, v)
		}
		f.route.Timeout = time.Duration(ms) * time.Millisecond
	}
	return nil
}

func (f *Frame) parseAttachments(s *hessianscan.Scanner) error {
	start := s.Pos()
	ok, err := s.MapStart()
	if err != nil || !ok {
		return err // a null map is no attachments
	}
	f.att.Use(f.attBuf[:0])
	f.attEntries = headerLen + s.Pos()
	for !s.End() {
		if s.Remaining() == 0 {
			return fmt.Errorf("map not terminated: %w", hessianscan.ErrTruncated)
		}
		entry := s.Pos()
		key, isStr, err := s.Scalar()
		if err != nil {
			return fmt.Errorf("key: %w", err)
		}
		val, isScalar, err := s.Scalar()
		if err != nil {
			return fmt.Errorf("value of %q: %w", key, err)
		}
		if isStr && isScalar {
			f.att.Add(key, val, headerLen+entry, headerLen+s.Pos())
		} else {
			f.opaque = append(f.opaque, [2]int{headerLen + entry, headerLen + s.Pos()})
		}
	}
	f.attStart, f.attEnd = headerLen+start, headerLen+s.Pos()
	return nil
}

// countParams counts the types in a JVM method descriptor's parameter list.
func countParams(desc string) (int, error) {
	n := 0
	for i := 0; i < len(desc); {
		for i < len(desc) && desc[i] == '[' {
			i++
		}
		if i == len(desc) {
			return 0, fmt.Errorf("array without element type")
		}
		switch desc[i] {
		case 'Z', 'B', 'C', 'D', 'F', 'I', 'J', 'S':
			i++
		case 'L':
			j := strings.IndexByte(desc[i+1:], ';')
			if j < 0 {
				return 0, fmt.Errorf("class type at %d lacks ';'", i)
			}
			i += j + 2
		default:
			return 0, fmt.Errorf("unknown type letter %q at %d", desc[i], i)
		}
		n++
	}
	return n, nil
}

// AppendWire appends the frame; only when attachments were Set are they re-encoded (unchanged
// entries are copied byte for byte) and the body length fixed.
func (f *Frame) AppendWire(dst []byte) ([]byte, error) {
	if !f.att.Changed() {
		return append(dst, f.raw...), nil
	}
	if f.Kind() == codec.KindResponse || f.IsEvent() || f.err != nil {
		return dst, fmt.Errorf("dubbo: frame %d: attachments can be changed only on a readable request", f.ID())
	}
	base := len(dst)
	end := f.attEnd
	if f.attStart == 0 { // no attachments in the body: add a map at its end
		end = len(f.raw)
		dst = append(dst, f.raw...)
		dst = append(dst, 'H')
	} else { // keep the map's own start ('H', or 'M' with its type)
		dst = append(dst, f.raw[:f.attEntries]...)
	}
	e := hessian.NewEncoder()
	for _, p := range f.att.List() {
		if p.Start >= 0 {
			dst = append(dst, f.raw[p.Start:p.End]...)
			continue
		}
		if err := e.Encode(p.Key); err != nil {
			return dst[:base], fmt.Errorf("dubbo: attachment key %q: %w", p.Key, err)
		}
		if err := e.Encode(p.Value); err != nil {
			return dst[:base], fmt.Errorf("dubbo: attachment %q value: %w", p.Key, err)
		}
	}
	dst = append(dst, e.Buffer()...)
	for _, o := range f.opaque {
		dst = append(dst, f.raw[o[0]:o[1]]...)
	}
	dst = append(dst, 'Z')
	dst = append(dst, f.raw[end:]...)
	binary.BigEndian.PutUint32(dst[base+12:base+16], uint32(len(dst)-base-headerLen))
	return dst, nil
}
