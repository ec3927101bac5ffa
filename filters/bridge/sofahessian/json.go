package sofahessian

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// MaxJSONNodes bounds what ToJSON produces: shared references are copied, so a small input that
// references the same list many times over could otherwise grow without limit.
const MaxJSONNodes = 1 << 20

// ErrTooLarge is returned by ToJSON past MaxJSONNodes.
var ErrTooLarge = errors.New("sofahessian: value too large to render as JSON")

// ToJSON turns a decoded value into one encoding/json writes: objects become maps with their
// "class" (BigDecimal/BigInteger their decimal string, Throwables {class, message}), maps get
// string keys, lists become arrays, dates RFC 3339 strings. A reference back to a value being converted (a cycle) becomes
// null.
func ToJSON(v any) (any, error) {
	c := &jsonConv{onPath: map[any]bool{}}
	return c.conv(v)
}

type jsonConv struct {
	onPath map[any]bool
	nodes  int
}

func (c *jsonConv) conv(v any) (any, error) {
	c.nodes++
	if c.nodes > MaxJSONNodes {
		return nil, ErrTooLarge
	}
	switch t := v.(type) {
	case *Object, *List, *Map:
		if c.onPath[t] {
			return nil, nil
		}
		c.onPath[t] = true
		defer delete(c.onPath, t)
	}
	switch t := v.(type) {
	case *Object:
		if o, ok := IsThrowable(t); ok {
			msg, _ := o.Get("detailMessage")
			m, err := c.conv(msg)
			return map[string]any{"class": o.Class, "message": m}, err
		}
		switch t.Class {
		case "java.math.BigDecimal", "java.math.BigInteger":
			if s, ok := t.Get("value"); ok {
				return s, nil
			}
		}
		out := make(map[string]any, len(t.Fields)+1)
		out["class"] = t.Class
		for i, f := range t.Fields {
			fv, err := c.conv(t.Values[i])
			if err != nil {
				return nil, err
			}
			out[f] = fv
		}
		return out, nil
	case *List:
		out := make([]any, len(t.Items))
		for i, it := range t.Items {
			var err error
			if out[i], err = c.conv(it); err != nil {
				return nil, err
			}
		}
		return out, nil
	case *Map:
		out := make(map[string]any, len(t.Keys))
		for i, k := range t.Keys {
			ks, err := c.key(k)
			if err != nil {
				return nil, err
			}
			if out[ks], err = c.conv(t.Values[i]); err != nil {
				return nil, err
			}
		}
		return out, nil
	case time.Time:
		if y := t.Year(); y < 0 || y > 9999 {
			return t.UnixMilli(), nil // JSON has no spelling for it: milliseconds since the epoch
		}
		return t.Format(time.RFC3339Nano), nil
	case float64:
		if t != t || t > 1.7976931348623157e308 || t < -1.7976931348623157e308 {
			return strconv.FormatFloat(t, 'g', -1, 64), nil // NaN and infinities are not JSON numbers
		}
	}
	return v, nil
}

// key renders a map key: strings as they are, other scalars in their JSON spelling, anything
// else as its JSON text.
func (c *jsonConv) key(k any) (string, error) {
	switch t := k.(type) {
	case string:
		return t, nil
	case nil:
		return "null", nil
	case int32, int64, bool:
		return fmt.Sprint(t), nil
	}
	v, err := c.conv(k)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("sofahessian: map key: %w", err)
	}
	return string(b), nil
}
