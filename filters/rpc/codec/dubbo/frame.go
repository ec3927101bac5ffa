package dubbo

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unsafe"

	hessian "github.com/apache/dubbo-go-hessian2"

	"github.com/govoy/govoy/filters/rpc/codec"
	"github.com/govoy/govoy/filters/rpc/codec/hessianscan"
)

// Frame is a decoded Dubbo message. It owns raw; routing strings point into it.
//
// Decode reads only the routing fields; the attachments map is validated and searched for the
// few keys routing needs, but the full header list is built on the first Headers call (most
// requests are routed on service and method alone). Like every mutation, that first call must
// come from the goroutine that owns the frame.
type Frame struct {
	raw   []byte
	err   error
	att   *attachments       // built by Headers
	extra *[numFields]string // fields that are not bytes of raw (chunked or converted strings); rare
	// The routing fields as spans of raw: decoding writes no pointers (none to pass through the
	// GC's write barrier); Route and the accessors make the strings.
	fields  [numFields]span
	timeout time.Duration
	// attStart/attEnd locate the attachments map (or its null) in raw; attStart is 0 when the body
	// ends before it.
	attStart, attEnd int
	// attEntries is where the map's entries begin (after 'H', or 'M' and its type); 0 when the
	// body has no map.
	attEntries int
	// nParams is the number of arguments; classes the field counts of the class definitions the
	// arguments made (attachments may refer to them), valid when nClasses <= len(classes).
	nParams  int32
	nClasses int32
	classes  [6]uint8
	// generic says the request is a generic invocation ($invoke or $invokeAsync, see
	// genericNames) whose fieldMethod is the real method, read from the first argument.
	generic uint8
}

// Dubbo's generic invocation: $invoke(String method, String[] parameterTypes, Object[] args), and
// $invokeAsync with the same arguments. genericNames is indexed by Frame.generic.
const genericDesc = "Ljava/lang/String;[Ljava/lang/String;[Ljava/lang/Object;"

var genericNames = [...]string{"", "$invoke", "$invokeAsync"}

// The string fields of a request, in body order, then the group from the attachments.
const (
	fieldDubboVersion = iota
	fieldService
	fieldVersion
	fieldMethod
	fieldParamTypes
	fieldGroup
	numFields
)

var fieldNames = [...]string{"dubbo version", "service path", "service version", "method name", "parameter types"}

// span locates a field in raw; n == -1 means the field is in extra.
type span struct{ off, n int32 }

// set stores field i: as a span when s is bytes of raw (the scanner's strings usually are).
func (f *Frame) set(i int, s string) {
	if s == "" {
		f.fields[i] = span{}
		return
	}
	off := uintptr(unsafe.Pointer(unsafe.StringData(s))) - uintptr(unsafe.Pointer(unsafe.SliceData(f.raw)))
	if len(f.raw) <= math.MaxInt32 && off < uintptr(len(f.raw)) && uintptr(len(s)) <= uintptr(len(f.raw))-off {
		f.fields[i] = span{int32(off), int32(len(s))}
		return
	}
	if f.extra == nil {
		f.extra = new([numFields]string)
	}
	f.extra[i] = s
	f.fields[i] = span{n: -1}
}

// get returns field i. Spans were cut from raw, whose length never changes, so the string is
// made without a bounds check: Route calls this four times per call.
func (f *Frame) get(i int) string {
	switch sp := f.fields[i]; {
	case sp.n > 0:
		return unsafe.String((*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(f.raw)), sp.off)), sp.n)
	case sp.n < 0:
		return f.extra[i]
	}
	return ""
}

// attachments is the header list of a request, built on demand.
type attachments struct {
	codec.Pairs
	buf [8]codec.Pair // backing store: most requests carry fewer attachments
	// opaque holds [start,end) of attachment entries whose value is not a scalar; they are copied
	// verbatim when the attachments are re-encoded.
	opaque [][2]int
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

// readOnlyEvent is the data of Dubbo's read-only event (a hessian2 string), which a provider that
// starts shutting down sends, oneway, on each of its consumer connections.
const readOnlyEvent = "R"

// IsGoAway reports Dubbo's read-only event: the provider takes no new calls on this connection.
func (f *Frame) IsGoAway() bool {
	if !f.IsEvent() || f.Kind() == codec.KindResponse || f.SerializationID() != SerializationHessian2 {
		return false
	}
	s := hessianscan.New(f.raw[headerLen:])
	v, ok, err := s.String()
	return err == nil && ok && v == readOnlyEvent && s.Remaining() == 0
}

// SerializationID is the serialization of the body (2 = hessian2).
func (f *Frame) SerializationID() byte { return f.flag() & serialMask }

func (f *Frame) ID() uint64 { return binary.BigEndian.Uint64(f.raw[4:12]) }

func (f *Frame) SetID(id uint64) { binary.BigEndian.PutUint64(f.raw[4:12], id) }

// Route's Method is the real method of a generic invocation (the string its first argument
// carries), so routes, rate limits and metrics see what a typed call of it would show.
func (f *Frame) Route() codec.Route {
	return codec.Route{Service: f.get(fieldService), Method: f.get(fieldMethod), Version: f.get(fieldVersion), Group: f.get(fieldGroup), Timeout: f.timeout}
}

// Headers returns the attachments, reading them from the frame on the first call.
func (f *Frame) Headers() codec.Headers {
	if f.att == nil {
		f.att = new(attachments)
		f.att.Use(f.att.buf[:0])
		if f.attEntries != 0 {
			f.readAttachments()
		}
	}
	return &f.att.Pairs
}

func (f *Frame) attChanged() bool { return f.att != nil && f.att.Changed() }

func (f *Frame) Err() error { return f.err }

// DubboVersion is the protocol version string a request body starts with (e.g. "2.0.2").
func (f *Frame) DubboVersion() string { return f.get(fieldDubboVersion) }

// IsGeneric reports a generic invocation ($invoke or $invokeAsync) that names its real method.
func (f *Frame) IsGeneric() bool { return f.generic != 0 }

// WireMethod is the method name the body carries: "$invoke" or "$invokeAsync" for a generic
// invocation (whose Route().Method is the real method), otherwise Route().Method.
func (f *Frame) WireMethod() string {
	if f.generic != 0 {
		return genericNames[f.generic]
	}
	return f.get(fieldMethod)
}

// ParamTypes is the JVM descriptor of the argument types, e.g. "Ljava/lang/String;I".
func (f *Frame) ParamTypes() string { return f.get(fieldParamTypes) }

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

func (f *Frame) parseBody() error {
	var sc hessianscan.Scanner
	sc.Reset(f.raw[headerLen:])
	s := &sc
	small := len(f.raw) <= math.MaxInt32 // spans hold int32 offsets
	for i, name := range fieldNames {
		if start, n := s.ShortASCIISpan(); n >= 0 && small {
			f.fields[i] = span{int32(headerLen + start), int32(n)}
			continue
		} else if n >= 0 {
			f.set(i, string(f.raw[headerLen+start:headerLen+start+n]))
			continue
		}
		v, _, err := s.String()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		f.set(i, v)
	}
	types := f.get(fieldParamTypes)
	n, err := countParams(types)
	if err != nil {
		return fmt.Errorf("parameter types %q: %w", types, err)
	}
	first := 0
	if m := f.get(fieldMethod); len(m) > 0 && m[0] == '$' { // a plain method name starts with a letter
		if first, err = f.parseGeneric(s, m, types); err != nil {
			return err
		}
	}
	for i := first; i < n; i++ {
		if err := s.Skip(); err != nil {
			return fmt.Errorf("argument %d: %w", i, err)
		}
	}
	f.nParams = int32(n)
	if s.Remaining() == 0 {
		return nil
	}
	f.saveClasses(s)
	var r routeAtt
	if err := f.scanAttachments(s, &r); err != nil {
		return fmt.Errorf("attachments: %w", err)
	}
	if r.found&(1<<slotGroup) != 0 {
		f.set(fieldGroup, r.val[slotGroup])
	}
	if f.fields[fieldService].n == 0 {
		f.set(fieldService, r.val[slotInterface])
	}
	if f.fields[fieldVersion].n == 0 {
		f.set(fieldVersion, r.val[slotVersion])
	}
	if r.found&(1<<slotTimeout) != 0 {
		v := r.val[slotTimeout]
		ms, err := parseMillis(v)
		if err != nil || ms < 0 {
			return fmt.Errorf("attachment %q: %q is not a number of milliseconds", KeyTimeout, v)
		}
		f.timeout = time.Duration(ms) * time.Millisecond
	}
	return nil
}

// parseGeneric reads the real method of a generic invocation (method m, parameter types types)
// from its first argument and reports how many arguments it consumed. A generic call whose first
// argument is not a non-empty string keeps its wire method.
func (f *Frame) parseGeneric(s *hessianscan.Scanner, m, types string) (int, error) {
	var g uint8
	switch m {
	case genericNames[1]:
		g = 1
	case genericNames[2]:
		g = 2
	default:
		return 0, nil
	}
	if types != genericDesc || !s.AtString() {
		return 0, nil
	}
	real, _, err := s.String() // points into raw unless chunked: set keeps it as a span
	if err != nil {
		return 0, fmt.Errorf("argument 0 (generic method name): %w", err)
	}
	if real != "" {
		f.set(fieldMethod, real)
		f.generic = g
	}
	return 1, nil
}

// parseMillis reads a timeout attachment the way strconv.ParseInt(v, 10, 64) does, with a fast
// path for the usual few plain digits.
func parseMillis(v string) (int64, error) {
	if len(v) == 0 || len(v) > 18 {
		return strconv.ParseInt(v, 10, 64)
	}
	var ms int64
	for i := 0; i < len(v); i++ {
		c := v[i] - '0'
		if c > 9 {
			return strconv.ParseInt(v, 10, 64) // signs and errors
		}
		ms = ms*10 + int64(c)
	}
	return ms, nil
}

// saveClasses keeps the field counts of the arguments' class definitions so Headers can read
// the attachments without skipping the arguments again.
func (f *Frame) saveClasses(s *hessianscan.Scanner) {
	f.nClasses = int32(s.NumClasses())
	if s.NumClasses() > len(f.classes) {
		return
	}
	for i := range s.NumClasses() {
		n := s.Class(i)
		if n > 0xff {
			f.nClasses = int32(len(f.classes)) + 1 // does not fit: Headers rescans
			return
		}
		f.classes[i] = uint8(n)
	}
}

// The attachments routing reads, by slot.
const (
	slotGroup = iota
	slotTimeout
	slotInterface
	slotVersion
)

// routeAtt holds the first scalar value of each routing attachment.
type routeAtt struct {
	val   [4]string
	found uint8
}

func routeSlot(key string) int {
	switch key {
	case KeyGroup:
		return slotGroup
	case KeyTimeout:
		return slotTimeout
	case KeyInterface:
		return slotInterface
	case KeyVersion:
		return slotVersion
	}
	return -1
}

// scanAttachments validates the attachments map and picks the routing keys out of it without
// building the header list. It accepts exactly what readAttachments reads.
func (f *Frame) scanAttachments(s *hessianscan.Scanner, r *routeAtt) error {
	start := s.Pos()
	ok, err := s.MapStart()
	if err != nil {
		return err
	}
	if !ok { // a null map is no attachments; AppendWire writes a map in its place
		f.attStart, f.attEnd = headerLen+start, headerLen+s.Pos()
		return nil
	}
	f.attEntries = headerLen + s.Pos()
	for !s.End() {
		if s.Remaining() == 0 {
			return fmt.Errorf("map not terminated: %w", hessianscan.ErrTruncated)
		}
		var key string
		start, n := s.ShortASCIISpan() // the usual key: no need for the general Scalar
		isStr := n >= 0
		if n > 0 {
			key = unsafe.String(&f.raw[headerLen+start], n)
		} else if !isStr {
			var err error
			if key, isStr, err = s.Scalar(); err != nil {
				return fmt.Errorf("key: %w", err)
			}
		}
		if slot := routeSlot(key); isStr && slot >= 0 && r.found&(1<<slot) == 0 {
			var val string
			start, n := s.ShortASCIISpan()
			isScalar := n >= 0
			if n > 0 {
				val = unsafe.String(&f.raw[headerLen+start], n)
			} else if !isScalar {
				var err error
				if val, isScalar, err = s.Scalar(); err != nil {
					return fmt.Errorf("value of %q: %w", key, err)
				}
			}
			if isScalar {
				r.val[slot] = val
				r.found |= 1 << slot
			}
		} else if _, n := s.ShortASCIISpan(); n < 0 {
			if err := s.Skip(); err != nil {
				return fmt.Errorf("value of %q: %w", key, err)
			}
		}
	}
	f.attStart, f.attEnd = headerLen+start, headerLen+s.Pos()
	return nil
}

// readAttachments builds the header list. The entries were validated by scanAttachments; should
// the frame be unreadable (Err), the entries before the fault are kept.
func (f *Frame) readAttachments() {
	var sc hessianscan.Scanner
	var classes [8]int
	s := &sc
	if int(f.nClasses) <= len(f.classes) {
		for i := range f.nClasses {
			classes[i] = int(f.classes[i])
		}
		sc.ResetAt(f.raw[headerLen:], f.attEntries-headerLen, classes[:f.nClasses])
	} else { // too many classes to keep: skip the leading fields and the arguments again
		sc.Reset(f.raw[headerLen:])
		for range 5 + int(f.nParams) {
			if s.Skip() != nil {
				return
			}
		}
		if ok, err := s.MapStart(); err != nil || !ok {
			return
		}
	}
	for !s.End() && s.Remaining() > 0 {
		entry := s.Pos()
		key, isStr, err := s.Scalar()
		if err != nil {
			return
		}
		val, isScalar, err := s.Scalar()
		if err != nil {
			return
		}
		if isStr && isScalar {
			f.att.Add(key, val, headerLen+entry, headerLen+s.Pos())
		} else {
			f.att.opaque = append(f.att.opaque, [2]int{headerLen + entry, headerLen + s.Pos()})
		}
	}
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
	if !f.attChanged() {
		return append(dst, f.raw...), nil
	}
	if f.Kind() == codec.KindResponse || f.IsEvent() || f.err != nil {
		return dst, fmt.Errorf("dubbo: frame %d: attachments can be changed only on a readable request", f.ID())
	}
	base := len(dst)
	end := f.attEnd
	switch {
	case f.attStart == 0: // no attachments in the body: add a map at its end
		end = len(f.raw)
		dst = append(dst, f.raw...)
		dst = append(dst, 'H')
	case f.attEntries == 0: // a null in their place: a map replaces it, whatever follows stays
		dst = append(dst, f.raw[:f.attStart]...)
		dst = append(dst, 'H')
	default: // keep the map's own start ('H', or 'M' with its type)
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
	for _, o := range f.att.opaque {
		dst = append(dst, f.raw[o[0]:o[1]]...)
	}
	dst = append(dst, 'Z')
	dst = append(dst, f.raw[end:]...)
	binary.BigEndian.PutUint32(dst[base+12:base+16], uint32(len(dst)-base-headerLen))
	return dst, nil
}
