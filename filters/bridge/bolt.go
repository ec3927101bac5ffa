package bridge

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/govoy/govoy/filters/bridge/sofahessian"
	"github.com/govoy/govoy/filters/rpc/codec"
	"github.com/govoy/govoy/filters/rpc/codec/bolt"
)

// sofaDefaultVersion is the version SOFARPC gives a service that names none.
const sofaDefaultVersion = "1.0"

// SOFARPC error codes (the "RPC-nnnnnnnnn:" prefix of SofaResponse.errorMsg) the gateway maps.
const (
	sofaCodeServiceNotFound = "RPC-020100010" // no invoker for the target service unique name
	sofaCodeMethodNotFound  = "RPC-020100011" // the service has no method of that name and signature
)

var boltCodec bolt.Codec

// boltTarget is SOFARPC's service unique name: interface:version[:uniqueId] (group = uniqueId).
func boltTarget(call *Call) string {
	v := call.Version
	if v == "" {
		v = sofaDefaultVersion
	}
	if call.Group != "" {
		return call.Service + ":" + v + ":" + call.Group
	}
	return call.Service + ":" + v
}

// EncodeBolt appends the Bolt v1 request frame carrying call as a SofaRequest (typed invocation:
// methodArgSigs from the JSON types) with request id id.
func EncodeBolt(dst []byte, call *Call, id uint64) ([]byte, error) {
	target := boltTarget(call)
	props := &sofahessian.Map{}
	keys := make([]string, 0, len(call.Attachments))
	for k := range call.Attachments {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		props.Keys = append(props.Keys, k)
		props.Values = append(props.Values, call.Attachments[k])
	}
	if _, ok := call.Attachments["protocol"]; !ok {
		props.Keys = append(props.Keys, "protocol")
		props.Values = append(props.Values, "bolt")
	}
	req := &sofahessian.Request{Method: call.Method, TargetService: target, Props: props}
	for i, typ := range call.Types {
		sig, err := javaSig(typ)
		if err != nil {
			return dst, fmt.Errorf("args[%d]: %w", i, err)
		}
		v, err := boltValue(typ, call.Args[i], 0)
		if err != nil {
			return dst, fmt.Errorf("args[%d]: %w", i, err)
		}
		req.ArgSigs = append(req.ArgSigs, sig)
		req.Args = append(req.Args, v)
	}
	content, err := sofahessian.AppendRequest(nil, req)
	if err != nil {
		return dst, fmt.Errorf("bolt: encode %s.%s: %w", call.Service, call.Method, err)
	}
	// The header map SOFARPC's consumer sends. A 5.12 provider needs "service" to read the
	// content at all (else Bolt status 18); proxies and older providers route on the others.
	var hdr []byte
	for _, kv := range [][2]string{
		{bolt.KeyService, target}, {bolt.KeyTargetService, target}, {bolt.KeyMethod, call.Method}, {"protocol", "bolt"},
	} {
		hdr = binary.BigEndian.AppendUint32(hdr, uint32(len(kv[0])))
		hdr = append(hdr, kv[0]...)
		hdr = binary.BigEndian.AppendUint32(hdr, uint32(len(kv[1])))
		hdr = append(hdr, kv[1]...)
	}
	if len(hdr) > math.MaxInt16 {
		return dst, fmt.Errorf("bolt: header map of %d bytes exceeds the protocol's %d (service name too long)", len(hdr), math.MaxInt16)
	}
	class := sofahessian.RequestClass
	timeout := call.Timeout.Milliseconds()
	if timeout <= 0 || timeout > math.MaxInt32 {
		timeout = -1
	}
	// v1 request header: proto, type, cmdcode(2), ver2, requestId(4), codec, timeout(4),
	// classLen(2), headerLen(2), contentLen(4).
	dst = append(dst, bolt.ProtoV1, bolt.TypeRequest, 0, bolt.CmdRPCRequest, 1)
	dst = binary.BigEndian.AppendUint32(dst, uint32(id))
	dst = append(dst, bolt.CodecHessian2)
	dst = binary.BigEndian.AppendUint32(dst, uint32(int32(timeout)))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(class)))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(hdr)))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(content)))
	dst = append(dst, class...)
	dst = append(dst, hdr...)
	return append(dst, content...), nil
}

// BoltHeartbeat is a Bolt heartbeat request: SOFARPC answers it without running any service.
func BoltHeartbeat(dst []byte, id uint64) ([]byte, error) {
	return boltCodec.Heartbeat(uint64(uint32(id))).AppendWire(dst)
}

// DecodeBolt reads the response to request id from buf, skipping other frames. It returns
// ErrIncomplete until the response is complete; any other error means the stream is broken.
func DecodeBolt(buf []byte, id uint64) (*Result, error) {
	for len(buf) > 0 {
		f, n, err := boltCodec.Decode(buf, codec.FromUpstream, codec.DefaultMaxFrame)
		if err != nil {
			return nil, fmt.Errorf("bolt response: %w", err)
		}
		if f == nil {
			return nil, ErrIncomplete
		}
		buf = buf[n:]
		bf := f.(*bolt.Frame)
		if bf.Kind() != codec.KindResponse || bf.ID() != uint64(uint32(id)) {
			continue
		}
		return boltResult(bf), nil
	}
	return nil, ErrIncomplete
}

// boltStatusNames names SOFABolt's response statuses in errors.
var boltStatusNames = map[uint32]string{
	bolt.StatusError: "ERROR", bolt.StatusServerException: "SERVER_EXCEPTION", bolt.StatusUnknown: "UNKNOWN",
	bolt.StatusServerThreadpoolBusy: "SERVER_THREADPOOL_BUSY", bolt.StatusErrorComm: "ERROR_COMM",
	bolt.StatusNoProcessor: "NO_PROCESSOR", bolt.StatusTimeout: "TIMEOUT", bolt.StatusClientSendError: "CLIENT_SEND_ERROR",
	bolt.StatusCodecException: "CODEC_EXCEPTION", bolt.StatusConnectionClosed: "CONNECTION_CLOSED",
	bolt.StatusServerSerialException: "SERVER_SERIAL_EXCEPTION", bolt.StatusServerDeserialException: "SERVER_DESERIAL_EXCEPTION",
}

func boltResult(f *bolt.Frame) *Result {
	if f.IsHeartbeat() {
		return &Result{Status: http.StatusOK}
	}
	st := f.StatusCode()
	if st != bolt.StatusSuccess {
		name := boltStatusNames[st]
		if name == "" {
			name = "status " + strconv.Itoa(int(st))
		}
		msg := "provider answered " + name
		// Error responses may carry a SofaResponse or a serialized exception saying more.
		if r, err := sofahessian.DecodeResponse(f.Content()); err == nil && r.ErrorMsg != "" {
			msg = r.ErrorMsg
		}
		return errResult(boltHTTPStatus(st), "bolt status "+strconv.Itoa(int(st))+" "+name, msg)
	}
	if f.CodecID() != bolt.CodecHessian2 {
		return errResult(http.StatusBadGateway, "upstream", fmt.Sprintf("response codec %d: only hessian2 (1) is read", f.CodecID()))
	}
	r, err := sofahessian.DecodeResponse(f.Content())
	if err != nil {
		return errResult(http.StatusBadGateway, "upstream", err.Error())
	}
	if r.IsError {
		return errResult(sofaErrorStatus(r.ErrorMsg), "sofarpc error", r.ErrorMsg)
	}
	if o, thrown := sofahessian.IsThrowable(r.AppResponse); thrown {
		msg, _ := o.Get("detailMessage")
		res := &Result{Status: http.StatusInternalServerError, Error: "exception", Exception: o.Class}
		if msg != nil {
			res.Message = fmt.Sprint(msg)
		}
		return res
	}
	v, err := sofahessian.ToJSON(r.AppResponse)
	if err != nil {
		return errResult(http.StatusBadGateway, "upstream", "response value: "+err.Error())
	}
	return &Result{Status: http.StatusOK, Value: v}
}

// sofaErrorStatus maps a SofaResponse error (SOFARPC failed, not the method) by its code.
func sofaErrorStatus(msg string) int {
	switch {
	case strings.HasPrefix(msg, sofaCodeServiceNotFound), strings.HasPrefix(msg, sofaCodeMethodNotFound):
		return http.StatusNotFound
	default:
		return http.StatusBadGateway
	}
}

// boltHTTPStatus maps a Bolt error status like the Dubbo ones: timeout 504, busy 503, no
// processor (nothing serves the request) 404, anything else 502.
func boltHTTPStatus(st uint32) int {
	switch st {
	case bolt.StatusTimeout:
		return http.StatusGatewayTimeout
	case bolt.StatusServerThreadpoolBusy:
		return http.StatusServiceUnavailable
	case bolt.StatusNoProcessor:
		return http.StatusNotFound
	default:
		return http.StatusBadGateway
	}
}

// primitiveSigs are the JVM descriptors of primitive array elements.
var primitiveSigs = map[string]string{
	"int": "I", "long": "J", "short": "S", "byte": "B", "char": "C", "boolean": "Z", "float": "F", "double": "D",
}

// javaSig spells typ as Class.getName() does, which SOFARPC matches methodArgSigs against:
// "int", "java.lang.String", "[I", "[Ljava.lang.String;".
func javaSig(typ string) (string, error) {
	if len(typ) > sofahessian.MaxTypeLen {
		return "", fmt.Errorf("type name of %d bytes", len(typ))
	}
	elem, ok := strings.CutSuffix(typ, "[]")
	if !ok {
		return typ, nil
	}
	s, err := javaSig(elem)
	if err != nil {
		return "", err
	}
	switch {
	case strings.HasPrefix(s, "["):
		return "[" + s, nil
	case primitiveSigs[s] != "":
		return "[" + primitiveSigs[s], nil
	}
	return "[L" + s + ";", nil
}

// hessianArrayType is the type sofa-hessian writes for an array of elem: "[int", "[string",
// "[object", "[org.example.User", "[[int".
func hessianArrayType(elem string) string {
	if e, ok := strings.CutSuffix(elem, "[]"); ok {
		return "[" + hessianArrayType(e)
	}
	switch elem {
	case "java.lang.String":
		return "[string"
	case "java.lang.Object":
		return "[object"
	}
	return "[" + elem
}

// Java collection and map types written with their own Hessian type (the interfaces take the
// usual implementation); List/ArrayList/Collection and Map/HashMap are the untyped defaults.
var (
	listTypes = map[string]string{
		"java.util.List": "", "java.util.ArrayList": "", "java.util.Collection": "", "java.lang.Iterable": "",
		"java.util.LinkedList": "java.util.LinkedList",
		"java.util.Set":        "java.util.HashSet", "java.util.HashSet": "java.util.HashSet",
		"java.util.LinkedHashSet": "java.util.LinkedHashSet",
		"java.util.SortedSet":     "java.util.TreeSet", "java.util.TreeSet": "java.util.TreeSet",
	}
	mapTypes = map[string]string{
		"java.util.Map": "", "java.util.HashMap": "",
		"java.util.LinkedHashMap": "java.util.LinkedHashMap",
		"java.util.SortedMap":     "java.util.TreeMap", "java.util.TreeMap": "java.util.TreeMap",
		"java.util.concurrent.ConcurrentHashMap": "java.util.concurrent.ConcurrentHashMap",
	}
)

// boltValue converts an argument parsed for typ (see toHessian) to the value sofahessian writes:
// POJO types become objects of that class (or of the value's "class"), arrays typed lists,
// collections and maps their Java types; nested values are converted by boltGeneric.
func boltValue(typ string, v any, depth int) (any, error) {
	if depth > sofahessian.MaxDepth {
		return nil, fmt.Errorf("nested deeper than %d", sofahessian.MaxDepth)
	}
	if v == nil {
		return nil, nil
	}
	if elem, ok := strings.CutSuffix(typ, "[]"); ok {
		items, ok := v.([]any)
		if !ok {
			return boltGeneric(v, depth)
		}
		if elem == "byte" { // byte[] is binary data
			b := make([]byte, len(items))
			for i, it := range items {
				n, _ := it.(int8)
				b[i] = byte(n)
			}
			return b, nil
		}
		out := &sofahessian.List{Type: hessianArrayType(elem), Items: make([]any, len(items))}
		for i, it := range items {
			var err error
			if out.Items[i], err = boltValue(elem, it, depth+1); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	switch t := v.(type) {
	case []any:
		l, err := boltGeneric(t, depth)
		if err != nil {
			return nil, err
		}
		if lt := listTypes[typ]; lt != "" {
			return &sofahessian.List{Type: lt, Items: l.([]any)}, nil
		}
		return l, nil
	case map[any]any:
		if _, named := t["class"]; named {
			return boltGeneric(t, depth)
		}
		if mt, isMap := mapTypes[typ]; isMap {
			m, err := boltMap(t, depth)
			if m != nil {
				m.Type = mt
			}
			return m, err
		}
		if typ == "java.lang.Object" || strings.HasPrefix(typ, "java.") {
			return boltGeneric(t, depth)
		}
		return boltObject(typ, t, depth)
	}
	if typ == "long" || typ == "java.lang.Long" {
		return v, nil // declared long: keep it a long even when it fits an int
	}
	return boltGeneric(v, depth)
}

// boltGeneric converts a value with no declared type: objects with a "class" member become
// objects of that class, other objects HashMaps, integers int when they fit (Integer in Java),
// else long.
func boltGeneric(v any, depth int) (any, error) {
	if depth > sofahessian.MaxDepth {
		return nil, fmt.Errorf("nested deeper than %d", sofahessian.MaxDepth)
	}
	switch t := v.(type) {
	case int64:
		if t >= math.MinInt32 && t <= math.MaxInt32 {
			return int32(t), nil
		}
		return t, nil
	case []any:
		out := make([]any, len(t))
		for i, it := range t {
			var err error
			if out[i], err = boltGeneric(it, depth+1); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[any]any:
		if c, ok := t["class"].(string); ok && c != "" {
			return boltObject(c, t, depth)
		}
		return boltMap(t, depth)
	}
	return v, nil
}

func boltMap(m map[any]any, depth int) (*sofahessian.Map, error) {
	out := &sofahessian.Map{}
	for _, k := range sortedKeys(m) {
		v, err := boltGeneric(m[k], depth+1)
		if err != nil {
			return nil, err
		}
		out.Keys = append(out.Keys, k)
		out.Values = append(out.Values, v)
	}
	return out, nil
}

// boltObject writes a JSON object as an instance of class; fields in name order (sofa-hessian
// matches fields by name and skips those the class lacks).
func boltObject(class string, m map[any]any, depth int) (*sofahessian.Object, error) {
	if c, ok := m["class"].(string); ok && c != "" {
		class = c
	}
	if len(class) > sofahessian.MaxTypeLen {
		return nil, fmt.Errorf("class name of %d bytes", len(class))
	}
	o := &sofahessian.Object{Class: class}
	for _, k := range sortedKeys(m) {
		if k == "class" {
			continue
		}
		v, err := boltGeneric(m[k], depth+1)
		if err != nil {
			return nil, err
		}
		o.Fields = append(o.Fields, k)
		o.Values = append(o.Values, v)
	}
	return o, nil
}

func sortedKeys(m map[any]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, fmt.Sprint(k))
	}
	slices.Sort(keys)
	return keys
}
