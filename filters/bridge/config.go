// Package bridge is the HTTP/JSON -> RPC gateway behind Envoy's golang HTTP-TCP bridge: it turns a
// JSON request into an RPC request frame (Dubbo generic $invoke in hessian2, or a Bolt SofaRequest
// in sofa-hessian's draft grammar, see sofahessian) and the response frame back into a JSON body
// and an HTTP status. It is pure Go; filters/bridge/envoybridge wires it to
// Envoy's SDK.
package bridge

import (
	"fmt"
	"strings"
	"time"

	"github.com/govoy/govoy/filters/bridge/bridgepb"
)

// DefaultTimeout is the provider timeout when neither the config nor the request sets one.
const DefaultTimeout = 3 * time.Second

// TimeoutHeader carries a per-request provider timeout in milliseconds.
const TimeoutHeader = "x-rpc-timeout-ms"

// Config is the validated, compiled form of bridgepb.Config.
type Config struct {
	Protocol       bridgepb.Config_Protocol
	template       []segment // nil: the path is not read
	headers        [4]string // header names for service, method, version, group ("" = unused)
	bodyFields     bool
	Timeout        time.Duration
	DefaultVersion string
	DefaultGroup   string
}

// The routing fields, in the order used by headers and segments.
const (
	fieldService = iota
	fieldMethod
	fieldVersion
	fieldGroup
	numFields
)

var fieldNames = [numFields]string{"service", "method", "version", "group"}

// segment is one path segment of the template: a literal or a placeholder (field >= 0).
type segment struct {
	literal string
	field   int
}

// NewConfig validates pb and compiles it.
func NewConfig(pb *bridgepb.Config) (*Config, error) {
	if pb == nil {
		return nil, fmt.Errorf("bridge config: missing")
	}
	if err := pb.ValidateAll(); err != nil {
		return nil, fmt.Errorf("bridge config: %w", err)
	}
	c := &Config{
		Protocol:       pb.GetProtocol(),
		bodyFields:     pb.GetBodyFields() == bridgepb.Config_BODY_FIELDS_ON,
		Timeout:        DefaultTimeout,
		DefaultVersion: pb.GetDefaultVersion(),
		DefaultGroup:   pb.GetDefaultGroup(),
	}
	if d := pb.GetDefaultTimeout(); d != nil && d.AsDuration() > 0 {
		c.Timeout = d.AsDuration()
	}
	if h := pb.GetHeaders(); h != nil {
		c.headers = [numFields]string{strings.ToLower(h.GetService()), strings.ToLower(h.GetMethod()),
			strings.ToLower(h.GetVersion()), strings.ToLower(h.GetGroup())}
	}
	if t := pb.GetPathTemplate(); t != "" {
		segs, err := compileTemplate(t)
		if err != nil {
			return nil, fmt.Errorf("bridge config: path_template %q: %w", t, err)
		}
		c.template = segs
	}
	if c.template == nil && c.headers[fieldService] == "" && !c.bodyFields {
		return nil, fmt.Errorf("bridge config: nothing names the service: set path_template, headers.service or body_fields")
	}
	return c, nil
}

func compileTemplate(t string) ([]segment, error) {
	var segs []segment
	seen := map[int]bool{}
	for _, p := range strings.Split(strings.TrimPrefix(t, "/"), "/") {
		if !strings.HasPrefix(p, "{") {
			if strings.ContainsAny(p, "{}") {
				return nil, fmt.Errorf("segment %q: a placeholder must be a whole segment", p)
			}
			segs = append(segs, segment{literal: p, field: -1})
			continue
		}
		name := strings.TrimSuffix(strings.TrimPrefix(p, "{"), "}")
		f := -1
		for i, n := range fieldNames {
			if n == name {
				f = i
			}
		}
		if f < 0 || !strings.HasSuffix(p, "}") {
			return nil, fmt.Errorf("segment %q: placeholders are {service}, {method}, {version}, {group}", p)
		}
		if seen[f] {
			return nil, fmt.Errorf("placeholder {%s} used twice", name)
		}
		seen[f] = true
		segs = append(segs, segment{field: f})
	}
	return segs, nil
}

// matchPath fills fields from path; false when the path does not fit the template.
func (c *Config) matchPath(path string, out *[numFields]string) bool {
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(parts) != len(c.template) {
		return false
	}
	for i, s := range c.template {
		if s.field < 0 {
			if parts[i] != s.literal {
				return false
			}
			continue
		}
		out[s.field] = parts[i]
	}
	return true
}

// HeaderNames lists the request headers the config reads besides TimeoutHeader.
func (c *Config) HeaderNames() []string {
	var out []string
	for _, h := range c.headers {
		if h != "" {
			out = append(out, h)
		}
	}
	return out
}
