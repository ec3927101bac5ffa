package bridge

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	hessian "github.com/apache/dubbo-go-hessian2"

	"github.com/govoy/govoy/filters/rpc/codec"
	"github.com/govoy/govoy/filters/rpc/codec/dubbo"
	"github.com/govoy/govoy/filters/rpc/codec/hessianscan"
)

const (
	dubboVersion = "2.0.2"
	// genericMethod and genericDesc are Dubbo's generic invocation: $invoke(String method,
	// String[] parameterTypes, Object[] args).
	genericMethod = "$invoke"
	genericDesc   = "Ljava/lang/String;[Ljava/lang/String;[Ljava/lang/Object;"
)

// Response kinds a Dubbo hessian2 body starts with (after status 20).
const (
	respException = iota
	respValue
	respNull
	respExceptionWithAttachments
	respValueWithAttachments
	respNullWithAttachments
)

var dubboCodec dubbo.Codec

// EncodeDubbo appends the generic invocation request frame for call with request id id.
func EncodeDubbo(dst []byte, call *Call, id uint64) ([]byte, error) {
	e := hessian.NewEncoder()
	types := call.Types
	if types == nil {
		types = []string{}
	}
	// Object[]: a []hessian.Object is written as the typed list "[object" Java and dubbo-go read
	// back as Object[] (a []any would be an untyped list, which dubbo-go's generic filter rejects).
	args := make([]hessian.Object, len(call.Args))
	for i, a := range call.Args {
		args[i] = a
	}
	att := map[string]any{
		"path":      call.Service,
		"interface": call.Service,
		"generic":   "true",
		"timeout":   strconv.FormatInt(call.Timeout.Milliseconds(), 10),
	}
	if call.Version != "" {
		att["version"] = call.Version
	}
	if call.Group != "" {
		att["group"] = call.Group
	}
	for k, v := range call.Attachments {
		if _, taken := att[k]; !taken {
			att[k] = v
		}
	}
	for _, v := range []any{dubboVersion, call.Service, call.Version, genericMethod, genericDesc, call.Method, types, args, att} {
		if err := e.Encode(v); err != nil {
			return dst, fmt.Errorf("dubbo: encode %s.%s: %w", call.Service, call.Method, err)
		}
	}
	body := e.Buffer()
	// Header: magic, request|two-way|hessian2, status 0, id, body length.
	dst = append(dst, 0xda, 0xbb, 0x80|0x40|dubbo.SerializationHessian2, 0)
	dst = appendUint64(dst, id)
	dst = appendUint32(dst, uint32(len(body)))
	return append(dst, body...), nil
}

// DubboHeartbeat is a heartbeat request: the provider answers it without touching any service.
func DubboHeartbeat(dst []byte, id uint64) ([]byte, error) {
	return dubboCodec.Heartbeat(id).AppendWire(dst)
}

func appendUint64(b []byte, v uint64) []byte {
	return append(b, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func appendUint32(b []byte, v uint32) []byte {
	return append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// ErrIncomplete says more upstream bytes are needed.
var ErrIncomplete = errors.New("incomplete response")

// DecodeDubbo reads the response to request id from buf, skipping other frames (heartbeats the
// provider sends on its own). It returns ErrIncomplete until the response is complete; any other
// error means the upstream stream is broken.
func DecodeDubbo(buf []byte, id uint64) (*Result, error) {
	for len(buf) > 0 {
		f, n, err := dubboCodec.Decode(buf, codec.FromUpstream, codec.DefaultMaxFrame)
		if err != nil {
			return nil, fmt.Errorf("dubbo response: %w", err)
		}
		if f == nil {
			return nil, ErrIncomplete
		}
		buf = buf[n:]
		df := f.(*dubbo.Frame)
		if df.Kind() != codec.KindResponse || df.ID() != id {
			continue
		}
		return dubboResult(df), nil
	}
	return nil, ErrIncomplete
}

// dubboResult maps a response frame to an HTTP result.
func dubboResult(f *dubbo.Frame) *Result {
	if f.IsHeartbeat() {
		return &Result{Status: http.StatusOK}
	}
	if f.SerializationID() != dubbo.SerializationHessian2 {
		return errResult(http.StatusBadGateway, "upstream", fmt.Sprintf("response serialization id %d: only hessian2 is read", f.SerializationID()))
	}
	if err := checkHessian(f.Body()); err != nil {
		return errResult(http.StatusBadGateway, "upstream", "malformed response body: "+err.Error())
	}
	d := hessian.NewDecoder(f.Body())
	code := f.StatusCode()
	if code != dubbo.StatusOK {
		msg, err := decodeNext(d)
		text := describe(msg)
		if err != nil {
			text = "unreadable error message: " + err.Error()
		}
		return errResult(dubboHTTPStatus(code), "dubbo status "+strconv.Itoa(int(code)), text)
	}
	kind, err := decodeNext(d)
	if err != nil {
		return errResult(http.StatusBadGateway, "upstream", "response kind: "+err.Error())
	}
	k, ok := kind.(int32)
	if !ok {
		return errResult(http.StatusBadGateway, "upstream", fmt.Sprintf("response kind %s (%T) is not an int", describe(kind), kind))
	}
	switch k {
	case respNull, respNullWithAttachments:
		return &Result{Status: http.StatusOK, Value: nil}
	case respValue, respValueWithAttachments:
		v, err := decodeNext(d)
		if err == nil {
			v, err = toJSON(v)
		}
		if err != nil {
			return errResult(http.StatusBadGateway, "upstream", "response value: "+err.Error())
		}
		return &Result{Status: http.StatusOK, Value: v}
	case respException, respExceptionWithAttachments:
		v, err := decodeNext(d)
		if err != nil {
			return errResult(http.StatusBadGateway, "upstream", "exception: "+err.Error())
		}
		r := &Result{Status: http.StatusInternalServerError, Error: "exception", Message: exceptionMessage(v)}
		r.Exception = javaClass(v)
		return r
	default:
		return errResult(http.StatusBadGateway, "upstream", fmt.Sprintf("unknown response kind %d", k))
	}
}

// The body is the provider's to write, and dubbo-go-hessian2 trusts what it decodes: it panics on
// some malformed values (a map keyed by a byte array), recurses as deep as the nesting goes (a
// stack overflow ends the process, recover or not) and builds cyclic values from references. So
// hessianscan, which bounds nesting, checks the body first; decodeNext turns a panic into an
// error; toJSON, which describe uses too, cuts cycles and bounds the values it writes.

// checkHessian reports whether body is a sequence of well-formed hessian2 values.
func checkHessian(body []byte) error {
	s := hessianscan.New(body)
	for s.Remaining() > 0 {
		if err := s.Skip(); err != nil {
			return err
		}
	}
	return nil
}

// decodeNext reads the next value of d.
func decodeNext(d *hessian.Decoder) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("malformed hessian2 value: %v", r)
		}
	}()
	return d.Decode()
}

// describe renders a decoded value as text: strings as they are, anything else as bounded JSON.
func describe(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	j, err := toJSON(v)
	if err != nil {
		return fmt.Sprintf("unprintable %T: %v", v, err)
	}
	b, err := json.Marshal(j)
	if err != nil {
		return fmt.Sprintf("unprintable %T: %v", v, err)
	}
	return string(b)
}

// exceptionMessage reads a Java exception however the decoder built it.
func exceptionMessage(v any) string {
	switch t := v.(type) {
	case error:
		return t.Error()
	case map[any]any:
		if m, ok := t["detailMessage"]; ok {
			return describe(m)
		}
	}
	return describe(v)
}

// dubboHTTPStatus maps a Dubbo error status to the gateway's HTTP status.
func dubboHTTPStatus(code uint32) int {
	switch code {
	case dubbo.StatusClientTimeout, dubbo.StatusServerTimeout:
		return http.StatusGatewayTimeout
	case dubbo.StatusServiceNotFound:
		return http.StatusNotFound
	case dubbo.StatusThreadpoolExhausted:
		return http.StatusServiceUnavailable
	default:
		return http.StatusBadGateway
	}
}
