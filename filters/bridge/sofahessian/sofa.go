package sofahessian

import (
	"fmt"
)

// Class names of SOFARPC's Bolt payloads (also the Bolt frame's class name).
const (
	RequestClass  = "com.alipay.sofa.rpc.core.request.SofaRequest"
	ResponseClass = "com.alipay.sofa.rpc.core.response.SofaResponse"
)

// requestFields is the order SOFARPC 5.12's consumer writes SofaRequest's fields in.
var requestFields = []string{"targetAppName", "methodName", "targetServiceUniqueName", "requestProps", "methodArgSigs"}

// Request is a SofaRequest: a typed invocation of Method on the service whose unique name is
// TargetService ("interface:version[:uniqueId]").
type Request struct {
	TargetApp     string // "" is written as null
	Method        string
	TargetService string
	Props         *Map     // requestProps (nil: null)
	ArgSigs       []string // Java class names as Class.getName() spells them: "int", "[Ljava.lang.String;"
	Args          []any    // one value per signature, written after the SofaRequest object
}

// AppendRequest appends r serialized as SOFARPC writes it: the SofaRequest object (argument
// signatures as a String[]) followed by each argument.
func AppendRequest(dst []byte, r *Request) ([]byte, error) {
	if len(r.Args) != len(r.ArgSigs) {
		return dst, fmt.Errorf("sofahessian: %d arguments for %d signatures", len(r.Args), len(r.ArgSigs))
	}
	var app any
	if r.TargetApp != "" {
		app = r.TargetApp
	}
	sigs := make([]any, len(r.ArgSigs))
	for i, s := range r.ArgSigs {
		sigs[i] = s
	}
	var props any
	if r.Props != nil {
		props = r.Props
	}
	e := NewEncoder(dst)
	obj := &Object{Class: RequestClass, Fields: requestFields,
		Values: []any{app, r.Method, r.TargetService, props, &List{Type: "[string", Items: sigs}}}
	if err := e.Encode(obj); err != nil {
		return dst, fmt.Errorf("sofahessian: SofaRequest: %w", err)
	}
	for i, a := range r.Args {
		if err := e.Encode(a); err != nil {
			return dst, fmt.Errorf("sofahessian: argument %d (%s): %w", i, r.ArgSigs[i], err)
		}
	}
	return e.Bytes(), nil
}

// DecodeRequest reads what AppendRequest (or a SOFARPC consumer) writes.
func DecodeRequest(b []byte) (*Request, error) {
	d := NewDecoder(b)
	v, err := d.Decode()
	if err != nil {
		return nil, fmt.Errorf("SofaRequest: %w", err)
	}
	o, ok := v.(*Object)
	if !ok || o.Class != RequestClass {
		return nil, fmt.Errorf("%w: want a %s object, got %s", ErrMalformed, RequestClass, describe(v))
	}
	r := &Request{}
	r.TargetApp, _ = stringField(o, "targetAppName")
	r.Method, _ = stringField(o, "methodName")
	r.TargetService, _ = stringField(o, "targetServiceUniqueName")
	if p, _ := o.Get("requestProps"); p != nil {
		if r.Props, ok = p.(*Map); !ok {
			return nil, fmt.Errorf("%w: requestProps is %s, not a map", ErrMalformed, describe(p))
		}
	}
	if s, _ := o.Get("methodArgSigs"); s != nil {
		l, ok := s.(*List)
		if !ok {
			return nil, fmt.Errorf("%w: methodArgSigs is %s, not a list", ErrMalformed, describe(s))
		}
		for i, it := range l.Items {
			sig, ok := it.(string)
			if !ok {
				return nil, fmt.Errorf("%w: methodArgSigs[%d] is %s, not a string", ErrMalformed, i, describe(it))
			}
			r.ArgSigs = append(r.ArgSigs, sig)
		}
	}
	for i := range r.ArgSigs {
		a, err := d.Decode()
		if err != nil {
			return nil, fmt.Errorf("argument %d: %w", i, err)
		}
		r.Args = append(r.Args, a)
	}
	return r, nil
}

// Response is a SofaResponse. A method that threw has IsError false and the Throwable (an
// *Object, see IsThrowable) in AppResponse; IsError true means SOFARPC itself failed (service
// not found, ...), with ErrorMsg saying why.
type Response struct {
	IsError     bool
	ErrorMsg    string
	AppResponse any
	Props       *Map
}

// DecodeResponse reads a SofaResponse.
func DecodeResponse(b []byte) (*Response, error) {
	v, err := NewDecoder(b).Decode()
	if err != nil {
		return nil, fmt.Errorf("SofaResponse: %w", err)
	}
	o, ok := v.(*Object)
	if !ok || o.Class != ResponseClass {
		return nil, fmt.Errorf("%w: want a %s object, got %s", ErrMalformed, ResponseClass, describe(v))
	}
	r := &Response{}
	if e, _ := o.Get("isError"); e != nil {
		if r.IsError, ok = e.(bool); !ok {
			return nil, fmt.Errorf("%w: SofaResponse.isError is %s", ErrMalformed, describe(e))
		}
	}
	if m, _ := o.Get("errorMsg"); m != nil {
		if r.ErrorMsg, ok = m.(string); !ok {
			return nil, fmt.Errorf("%w: SofaResponse.errorMsg is %s", ErrMalformed, describe(m))
		}
	}
	r.AppResponse, _ = o.Get("appResponse")
	if p, _ := o.Get("responseProps"); p != nil {
		if r.Props, ok = p.(*Map); !ok {
			return nil, fmt.Errorf("%w: SofaResponse.responseProps is %s", ErrMalformed, describe(p))
		}
	}
	return r, nil
}

// AppendResponse appends a SofaResponse as a SOFARPC provider writes it (tests, fakes).
func AppendResponse(dst []byte, r *Response) ([]byte, error) {
	var msg, props any
	if r.ErrorMsg != "" {
		msg = r.ErrorMsg
	}
	if r.Props != nil {
		props = r.Props
	}
	e := NewEncoder(dst)
	err := e.Encode(&Object{Class: ResponseClass, Fields: []string{"isError", "errorMsg", "appResponse", "responseProps"},
		Values: []any{r.IsError, msg, r.AppResponse, props}})
	if err != nil {
		return dst, fmt.Errorf("sofahessian: SofaResponse: %w", err)
	}
	return e.Bytes(), nil
}

func stringField(o *Object, name string) (string, bool) {
	v, _ := o.Get(name)
	s, ok := v.(string)
	return s, ok
}

// IsThrowable tells a serialized java.lang.Throwable: its serializer always writes
// detailMessage and stackTrace.
func IsThrowable(v any) (*Object, bool) {
	o, ok := v.(*Object)
	if !ok {
		return nil, false
	}
	_, m := o.Get("detailMessage")
	_, s := o.Get("stackTrace")
	return o, m && s
}

func describe(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case *Object:
		return "a " + t.Class + " object"
	case *List:
		return "a list"
	case *Map:
		return "a map"
	}
	return fmt.Sprintf("a %T", v)
}
