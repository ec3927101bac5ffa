package jwtauth

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
)

// verified is a token whose signature and consumer claim were checked; its time claims are checked
// again on every use.
type verified struct {
	std    jwt.Claims
	claims map[string]any // shared: copied before it is handed to a request
	name   string
	// useless is when the token can no longer pass (exp + clock skew); zero without exp.
	useless time.Time
}

// tokenCache remembers verified tokens by SHA-256 of the token, bounded to size entries. Only tokens
// that passed verification are stored, so garbage tokens cannot fill it.
type tokenCache struct {
	shards   [16]cacheShard
	shardCap int
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[[sha256.Size]byte]*verified
}

// cacheSample is how many entries an insertion into a full shard looks at (map order is random).
const cacheSample = 8

func newTokenCache(size int) *tokenCache {
	c := &tokenCache{shardCap: max(1, size/16)}
	for i := range c.shards {
		c.shards[i].m = make(map[[sha256.Size]byte]*verified)
	}
	return c
}

func (c *tokenCache) shard(d *[sha256.Size]byte) *cacheShard { return &c.shards[d[0]&15] }

func (c *tokenCache) get(d [sha256.Size]byte) *verified {
	s := c.shard(&d)
	s.mu.RLock()
	v := s.m[d]
	s.mu.RUnlock()
	return v
}

// put stores v; a full shard first drops the expired entries of a random sample, or else one entry
// of the sample.
func (c *tokenCache) put(d [sha256.Size]byte, v *verified, now time.Time) {
	s := c.shard(&d)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[d]; !ok && len(s.m) >= c.shardCap {
		var victim [sha256.Size]byte
		seen, dropped := 0, 0
		for k, e := range s.m {
			if !e.useless.IsZero() && now.After(e.useless) {
				delete(s.m, k)
				dropped++
			} else {
				victim = k
			}
			if seen++; seen >= cacheSample {
				break
			}
		}
		if dropped == 0 {
			delete(s.m, victim)
		}
	}
	s.m[d] = v
}

func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
