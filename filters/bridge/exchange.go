package bridge

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/govoy/govoy/filters/bridge/bridgepb"
)

// nextID numbers requests; ids only need to be unique per upstream connection.
var nextID atomic.Uint64

// Exchange is one HTTP request and its RPC response.
type Exchange struct {
	id    uint64
	proto bridgepb.Config_Protocol
	// refused is set when the request was refused locally: the frame sent is a heartbeat and its
	// reply only gives the gateway the chance to set the HTTP status (Envoy v1.39.0's bridge cannot
	// set a status when Go ends the stream from EncodeHeaders/EncodeData).
	refused *Result
}

// Start turns r into the bytes to write upstream. A bad request still yields bytes (a heartbeat)
// and an Exchange whose result is the 400.
func (c *Config) Start(r Request) ([]byte, *Exchange) {
	ex := &Exchange{id: nextID.Add(1), proto: c.Protocol}
	if c.Protocol == bridgepb.Config_BOLT {
		ex.id = uint64(uint32(ex.id)) // Bolt request ids are 32 bits
	}
	call, err := c.ParseRequest(r)
	if err == nil {
		var frame []byte
		if frame, err = ex.encode(call); err == nil {
			return frame, ex
		}
		err = &BadRequestError{Field: "args", Msg: err.Error()}
	}
	ex.refused = BadRequest(err)
	frame, herr := ex.heartbeat()
	if herr != nil { // cannot happen with the dubbo and bolt codecs; keep the error visible anyway
		ex.refused = errResult(500, "internal", fmt.Sprintf("heartbeat: %v", herr))
	}
	return frame, ex
}

// Refused is the local answer when the request was refused, nil otherwise.
func (ex *Exchange) Refused() *Result { return ex.refused }

// OnUpstream reads the upstream bytes received so far (all of them, from the first); end says the
// upstream closed. It returns nil while the response is incomplete.
func (ex *Exchange) OnUpstream(buf []byte, end bool) *Result {
	res, err := ex.decode(buf)
	switch {
	case err == nil:
		if ex.refused != nil {
			return ex.refused
		}
		return res
	case errors.Is(err, ErrIncomplete) && !end:
		return nil
	case errors.Is(err, ErrIncomplete):
		if ex.refused != nil {
			return ex.refused
		}
		return UpstreamFailure(fmt.Errorf("upstream closed the connection after %d bytes, before the response to request %d", len(buf), ex.id))
	default:
		return UpstreamFailure(err)
	}
}

func (ex *Exchange) encode(call *Call) ([]byte, error) {
	if ex.proto == bridgepb.Config_BOLT {
		return EncodeBolt(nil, call, ex.id)
	}
	return EncodeDubbo(nil, call, ex.id)
}

func (ex *Exchange) heartbeat() ([]byte, error) {
	if ex.proto == bridgepb.Config_BOLT {
		return BoltHeartbeat(nil, ex.id)
	}
	return DubboHeartbeat(nil, ex.id)
}

func (ex *Exchange) decode(buf []byte) (*Result, error) {
	if ex.proto == bridgepb.Config_BOLT {
		return DecodeBolt(buf, ex.id)
	}
	return DecodeDubbo(buf, ex.id)
}
