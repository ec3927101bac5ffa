// Package resp is the Redis protocol (RESP2, and RESP3 replies) codec for the govoy-rpc network
// filter. It is the third protocol behind the codec interface and the ping-pong one: RESP has no
// request ids, so IDSpace is 0 and the proxy pairs replies with requests by order. Frames do not
// say whether they are commands or replies, which is why Decode is told the side.
//
// Requests are arrays of bulk strings ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n") or inline commands
// ("PING\r\n"). The route's Method is the command name in upper case and Service its first
// argument (the key), which is what key-prefix routing needs.
package resp

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unsafe"

	"github.com/govoy/govoy/filters/rpc/codec"
)

// Name is the registry key of this codec.
const Name = "resp"

// MaxDepth bounds nested aggregates in replies.
const MaxDepth = 64

// Codec implements codec.Codec for RESP. The zero value is ready to use.
type Codec struct{}

func init() { codec.MustRegister(Codec{}) }

var _ codec.Codec = Codec{}

func (Codec) Name() string { return Name }

func (Codec) IDSpace() uint64 { return 0 }

// Match accepts what clients send first: a command array ('*'). Inline commands are not sniffed,
// since any text protocol would match them.
func (Codec) Match(b []byte) codec.Match {
	switch {
	case len(b) == 0:
		return codec.MatchMore
	case b[0] != '*':
		return codec.MatchNo
	case len(b) == 1:
		return codec.MatchMore
	case b[1] >= '0' && b[1] <= '9':
		return codec.MatchYes
	}
	return codec.MatchNo
}

// parser walks one RESP value. more is set when the buffer ends before the value does.
type parser struct {
	b        []byte
	pos      int
	maxFrame int
	more     bool
	depth    int
}

var errMore = fmt.Errorf("need more bytes")

func malformed(format string, args ...any) error {
	return fmt.Errorf("resp: %s: %w", fmt.Sprintf(format, args...), codec.ErrMalformed)
}

// line returns the bytes up to CRLF and moves past it.
func (p *parser) line() ([]byte, error) {
	i := bytes.IndexByte(p.b[p.pos:], '\n')
	if i < 0 {
		if len(p.b) > p.maxFrame {
			return nil, fmt.Errorf("resp: line longer than the %d byte limit: %w", p.maxFrame, codec.ErrFrameTooLarge)
		}
		return nil, errMore
	}
	end := p.pos + i
	if i == 0 || p.b[end-1] != '\r' {
		return nil, malformed("line at %d does not end with CRLF", p.pos)
	}
	l := p.b[p.pos : end-1]
	p.pos = end + 1
	return l, nil
}

func (p *parser) int(what string) (int64, error) {
	l, err := p.line()
	if err != nil {
		return 0, err
	}
	n, perr := strconv.ParseInt(unsafe.String(unsafe.SliceData(l), len(l)), 10, 64)
	if perr != nil {
		return 0, malformed("%s %q is not an integer", what, l)
	}
	return n, nil
}

// blob reads n bytes and the CRLF after them.
func (p *parser) blob(n int64) (start int, err error) {
	if n > int64(p.maxFrame) {
		return 0, fmt.Errorf("resp: %d byte string exceeds the %d byte limit: %w", n, p.maxFrame, codec.ErrFrameTooLarge)
	}
	if int64(len(p.b)-p.pos) < n+2 {
		return 0, errMore
	}
	start = p.pos
	p.pos += int(n)
	if p.b[p.pos] != '\r' || p.b[p.pos+1] != '\n' {
		return 0, malformed("string at %d does not end with CRLF", start)
	}
	p.pos += 2
	return start, nil
}

// value skips one reply value of any RESP2/RESP3 type.
func (p *parser) value() error {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > MaxDepth {
		return malformed("nesting deeper than %d", MaxDepth)
	}
	if p.pos >= len(p.b) {
		return errMore
	}
	tag := p.b[p.pos]
	p.pos++
	switch tag {
	case '+', '-', ':', '_', ',', '#', '(':
		_, err := p.line()
		return err
	case '$', '!', '=':
		n, err := p.int("length")
		if err != nil {
			return err
		}
		if n == -1 && tag == '$' {
			return nil // null bulk string
		}
		if n < 0 {
			return malformed("negative length %d", n)
		}
		_, err = p.blob(n)
		return err
	case '*', '~', '>', '%', '|':
		n, err := p.int("count")
		if err != nil {
			return err
		}
		if n == -1 && tag == '*' {
			return nil // null array
		}
		if n < 0 || n > int64(p.maxFrame) {
			return malformed("count %d out of range", n)
		}
		if tag == '%' || tag == '|' {
			n *= 2
		}
		for i := int64(0); i < n; i++ {
			if err := p.value(); err != nil {
				return err
			}
		}
		if tag == '|' { // attributes precede the reply they annotate
			return p.value()
		}
		return nil
	}
	return malformed("unknown type byte %q at %d", tag, p.pos-1)
}

// command reads a request: an array of bulk strings, or an inline command line.
func (p *parser) command() (args [][2]int, err error) {
	if p.pos >= len(p.b) {
		return nil, errMore
	}
	if p.b[0] != '*' {
		l, err := p.line()
		if err != nil {
			return nil, err
		}
		off := 0
		for _, w := range bytes.Fields(l) {
			s := bytes.Index(l[off:], w) + off
			args = append(args, [2]int{s, s + len(w)})
			off = s + len(w)
		}
		if len(args) == 0 {
			return nil, malformed("empty inline command")
		}
		return args, nil
	}
	p.pos++
	n, err := p.int("argument count")
	if err != nil {
		return nil, err
	}
	if n < 1 || n > int64(p.maxFrame)/4 {
		return nil, malformed("argument count %d out of range", n)
	}
	args = make([][2]int, 0, min(n, 16))
	for i := int64(0); i < n; i++ {
		if p.pos >= len(p.b) {
			return nil, errMore
		}
		if p.b[p.pos] != '$' {
			return nil, malformed("argument %d is %q, commands are arrays of bulk strings", i, p.b[p.pos])
		}
		p.pos++
		l, err := p.int("argument length")
		if err != nil {
			return nil, err
		}
		if l < 0 {
			return nil, malformed("argument %d has length %d", i, l)
		}
		start, err := p.blob(l)
		if err != nil {
			return nil, err
		}
		args = append(args, [2]int{start, start + int(l)})
	}
	return args, nil
}

func (Codec) Decode(buf []byte, side codec.Side, maxFrame int) (codec.Frame, int, error) {
	if len(buf) == 0 {
		return nil, 0, nil
	}
	if maxFrame <= 0 {
		maxFrame = codec.DefaultMaxFrame
	}
	p := parser{b: buf, maxFrame: maxFrame}
	var args [][2]int
	var err error
	if side == codec.FromDownstream {
		args, err = p.command()
	} else {
		err = p.value()
	}
	if err == errMore {
		if len(buf) > maxFrame {
			return nil, 0, fmt.Errorf("resp: incomplete value already %d bytes, over the %d byte limit: %w", len(buf), maxFrame, codec.ErrFrameTooLarge)
		}
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	if p.pos > maxFrame {
		return nil, 0, fmt.Errorf("resp: value of %d bytes exceeds the %d byte limit: %w", p.pos, maxFrame, codec.ErrFrameTooLarge)
	}
	f := &Frame{raw: append(make([]byte, 0, p.pos), buf[:p.pos]...), side: side, args: args}
	f.parse()
	return f, p.pos, nil
}

func (Codec) Encode(f codec.Frame, dst []byte) ([]byte, error) {
	rf, ok := f.(*Frame)
	if !ok {
		return dst, fmt.Errorf("resp: encode %T: %w", f, codec.ErrForeignFrame)
	}
	return rf.AppendWire(dst)
}

// Heartbeat is a PING command.
func (Codec) Heartbeat(uint64) codec.Frame {
	f := &Frame{raw: []byte("*1\r\n$4\r\nPING\r\n"), side: codec.FromDownstream, args: [][2]int{{8, 12}}}
	f.parse()
	return f
}

func (Codec) HeartbeatReply(req codec.Frame) (codec.Frame, error) {
	rf, ok := req.(*Frame)
	if !ok {
		return nil, fmt.Errorf("resp: heartbeat reply to %T: %w", req, codec.ErrForeignFrame)
	}
	if !rf.IsHeartbeat() {
		return nil, fmt.Errorf("resp: heartbeat reply: %q is not a bare PING: %w", rf.route.Method, codec.ErrNotRequest)
	}
	return &Frame{raw: []byte("+PONG\r\n"), side: codec.FromUpstream}, nil
}

// errorCodes are the first words of hijack error replies (Redis clients treat the first word of
// an error as its code, as with Redis's own WRONGTYPE or BUSY).
var errorCodes = map[codec.Status]string{
	codec.StatusNoRoute:     "NOROUTE",
	codec.StatusNoProvider:  "NOPROVIDER",
	codec.StatusTimeout:     "TIMEOUT",
	codec.StatusRateLimited: "RATELIMITED",
	codec.StatusCircuitOpen: "CIRCUITOPEN",
	codec.StatusBadRequest:  "ERR",
	codec.StatusServerError: "ERR",
}

// Hijack answers with an error reply "-CODE message".
func (Codec) Hijack(req codec.Frame, st codec.Status, msg string) (codec.Frame, error) {
	rf, ok := req.(*Frame)
	if !ok {
		return nil, fmt.Errorf("resp: hijack %T: %w", req, codec.ErrForeignFrame)
	}
	if rf.side != codec.FromDownstream {
		return nil, fmt.Errorf("resp: hijack: frame is a reply: %w", codec.ErrNotRequest)
	}
	code, ok := errorCodes[st]
	if !ok {
		return nil, fmt.Errorf("resp: hijack: status must be an error, got %s", st)
	}
	if msg == "" {
		msg = st.String()
	}
	// An error line cannot hold CR or LF.
	msg = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, msg)
	f := &Frame{raw: []byte("-" + code + " " + msg + "\r\n"), side: codec.FromUpstream}
	f.parse()
	return f, nil
}
