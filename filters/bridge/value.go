package bridge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"

	"github.com/govoy/govoy/filters/bridge/sofahessian"
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
// bytes stand for a huge tree (each level a list of two references to the level below). The same
// bound as the Bolt side's sofahessian.MaxJSONNodes.
const maxJSONValues = sofahessian.MaxJSONNodes

// toJSON turns a value decoded by dubbo-go-hessian2 into one encoding/json can write: maps get
// string keys, Java exceptions become {class, message}. Hessian references can make the value
// cyclic (a Java object graph with back references): a reference back to a list or map being
// converted becomes null, as on the Bolt side. It fails past maxJSONValues values.
func toJSON(v any) (any, error) {
	w := jsonWalk{budget: maxJSONValues, onPath: map[uintptr]bool{}}
	return w.conv(v, 0)
}

type jsonWalk struct {
	budget int
	onPath map[uintptr]bool // lists and maps being converted, by address
}

func (w *jsonWalk) conv(v any, depth int) (any, error) {
	if w.budget--; w.budget < 0 {
		return nil, fmt.Errorf("more than %d values", maxJSONValues)
	}
	if depth > hessianscan.MaxDepth { // checkHessian bounds the bytes; this bounds what refs build
		return nil, fmt.Errorf("values nested deeper than %d", hessianscan.MaxDepth)
	}
	switch t := v.(type) {
	case nil:
		return nil, nil
	case []byte, string:
		return t, nil
	case error:
		return map[string]any{"class": javaClass(t), "message": t.Error()}, nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.Len() > 0 {
			if w.onPath[rv.Pointer()] {
				return nil, nil
			}
			w.onPath[rv.Pointer()] = true
			defer delete(w.onPath, rv.Pointer())
		}
		out := make([]any, rv.Len())
		for i := range out {
			e, err := w.conv(rv.Index(i).Interface(), depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return out, nil
	case reflect.Map:
		if w.onPath[rv.Pointer()] {
			return nil, nil
		}
		w.onPath[rv.Pointer()] = true
		defer delete(w.onPath, rv.Pointer())
		m := make(map[string]any, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			e, err := w.conv(it.Value().Interface(), depth+1)
			if err != nil {
				return nil, err
			}
			// Keys are hashable, so they hold no maps or slices: printing one cannot loop.
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
