package jwtauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"testing"
	"time"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

type nopCounters struct{}

func (nopCounters) Counter(string) api.CounterMetric { return nopMetric{} }
func (nopCounters) Gauge(string) api.GaugeMetric     { return nopMetric{} }

type nopMetric struct{}

func (nopMetric) Increment(int64) {}
func (nopMetric) Get() uint64     { return 0 }
func (nopMetric) Record(uint64)   {}

// BenchmarkVerify measures the verification of one valid token per algorithm (signature + claims).
func BenchmarkVerify(b *testing.B) {
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	hk := make([]byte, 32)
	rand.Read(hk)
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &rk.PublicKey, KeyID: "r"}, {Key: &ek.PublicKey, KeyID: "e"}, {Key: hk, KeyID: "h"},
	}})
	newCfg := func(cacheSize uint32) *config {
		cfg, err := newConfig(&Config{
			JwksSource: &Config_Jwks{Jwks: string(set)},
			Algorithms: []Config_Algorithm{Config_RS256, Config_ES256, Config_HS256},
			Audiences:  []string{"shop"},
			CacheSize:  cacheSize,
		}, nopCounters{})
		if err != nil {
			b.Fatal(err)
		}
		cfg.now = time.Now // the external tests' TestMain fixes the clock of parsed configs
		return cfg
	}
	cfg, cached := newCfg(0), newCfg(1000)
	claims := map[string]any{"sub": "alice", "aud": "shop", "exp": time.Now().Add(time.Hour).Unix()}
	for _, tc := range []struct {
		alg jose.SignatureAlgorithm
		key any
		kid string
	}{{jose.RS256, rk, "r"}, {jose.ES256, ek, "e"}, {jose.HS256, hk, "h"}} {
		s, _ := jose.NewSigner(jose.SigningKey{Algorithm: tc.alg, Key: tc.key}, (&jose.SignerOptions{}).WithHeader("kid", tc.kid))
		tok, _ := jwt.Signed(s).Claims(claims).Serialize()
		b.Run(string(tc.alg), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, _, reason := cfg.verify(tok); reason != "" {
						b.Fatal(reason)
					}
				}
			})
		})
		b.Run(string(tc.alg)+"/cached", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, _, reason := cached.verify(tok); reason != "" {
						b.Fatal(reason)
					}
				}
			})
		})
	}
}
