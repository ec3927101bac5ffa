package codec

import "fmt"

// Stream cuts one direction of a connection into frames. The network filter writes what Envoy hands
// it and pulls frames until Next says it needs more; nothing blocks and memory stays bounded by the
// largest frame allowed.
type Stream struct {
	codec    Codec
	side     Side
	maxFrame int
	buf      []byte
	off      int // start of undecoded bytes in buf
	err      error
}

// NewStream returns a stream decoding what side sends with c; maxFrame <= 0 means DefaultMaxFrame.
func NewStream(c Codec, side Side, maxFrame int) *Stream {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	return &Stream{codec: c, side: side, maxFrame: maxFrame}
}

// Write appends received bytes.
func (s *Stream) Write(p []byte) {
	if s.off > 0 && s.off == len(s.buf) {
		// Everything decoded: reuse the buffer from its start.
		s.buf, s.off = s.buf[:0], 0
	}
	s.buf = append(s.buf, p...)
}

// Buffered is the number of bytes received but not yet decoded.
func (s *Stream) Buffered() int { return len(s.buf) - s.off }

// Next returns the next complete frame, or (nil, nil) when more bytes are needed. After an error the
// stream is broken and keeps returning it.
func (s *Stream) Next() (Frame, error) {
	if s.err != nil {
		return nil, s.err
	}
	f, n, err := s.codec.Decode(s.buf[s.off:], s.side, s.maxFrame)
	if err != nil {
		s.err = fmt.Errorf("%s: decode %s bytes at stream offset %d: %w", s.codec.Name(), s.side, s.off, err)
		return nil, s.err
	}
	if f == nil {
		if s.off > 0 && s.off > len(s.buf)/2 {
			// Keep the buffer from growing with consumed bytes ahead of a partial frame.
			s.buf = append(s.buf[:0], s.buf[s.off:]...)
			s.off = 0
		}
		return nil, nil
	}
	s.off += n
	return f, nil
}
