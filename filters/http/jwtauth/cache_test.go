package jwtauth

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func hsConfig(t testing.TB, cacheSize uint32, clock *time.Time) (*config, []byte) {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key, KeyID: "h"}}})
	cfg, err := newConfig(&Config{
		JwksSource: &Config_Jwks{Jwks: string(set)},
		Algorithms: []Config_Algorithm{Config_HS256},
		CacheSize:  cacheSize,
	}, nopCounters{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.now = func() time.Time { return *clock }
	return cfg, key
}

func hsToken(t testing.TB, key []byte, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestCacheRechecksTimeAndCopiesClaims(t *testing.T) {
	clock := time.Unix(1_900_000_000, 0)
	cfg, key := hsConfig(t, 100, &clock)
	tok := hsToken(t, key, map[string]any{"sub": "alice", "exp": clock.Add(time.Minute).Unix()})

	claims, name, reason := cfg.verify(tok)
	if reason != "" || name != "alice" || cfg.cache.len() != 1 {
		t.Fatalf("first verify: %q %q, cache %d", name, reason, cfg.cache.len())
	}
	claims["sub"] = "mallory" // a later plugin changing its copy must not affect the cache

	claims, name, reason = cfg.verify(tok)
	if reason != "" || name != "alice" || claims["sub"] != "alice" {
		t.Fatalf("cached verify: %q %q %v", name, reason, claims)
	}
	// The cached token expires like any other.
	clock = clock.Add(2*time.Minute + defaultSkew)
	if _, _, reason := cfg.verify(tok); reason != reasonExpired {
		t.Fatalf("cached token after exp: reason %q, want expired", reason)
	}
	// A token of other bytes is verified in full (and a forged one is not cached).
	if _, _, reason := cfg.verify(tok + "x"); reason != reasonBadSignature {
		t.Fatalf("tampered token: reason %q", reason)
	}
	if cfg.cache.len() != 1 {
		t.Fatalf("cache holds %d tokens, want 1", cfg.cache.len())
	}
}

func TestCacheIsBounded(t *testing.T) {
	clock := time.Unix(1_900_000_000, 0)
	cfg, key := hsConfig(t, 32, &clock)
	for i := range 300 {
		tok := hsToken(t, key, map[string]any{"sub": fmt.Sprint("u", i), "exp": clock.Add(time.Hour).Unix()})
		if _, _, reason := cfg.verify(tok); reason != "" {
			t.Fatal(reason)
		}
	}
	if n := cfg.cache.len(); n > 32 || n < 16 {
		t.Fatalf("cache holds %d tokens, want at most 32 (and it used)", n)
	}
}

func TestNoCacheByDefault(t *testing.T) {
	clock := time.Unix(1_900_000_000, 0)
	cfg, _ := hsConfig(t, 0, &clock)
	if cfg.cache != nil {
		t.Fatal("cache enabled without cache_size")
	}
}
