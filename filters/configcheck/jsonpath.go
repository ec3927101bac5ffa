package configcheck

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"
)

// protojson reports errors with a position in the JSON made from the YAML ("(line 1:1033)"), which means
// nothing to someone who wrote YAML. locateJSONError turns that position into a field path.
var jsonPos = regexp.MustCompile(`\(line (\d+):(\d+)\)`)

func locateJSONError(js []byte, msg string) string {
	m := jsonPos.FindStringSubmatch(msg)
	if m == nil {
		return ""
	}
	line, _ := strconv.Atoi(m[1])
	col, _ := strconv.Atoi(m[2])
	off := 0
	for l := 1; l < line; l++ { // YAMLToJSON output is one line; stay correct for JSON input with many
		i := bytes.IndexByte(js[off:], '\n')
		if i < 0 {
			return ""
		}
		off += i + 1
	}
	return jsonPathAt(js, off+col-1)
}

type jsonFrame struct {
	array bool
	index int
	key   string
	// wantKey: in an object, the next string token is a key.
	wantKey bool
}

// jsonPathAt returns the path (a.b[2].c) of the token that covers byte offset target of js.
func jsonPathAt(js []byte, target int) string {
	dec := json.NewDecoder(bytes.NewReader(js))
	var stack []jsonFrame
	path := func() string {
		var b bytes.Buffer
		for _, f := range stack {
			switch {
			case f.array && f.index >= 0:
				b.WriteString("[" + strconv.Itoa(f.index) + "]")
			case !f.array && f.key != "":
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(f.key)
			}
		}
		return b.String()
	}
	// valueStart is called before a value token: an array element advances the index.
	valueStart := func() {
		if n := len(stack); n > 0 && stack[n-1].array {
			stack[n-1].index++
		}
	}
	valueEnd := func() {
		if n := len(stack); n > 0 && !stack[n-1].array {
			stack[n-1].wantKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return path()
		}
		past := dec.InputOffset() > int64(target)
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				valueStart()
				if past {
					return path()
				}
				stack = append(stack, jsonFrame{array: t == '[', index: -1, wantKey: t == '{'})
			default:
				if past {
					return path()
				}
				stack = stack[:len(stack)-1]
				valueEnd()
			}
		default:
			if n := len(stack); n > 0 && !stack[n-1].array && stack[n-1].wantKey {
				stack[n-1].key, _ = t.(string)
				stack[n-1].wantKey = false
				if past {
					return path()
				}
				continue
			}
			valueStart()
			if past {
				return path()
			}
			valueEnd()
		}
	}
}
