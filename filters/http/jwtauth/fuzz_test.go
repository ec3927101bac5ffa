package jwtauth

import (
	"maps"
	"testing"
	"time"
)

// Whatever the bytes, verify never panics, and anything it accepts carries exactly the claims that
// were signed (JWS base64 may have equivalent spellings; the signed content may not change).
func FuzzVerify(f *testing.F) {
	clock := time.Unix(1_900_000_000, 0)
	cfg, key := hsConfig(f, 0, &clock)
	signed := map[string]any{"sub": "alice", "exp": float64(clock.Add(time.Hour).Unix())}
	tok := hsToken(f, key, signed)
	f.Add(tok)
	f.Add(tok[:len(tok)-1])
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, raw string) {
		claims, name, reason := cfg.verify(raw)
		if reason != "" {
			return
		}
		if name != "alice" || !maps.Equal(claims, signed) {
			t.Fatalf("accepted %q with claims %v", raw, claims)
		}
	})
}
