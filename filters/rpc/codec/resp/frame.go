package resp

import (
	"bytes"
	"fmt"
	"unsafe"

	"github.com/govoy/govoy/filters/rpc/codec"
)

// Frame is one RESP command or reply. It owns raw.
type Frame struct {
	raw   []byte
	side  codec.Side
	args  [][2]int // command arguments in raw
	route codec.Route
	hdr   codec.Pairs // RESP has no headers: always empty
}

var _ codec.Frame = (*Frame)(nil)

func (f *Frame) parse() {
	if f.side != codec.FromDownstream || len(f.args) == 0 {
		return
	}
	f.route.Method = f.Arg(0)
	if !isUpper(f.route.Method) {
		f.route.Method = string(bytes.ToUpper(f.raw[f.args[0][0]:f.args[0][1]]))
	}
	if len(f.args) > 1 {
		f.route.Service = f.Arg(1)
	}
}

func isUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'a' && s[i] <= 'z' {
			return false
		}
	}
	return true
}

// Args is the number of command arguments, the command name included.
func (f *Frame) Args() int { return len(f.args) }

// Arg returns command argument i (0 is the command name); it points into the frame.
func (f *Frame) Arg(i int) string {
	a := f.args[i]
	if a[0] == a[1] {
		return ""
	}
	return unsafe.String(&f.raw[a[0]], a[1]-a[0])
}

func (f *Frame) Kind() codec.Kind {
	if f.side == codec.FromDownstream {
		return codec.KindRequest
	}
	return codec.KindResponse
}

// IsHeartbeat: a PING without a message (PING with one is an echo the server must answer).
func (f *Frame) IsHeartbeat() bool { return len(f.args) == 1 && f.route.Method == "PING" }

func (f *Frame) ID() uint64 { return 0 }

func (f *Frame) SetID(uint64) {} // no request ids: replies come back in order

func (f *Frame) Route() codec.Route { return f.route }

// Headers is always empty; Set makes AppendWire fail, as RESP has nowhere to carry headers.
func (f *Frame) Headers() codec.Headers { return &f.hdr }

func (f *Frame) Err() error { return nil }

// IsError reports an error reply ('-' or RESP3 '!').
func (f *Frame) IsError() bool {
	return f.side == codec.FromUpstream && (f.raw[0] == '-' || f.raw[0] == '!')
}

// StatusCode is 1 for error replies, else 0.
func (f *Frame) StatusCode() uint32 {
	if f.IsError() {
		return 1
	}
	return 0
}

func (f *Frame) Status() codec.Status {
	if !f.IsError() || f.raw[0] != '-' {
		if f.IsError() {
			return codec.StatusServerError
		}
		return codec.StatusOK
	}
	word := f.raw[1:]
	if i := bytes.IndexAny(word, " \r"); i >= 0 {
		word = word[:i]
	}
	for st, code := range errorCodes {
		if code != "ERR" && string(word) == code {
			return st
		}
	}
	return codec.StatusServerError
}

func (f *Frame) AppendWire(dst []byte) ([]byte, error) {
	if f.hdr.Len() > 0 {
		return dst, fmt.Errorf("resp: frames carry no headers, cannot encode %d set on this one", f.hdr.Len())
	}
	return append(dst, f.raw...), nil
}
