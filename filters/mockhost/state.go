package mockhost

import (
	"fmt"
	"sync/atomic"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
)

// filterState mirrors "enum class FilterState" in processor_state.h.
type filterState int32

const (
	waitingHeader filterState = iota
	processingHeader
	waitingData
	waitingAllData
	processingData
	waitingTrailer
	processingTrailer
	stateDone
)

func (f filterState) String() string {
	return [...]string{"WaitingHeader", "ProcessingHeader", "WaitingData", "WaitingAllData",
		"ProcessingData", "WaitingTrailer", "ProcessingTrailer", "Done"}[f]
}

// direction is one ProcessorState (decoding or encoding) plus what it has passed on to the next
// filter (the upstream for decoding, the client for encoding).
type direction struct {
	s        *stream
	encoding bool

	state atomic.Int32
	// resumed is set when Go called Continue/SendLocalReply for the running phase: from then on Go
	// must not touch the phase's objects (the SDK documents both as the last call).
	resumed atomic.Bool
	// syncCall is set while the worker is inside a synchronous call into Go for this direction.
	syncCall atomic.Bool

	endStream   bool // end_stream_: the downstream (or upstream) has ended
	doEndStream bool // do_end_stream_: what Go is processing carries end of stream
	headers     *headerStore
	trailers    *headerStore // nil until seen
	doDataList  []*Buffer    // chunks handed to Go, held until it continues
	buffer      []byte       // data_buffer_: data that arrived while Go was busy
	hasBuffer   bool
	added       []byte // AddData from header/trailer phases

	out struct {
		headers, trailers, end bool
		body                   []byte
	}
}

func (d *direction) st() filterState        { return filterState(d.state.Load()) }
func (d *direction) setState(f filterState) { d.state.Store(int32(f)); d.resumed.Store(false) }

func (d *direction) name() string {
	if d.encoding {
		return "encoder"
	}
	return "decoder"
}

// phaseName names the phase being processed, as the SDK's EnvoyRequestPhase does.
func (d *direction) phaseName() string {
	var p api.EnvoyRequestPhase
	switch d.st() {
	case processingHeader:
		p = api.DecodeHeaderPhase
	case processingData:
		p = api.DecodeDataPhase
	case processingTrailer:
		p = api.DecodeTrailerPhase
	default:
		return d.st().String()
	}
	if d.encoding {
		p += api.EncodeHeaderPhase - api.DecodeHeaderPhase
	}
	return p.String()
}

// processing reports Envoy's isProcessingInGo().
func (d *direction) processing() bool {
	switch d.st() {
	case processingHeader, processingData, processingTrailer:
		return true
	}
	return d.s.inLog.Load()
}

// inGo is the guard of header maps and buffers of this direction.
func (d *direction) inGo() bool { return d.processing() && !d.resumed.Load() && !d.s.destroyed.Load() }

func (d *direction) isStreamEnd() bool { return d.endStream || d.trailers != nil }
func (d *direction) bufferEmpty() bool { return !d.hasBuffer || len(d.buffer) == 0 }

func (d *direction) takeBuffer() []byte {
	b := d.buffer
	d.buffer = nil
	return b
}

func (d *direction) moveOut() []byte {
	var out []byte
	for _, b := range d.doDataList {
		out = append(out, b.take()...)
	}
	d.doDataList = nil
	return out
}

// addBufferData is ProcessorState::addBufferData: over the buffer limit while waiting for the whole
// body, Envoy answers 413 (request) or 500 (response); otherwise it only applies flow control.
func (d *direction) addBufferData(data []byte) {
	d.hasBuffer = true
	before := len(d.buffer)
	d.buffer = append(d.buffer, data...)
	limit := d.s.h.opts.bufferLimit
	if before <= limit && len(d.buffer) > limit && d.st() == waitingAllData {
		if d.encoding {
			d.s.logf(api.Debug, "golang filter encode data buffer is full, reply with 500")
			d.s.envoyLocalReply(d, 500, "Internal Server Error", "response_payload_too_large")
		} else {
			d.s.logf(api.Debug, "golang filter decode data buffer is full, reply with 413")
			d.s.envoyLocalReply(d, 413, "Payload Too Large", "request_payload_too_large")
		}
	}
}

func statusName(st api.StatusType) string {
	switch st {
	case api.Running:
		return "Running"
	case api.LocalReply:
		return "LocalReply"
	case api.Continue:
		return "Continue"
	case api.StopAndBuffer:
		return "StopAndBuffer"
	case api.StopAndBufferWatermark:
		return "StopAndBufferWatermark"
	case api.StopNoBuffer:
		return "StopNoBuffer"
	}
	return fmt.Sprintf("status(%d)", int(st))
}

// handleHeaderStatus is ProcessorState::handleHeaderGolangStatus.
func (d *direction) handleHeaderStatus(status api.StatusType) bool {
	switch status {
	case api.LocalReply, api.Running:
	case api.Continue:
		if d.doEndStream {
			d.setState(stateDone)
		} else {
			d.setState(waitingData)
		}
		return true
	case api.StopAndBuffer:
		d.setState(waitingAllData)
	case api.StopAndBufferWatermark:
		d.setState(waitingData)
	default:
		d.s.protocolError("%s header phase: unexpected status %s", d.name(), statusName(status))
	}
	return false
}

// handleDataStatus is ProcessorState::handleDataGolangStatus.
func (d *direction) handleDataStatus(status api.StatusType) bool {
	done := false
	switch status {
	case api.LocalReply, api.Running:
		return false
	case api.Continue:
		if d.doEndStream {
			d.setState(stateDone)
		} else {
			d.setState(waitingData)
		}
		done = true
	case api.StopAndBuffer, api.StopAndBufferWatermark, api.StopNoBuffer:
		if d.doEndStream {
			d.s.protocolError("%s data phase: %s returned at end of stream (Envoy: \"want more data while stream is end\")", d.name(), statusName(status))
		}
		if status == api.StopNoBuffer && len(d.doDataList) > 0 {
			d.doDataList = d.doDataList[:len(d.doDataList)-1]
		}
		if status == api.StopAndBuffer {
			d.setState(waitingAllData)
		} else {
			d.setState(waitingData)
		}
	default:
		d.s.protocolError("%s data phase: unexpected status %s", d.name(), statusName(status))
	}
	if d.trailers != nil && d.bufferEmpty() {
		d.setState(waitingTrailer)
	}
	return done
}

// handleTrailerStatus is ProcessorState::handleTrailerGolangStatus.
func (d *direction) handleTrailerStatus(status api.StatusType) bool {
	switch status {
	case api.LocalReply, api.Running:
	case api.Continue:
		d.setState(stateDone)
		return true
	default:
		d.s.protocolError("%s trailer phase: unexpected status %s", d.name(), statusName(status))
	}
	return false
}

func (d *direction) handleStatus(status api.StatusType) bool {
	switch d.st() {
	case processingHeader:
		return d.handleHeaderStatus(status)
	case processingData:
		return d.handleDataStatus(status)
	case processingTrailer:
		return d.handleTrailerStatus(status)
	}
	d.s.protocolError("%s: Continue handled in unexpected state %s", d.name(), d.st())
	return false
}
