package codec

import (
	"fmt"
	"sort"
	"sync"
)

var (
	regMu    sync.RWMutex
	registry = map[string]Codec{}
)

// Register adds a codec under its name. Protocol packages call it from init.
func Register(c Codec) error {
	if c == nil || c.Name() == "" {
		return fmt.Errorf("codec: register: codec and its name must be set")
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[c.Name()]; dup {
		return fmt.Errorf("codec: register %q: already registered", c.Name())
	}
	registry[c.Name()] = c
	return nil
}

// MustRegister is Register for init functions: a duplicate name is a build mistake, found at load.
func MustRegister(c Codec) {
	if err := Register(c); err != nil {
		panic(err)
	}
}

// Lookup returns the codec registered under name.
func Lookup(name string) (Codec, error) {
	regMu.RLock()
	c, ok := registry[name]
	regMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("codec: unknown protocol %q (registered: %v)", name, Names())
	}
	return c, nil
}

// Names lists the registered protocols, sorted.
func Names() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Sniffer picks the protocol of a connection from its first bytes among a configured set.
type Sniffer struct {
	codecs []Codec
}

// NewSniffer builds a sniffer over the named protocols, tried in the order given.
func NewSniffer(names ...string) (*Sniffer, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("codec: sniffer: protocols: at least one protocol is required")
	}
	s := &Sniffer{}
	for _, n := range names {
		c, err := Lookup(n)
		if err != nil {
			return nil, fmt.Errorf("codec: sniffer: protocols: %w", err)
		}
		s.codecs = append(s.codecs, c)
	}
	return s, nil
}

// Sniff returns the first codec that matches prefix. It returns (nil, MatchMore) while some codec
// still needs more bytes and none has matched, and (nil, MatchNo) when none can match.
func (s *Sniffer) Sniff(prefix []byte) (Codec, Match) {
	more := false
	for _, c := range s.codecs {
		switch c.Match(prefix) {
		case MatchYes:
			return c, MatchYes
		case MatchMore:
			more = true
		}
	}
	if more {
		return nil, MatchMore
	}
	return nil, MatchNo
}
