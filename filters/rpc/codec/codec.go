// Package codec is the contract between the govoy-rpc network filter and an RPC protocol.
//
// A protocol is one Go package that implements Codec and registers it from an init function. The
// proxy never looks inside a protocol: it sniffs the first bytes of a connection (Sniff), cuts the
// byte stream into frames (Stream), reads the routing fields of requests (Frame.Route), rewrites
// request ids to multiplex many downstream requests on one upstream connection (Frame.SetID),
// answers heartbeats locally (Codec.HeartbeatReply) and builds error responses (Codec.Hijack).
package codec

import (
	"errors"
	"time"
)

// Match is the answer of a protocol to the first bytes of a connection.
type Match int

const (
	MatchNo   Match = iota // these bytes are not this protocol
	MatchYes               // these bytes start a frame of this protocol
	MatchMore              // too few bytes to tell
)

func (m Match) String() string {
	switch m {
	case MatchYes:
		return "yes"
	case MatchMore:
		return "more"
	default:
		return "no"
	}
}

// Kind says which way a frame travels.
type Kind uint8

const (
	KindRequest       Kind = iota + 1 // expects a response with the same request id
	KindOnewayRequest                 // no response expected
	KindResponse
)

func (k Kind) String() string {
	switch k {
	case KindRequest:
		return "request"
	case KindOnewayRequest:
		return "oneway"
	case KindResponse:
		return "response"
	default:
		return "unknown"
	}
}

// Side says which peer produced the bytes being decoded. Protocols whose frames say whether they
// are requests (Dubbo, Bolt) ignore it; protocols where they do not (Redis RESP) need it.
type Side uint8

const (
	FromDownstream Side = iota // bytes from the client: requests
	FromUpstream               // bytes from the server: responses
)

func (s Side) String() string {
	if s == FromUpstream {
		return "upstream"
	}
	return "downstream"
}

// Status is a protocol-neutral outcome. Hijack maps it to the protocol's own response code, and
// Frame.Status maps a response's code back so stats and outlier detection need no protocol knowledge.
type Status uint8

const (
	StatusOK          Status = iota
	StatusNoRoute            // no route or cluster for the requested service
	StatusNoProvider         // a route exists but no healthy upstream host
	StatusTimeout            // the upstream did not answer in time
	StatusRateLimited        // refused by a rate limit
	StatusCircuitOpen        // refused by an open circuit breaker / overflow
	StatusBadRequest         // the request could not be decoded or is invalid
	StatusServerError        // any other failure (upstream reset, upstream error, internal)
)

var statusNames = [...]string{"ok", "no_route", "no_provider", "timeout", "rate_limited", "circuit_open", "bad_request", "server_error"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "unknown"
}

// Route holds the request fields routing and governance use. Strings may share memory with the
// frame's bytes; they stay valid as long as the caller keeps them (Go strings are immutable and the
// frame never rewrites the bytes they point to).
type Route struct {
	Service string        // interface / service name, e.g. "org.example.DemoService"
	Method  string        // method name
	Version string        // service version, "" when absent
	Group   string        // service group (Dubbo group, SOFARPC uniqueId), "" when absent
	Timeout time.Duration // the caller's timeout carried in the request, 0 when absent
}

// Headers are the string key/values a request carries besides its payload (Dubbo attachments,
// Bolt header map, ...). Set changes what Encode writes.
type Headers interface {
	Get(key string) (string, bool)
	Set(key, value string)
	Range(fn func(key, value string) bool)
	Len() int
}

// Frame is one decoded protocol message. Decode gives the frame its own copy of the bytes, so a
// frame outlives the stream buffer it came from. A frame is not safe for concurrent mutation.
type Frame interface {
	Kind() Kind
	IsHeartbeat() bool
	// ID is the request id that pairs a response with its request; 0 for ping-pong protocols.
	ID() uint64
	// SetID rewrites the request id in place (the proxy maps downstream ids to upstream ids).
	SetID(id uint64)
	// Route returns the routing fields of a request; the zero Route for responses and heartbeats.
	Route() Route
	// Headers returns the frame's header map (never nil).
	Headers() Headers
	// StatusCode is the protocol's own response status (0 for requests).
	StatusCode() uint32
	// Status maps StatusCode to a neutral Status (StatusOK for requests).
	Status() Status
	// Err is non-nil when the frame's boundaries are sound but its content could not be read (so its
	// routing fields are missing). The connection can go on; the proxy answers such a request with
	// Hijack(StatusBadRequest).
	Err() error
	// AppendWire appends the frame's wire bytes to dst, re-encoding only what Set changed.
	AppendWire(dst []byte) ([]byte, error)
}

// GoAwayFrame is implemented by the frames of protocols whose servers announce a shutdown on the
// connection (Dubbo's read-only event). When IsGoAway reports true for a frame from an upstream, the
// proxy sends that endpoint no new requests while other endpoints can take them and lets the
// requests in flight finish; a new connection to it is trusted again. Optional: protocols without
// such a notice need not implement it.
type GoAwayFrame interface {
	IsGoAway() bool
}

// Codec is one protocol. Implementations are stateless and safe for concurrent use.
type Codec interface {
	// Name is the registry key ("dubbo", "bolt", ...).
	Name() string
	// Match sniffs the first bytes of a connection. It must not read past what it needs.
	Match(prefix []byte) Match
	// Decode reads one frame, sent by side, from the start of buf. It returns (nil, 0, nil) when buf holds only a
	// part of a frame, and an error when the bytes cannot be this protocol or the frame would exceed
	// maxFrame bytes; the connection is then beyond repair. It never blocks and never panics. n is
	// how many bytes the frame used; the frame does not alias buf.
	Decode(buf []byte, side Side, maxFrame int) (f Frame, n int, err error)
	// Encode appends the wire bytes of a frame this codec produced to dst.
	Encode(f Frame, dst []byte) ([]byte, error)
	// IDSpace is the largest request id the protocol carries; 0 means no request ids (ping-pong:
	// one request in flight per connection, responses in order).
	IDSpace() uint64
	// Heartbeat builds a heartbeat request with the given id, for upstream keep-alive.
	Heartbeat(id uint64) Frame
	// HeartbeatReply builds the local answer to a heartbeat request.
	HeartbeatReply(req Frame) (Frame, error)
	// Hijack builds the error response to req for status st; msg is carried where the protocol has
	// room for a message.
	Hijack(req Frame, st Status, msg string) (Frame, error)
}

// Errors shared by codecs; protocol errors wrap them so callers can classify with errors.Is.
var (
	ErrFrameTooLarge = errors.New("frame too large")
	ErrMalformed     = errors.New("malformed frame")
	ErrForeignFrame  = errors.New("frame was not produced by this codec")
	ErrNotRequest    = errors.New("frame is not a request")
	ErrBadContent    = errors.New("unreadable frame content")
)

// DefaultMaxFrame bounds a frame when the config says nothing: Dubbo's own default payload limit.
const DefaultMaxFrame = 8 << 20
