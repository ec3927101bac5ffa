package mockhost

import (
	"strconv"
	"sync"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
)

// Buffer is one body chunk as the SDK's httpBuffer sees it. Every operation except Len goes to
// "Envoy" and is only allowed while the owning phase runs in Go.
type Buffer struct {
	mu   sync.Mutex
	data []byte
	inGo func() bool
}

var _ api.BufferInstance = (*Buffer)(nil)

// NewBuffer returns a free-standing buffer (always usable), for unit tests of code that takes an
// api.BufferInstance.
func NewBuffer(data []byte) *Buffer {
	return &Buffer{data: append([]byte(nil), data...), inGo: always}
}

func (b *Buffer) check() {
	if !b.inGo() {
		panic(ErrNotInGo)
	}
}

func (b *Buffer) edit(f func()) {
	b.check()
	b.mu.Lock()
	defer b.mu.Unlock()
	f()
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.edit(func() { b.data = append(b.data, p...) })
	return len(p), nil
}

func (b *Buffer) WriteString(s string) (int, error) {
	b.edit(func() { b.data = append(b.data, s...) })
	return len(s), nil
}

func (b *Buffer) WriteByte(p byte) error {
	b.edit(func() { b.data = append(b.data, p) })
	return nil
}

// WriteUint16/32/64 append the decimal text of the number: that is what the SDK does.
func (b *Buffer) WriteUint16(p uint16) error {
	_, err := b.WriteString(strconv.FormatUint(uint64(p), 10))
	return err
}

func (b *Buffer) WriteUint32(p uint32) error {
	_, err := b.WriteString(strconv.FormatUint(uint64(p), 10))
	return err
}

func (b *Buffer) WriteUint64(p uint64) error {
	_, err := b.WriteString(strconv.FormatUint(p, 10))
	return err
}

// Bytes returns a copy of the content (nil when empty, like the SDK).
func (b *Buffer) Bytes() []byte {
	var out []byte
	b.edit(func() {
		if len(b.data) > 0 {
			out = append([]byte(nil), b.data...)
		}
	})
	return out
}

func (b *Buffer) Drain(offset int) {
	if offset <= 0 {
		return
	}
	b.edit(func() {
		if offset > len(b.data) {
			offset = len(b.data)
		}
		b.data = append([]byte(nil), b.data[offset:]...)
	})
}

func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.data)
}

func (b *Buffer) Reset() { b.Drain(b.Len()) }

func (b *Buffer) String() string { return string(b.Bytes()) }

func (b *Buffer) Append(data []byte) error {
	_, err := b.Write(data)
	return err
}

func (b *Buffer) AppendString(s string) error {
	_, err := b.WriteString(s)
	return err
}

func (b *Buffer) Prepend(data []byte) error {
	b.edit(func() { b.data = append(append([]byte(nil), data...), b.data...) })
	return nil
}

func (b *Buffer) PrependString(s string) error { return b.Prepend([]byte(s)) }

func (b *Buffer) Set(data []byte) error {
	b.edit(func() { b.data = append([]byte(nil), data...) })
	return nil
}

func (b *Buffer) SetString(s string) error { return b.Set([]byte(s)) }

// take returns the content without the phase check (Envoy moving data on).
func (b *Buffer) take() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.data
}
