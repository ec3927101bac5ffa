package codec

// Pair is one header entry. Start/End locate the encoded entry in the frame's bytes so an encoder
// can copy untouched entries verbatim; both are -1 for entries added or changed by Set.
type Pair struct {
	Key, Value string
	Start, End int
}

// Pairs is a small ordered header map backed by a slice: requests carry a handful of headers, so a
// linear scan beats hashing and costs one allocation instead of a map's several.
type Pairs struct {
	list    []Pair
	changed bool
}

// Add appends an entry as decoded from the wire (no change tracking).
func (p *Pairs) Add(key, value string, start, end int) {
	p.list = append(p.list, Pair{Key: key, Value: value, Start: start, End: end})
}

// Use makes p append into buf (typically an array inside the frame), saving an allocation.
func (p *Pairs) Use(buf []Pair) { p.list = buf[:0] }

func (p *Pairs) Get(key string) (string, bool) {
	for i := range p.list {
		if p.list[i].Key == key {
			return p.list[i].Value, true
		}
	}
	return "", false
}

// Set replaces the first entry with key (duplicates on the wire keep their first value) or appends one.
func (p *Pairs) Set(key, value string) {
	p.changed = true
	for i := range p.list {
		if p.list[i].Key == key {
			p.list[i] = Pair{Key: key, Value: value, Start: -1, End: -1}
			return
		}
	}
	p.list = append(p.list, Pair{Key: key, Value: value, Start: -1, End: -1})
}

func (p *Pairs) Range(fn func(key, value string) bool) {
	for i := range p.list {
		if !fn(p.list[i].Key, p.list[i].Value) {
			return
		}
	}
}

func (p *Pairs) Len() int { return len(p.list) }

// Changed reports whether Set was called since decoding.
func (p *Pairs) Changed() bool { return p.changed }

// List exposes the entries in order, for encoders.
func (p *Pairs) List() []Pair { return p.list }
