package bridge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"

	"github.com/govoy/govoy/filters/rpc/codec/hessianscan"
)

// shortTypes maps convenient names to the Java type names providers expect.
var shortTypes = map[string]string{
	"String": "java.lang.String", "string": "java.lang.String",
	"Integer": "java.lang.Integer", "Long": "java.lang.Long", "Short": "java.lang.Short",
	"Byte": "java.lang.Byte", "Double": "java.lang.Double", "Float": "java.lang.Float",
	"Boolean": "java.lang.Boolean", "Character": "java.lang.Character", "Object": "java.lang.Object",
	"List": "java.util.List", "Map": "java.util.Map", "Set": "java.util.Set",
}

func canonicalType(t string) string {
	if elem, ok := strings.CutSuffix(t, "[]"); ok {
		return canonicalType(elem) + "[]"
	}
	if c, ok := shortTypes[t]; ok {
		return c
	}
	return t
}

// toHessian converts one JSON value to the Go value dubbo-go-hessian2 encodes as typ. Primitive
// and boxed scalar types are checked strictly; anything else (maps, POJOs as maps, Object) is
// converted generically: objects become maps, integers int64, other numbers float64.
func toHessian(field, typ string, raw json.RawMessage) (any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, badf(field, "missing value")
	}
	if bytes.Equal(raw, []byte("null")) {
		if isPrimitive(typ) {
			return nil, badf(field, "null for primitive %s", typ)
		}
		return nil, nil
	}
	switch typ {
	case "java.lang.String", "char", "java.lang.Character":
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, badf(field, "want a JSON string for %s", typ)
		}
		if typ != "java.lang.String" && len([]rune(s)) != 1 {
			return nil, badf(field, "want one character for %s, got %q", typ, s)
		}
		return s, nil
	case "boolean", "java.lang.Boolean":
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, badf(field, "want true or false for %s", typ)
		}
		return b, nil
	case "int", "java.lang.Integer":
		n, err := intValue(field, typ, raw, math.MinInt32, math.MaxInt32)
		return int32(n), err
	case "long", "java.lang.Long":
		return intValue(field, typ, raw, math.MinInt64, math.MaxInt64)
	case "short", "java.lang.Short":
		n, err := intValue(field, typ, raw, math.MinInt16, math.MaxInt16)
		return int16(n), err
	case "byte", "java.lang.Byte":
		n, err := intValue(field, typ, raw, math.MinInt8, math.MaxInt8)
		return int8(n), err
	case "double", "java.lang.Double", "float", "java.lang.Float":
		var f float64
		if err := json.Unmarshal(raw, &f); err != nil {
			return nil, badf(field, "want a JSON number for %s", typ)
		}
		return f, nil
	}
	if elem, ok := strings.CutSuffix(typ, "[]"); ok {
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, badf(field, "want a JSON array for %s", typ)
		}
		out := make([]any, len(items))
		for i, it := range items {
			v, err := toHessian(fmt.Sprintf("%s[%d]", field, i), elem, it)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, badf(field, "invalid JSON: %v", err)
	}
	if isPrimitive(typ) {
		return nil, badf(field, "unknown primitive type %s", typ)
	}
	return generic(v), nil
}

func isPrimitive(t string) bool {
	switch t {
	case "int", "long", "short", "byte", "double", "float", "boolean", "char":
		return true
	}
	return !strings.Contains(t, ".") && !strings.HasSuffix(t, "[]") && t != "" && t[0] >= 'a' && t[0] <= 'z'
}

func intValue(field, typ string, raw json.RawMessage, lo, hi int64) (int64, error) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, badf(field, "want a JSON integer for %s", typ)
	}
	v, err := n.Int64()
	if err != nil || v < lo || v > hi {
		return 0, badf(field, "%s is not a %s (%d..%d)", n, typ, lo, hi)
	}
	return v, nil
}

// generic turns a decoded JSON value into hessian-friendly Go values.
func generic(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[any]any, len(t))
		for k, e := range t {
			m[k] = generic(e)
		}
		return m
	case []any:
		for i, e := range t {
			t[i] = generic(e)
		}
		return t
	case json.Number:
		if n, err := t.Int64(); err == nil {
			return n
		}
		f, _ := t.Float64()
		return f
	default:
		return v
	}
}

// maxJSONValues bounds the values toJSON writes for one response: hessian references let a few
// bytes stand for a huge tree (each level a list of two references to the level below).
const maxJSONValues = 1 << 20

// toJSON turns a value decoded by dubbo-go-hessian2 into one encoding/json can write: maps get
// string keys, Java exceptions become {class, message}. References may make the value a cycle or
// a huge shared tree, so it fails past hessianscan.MaxDepth levels or maxJSONValues values.
func toJSON(v any) (any, error) {
	budget := maxJSONValues
	return toJSONAt(v, 0, &budget)
}

func toJSONAt(v any, depth int, budget *int) (any, error) {
	if *budget--; *budget < 0 {
		return nil, fmt.Errorf("more than %d values", maxJSONValues)
	}
	if depth > hessianscan.MaxDepth {
		return nil, fmt.Errorf("values nested deeper than %d (or a reference cycle)", hessianscan.MaxDepth)
	}
	switch t := v.(type) {
	case nil:
		return nil, nil
	case []byte, string:
		return t, nil
	case error:
		return map[string]any{"class": javaClass(t), "message": t.Error()}, nil
	case []any: // what the decoder builds for lists and maps: no reflection
		out := make([]any, len(t))
		for i, e := range t {
			var err error
			if out[i], err = toJSONAt(e, depth+1, budget); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			e, err := toJSONAt(e, depth+1, budget)
			if err != nil {
				return nil, err
			}
			m[fmt.Sprint(k)] = e // keys are hashable: no maps or slices, so printing cannot loop
		}
		return m, nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		out := make([]any, rv.Len())
		for i := range out {
			e, err := toJSONAt(rv.Index(i).Interface(), depth+1, budget)
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return out, nil
	case reflect.Map:
		m := make(map[string]any, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			e, err := toJSONAt(it.Value().Interface(), depth+1, budget)
			if err != nil {
				return nil, err
			}
			m[fmt.Sprint(it.Key().Interface())] = e
		}
		return m, nil
	}
	return v, nil
}

// javaClass names the Java class of a decoded hessian object when it says.
func javaClass(v any) string {
	if p, ok := v.(interface{ JavaClassName() string }); ok {
		return p.JavaClassName()
	}
	return fmt.Sprintf("%T", v)
}
