package bridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Call is one generic invocation, protocol-neutral.
type Call struct {
	Service, Method, Version, Group string
	Types                           []string // Java type names, e.g. "java.lang.String", "int", "org.example.User"
	Args                            []any    // hessian-ready values, one per type
	Attachments                     map[string]string
	Timeout                         time.Duration
}

// BadRequestError is a request the gateway cannot turn into a call; Field names the culprit.
type BadRequestError struct {
	Field string
	Msg   string
}

func (e *BadRequestError) Error() string { return e.Field + ": " + e.Msg }

func badf(field, format string, a ...any) error {
	return &BadRequestError{Field: field, Msg: fmt.Sprintf(format, a...)}
}

// Request is what the gateway reads from an HTTP request.
type Request struct {
	Path   string
	Header func(name string) string // lower-case names; "" when absent
	Body   []byte
}

// body is the JSON request format.
type body struct {
	Service        string            `json:"service"`
	Method         string            `json:"method"`
	Version        string            `json:"version"`
	Group          string            `json:"group"`
	ParameterTypes []string          `json:"parameterTypes"`
	Args           []json.RawMessage `json:"args"`
	Attachments    map[string]string `json:"attachments"`
}

// typedArg is one element of args in the {type, value} form.
type typedArg struct {
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
}

// ParseRequest builds the call r asks for, or a *BadRequestError.
func (c *Config) ParseRequest(r Request) (*Call, error) {
	var b body
	if len(bytes.TrimSpace(r.Body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(r.Body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&b); err != nil {
			return nil, jsonError(err)
		}
		if _, err := dec.Token(); err != io.EOF {
			return nil, badf("body", "trailing data after the JSON object")
		}
	}
	var f [numFields]string
	if c.template != nil && !c.matchPath(r.Path, &f) {
		return nil, badf("path", "%q does not match the gateway's path template", r.Path)
	}
	for i, h := range c.headers {
		if f[i] == "" && h != "" && r.Header != nil {
			f[i] = r.Header(h)
		}
	}
	if c.bodyFields {
		for i, v := range [numFields]string{b.Service, b.Method, b.Version, b.Group} {
			if f[i] == "" {
				f[i] = v
			}
		}
	}
	call := &Call{Service: f[fieldService], Method: f[fieldMethod], Version: f[fieldVersion], Group: f[fieldGroup],
		Attachments: b.Attachments, Timeout: c.Timeout}
	if call.Service == "" {
		return nil, badf("service", "missing")
	}
	if call.Method == "" {
		return nil, badf("method", "missing")
	}
	if call.Version == "" {
		call.Version = c.DefaultVersion
	}
	if call.Group == "" {
		call.Group = c.DefaultGroup
	}
	if r.Header != nil {
		if v := r.Header(TimeoutHeader); v != "" {
			ms, err := strconv.ParseUint(v, 10, 32)
			if err != nil || ms == 0 {
				return nil, badf(TimeoutHeader, "%q is not a positive number of milliseconds", v)
			}
			call.Timeout = time.Duration(ms) * time.Millisecond
		}
	}
	if err := call.parseArgs(&b); err != nil {
		return nil, err
	}
	return call, nil
}

func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return badf(te.Field, "want %s, got JSON %s", te.Type, te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return badf("body", "invalid JSON at byte %d: %v", se.Offset, err)
	}
	if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
		return badf(strings.Trim(strings.TrimPrefix(msg, "json: unknown field "), `"`), "unknown field")
	}
	return badf("body", "invalid JSON: %v", err)
}

// parseArgs accepts either parameterTypes + plain args, or args of {type, value} objects.
func (call *Call) parseArgs(b *body) error {
	if b.ParameterTypes != nil {
		if len(b.ParameterTypes) != len(b.Args) {
			return badf("args", "%d values for %d parameterTypes", len(b.Args), len(b.ParameterTypes))
		}
		for i, t := range b.ParameterTypes {
			if err := call.addArg(fmt.Sprintf("parameterTypes[%d]", i), fmt.Sprintf("args[%d]", i), t, b.Args[i]); err != nil {
				return err
			}
		}
		return nil
	}
	for i, raw := range b.Args {
		var ta typedArg
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ta); err != nil {
			return badf(fmt.Sprintf("args[%d]", i), "want {\"type\": ..., \"value\": ...} (or use parameterTypes): %v", err)
		}
		if err := call.addArg(fmt.Sprintf("args[%d].type", i), fmt.Sprintf("args[%d].value", i), ta.Type, ta.Value); err != nil {
			return err
		}
	}
	return nil
}

func (call *Call) addArg(typeField, valueField, typ string, raw json.RawMessage) error {
	typ = strings.TrimSpace(typ)
	if typ == "" {
		return badf(typeField, "missing Java type name")
	}
	typ = canonicalType(typ)
	v, err := toHessian(valueField, typ, raw)
	if err != nil {
		return err
	}
	call.Types = append(call.Types, typ)
	call.Args = append(call.Args, v)
	return nil
}
