package jwtauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	jose "github.com/go-jose/go-jose/v4"
)

const (
	maxJWKSBytes   = 256 << 10
	minRSABits     = 2048
	minHMACKeySize = 32 // RFC 7518 §3.2: an HS256 key must be at least as long as the hash
)

// verifyKey is one JWKS key bound to the single algorithm its type fits. Binding the algorithm to
// the key at parse time is what stops algorithm confusion: a token's "alg" only ever selects keys
// bound to that algorithm, so an RSA public key can never be handed to HMAC verification.
type verifyKey struct {
	kid string
	alg jose.SignatureAlgorithm
	key any // *rsa.PublicKey, *ecdsa.PublicKey or []byte
}

// readJWKS returns the JWKS JSON from the inline value or the local file (read once at parse time,
// bounded; documented in the README).
func readJWKS(c *Config) ([]byte, error) {
	if c.GetJwksFile() == "" {
		return []byte(c.GetJwks()), nil
	}
	f, err := os.Open(c.GetJwksFile())
	if err != nil {
		return nil, fmt.Errorf("invalid Config.JwksFile: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("invalid Config.JwksFile: read %s: %w", c.GetJwksFile(), err)
	}
	if len(b) > maxJWKSBytes {
		return nil, fmt.Errorf("invalid Config.JwksFile: %s is larger than %d bytes", c.GetJwksFile(), maxJWKSBytes)
	}
	return b, nil
}

// parseKeys decodes a JWKS and keeps the keys usable with one of the allowed algorithms. Anything
// doubtful (private keys, weak keys, unsupported types, "alg" contradicting the key type, duplicate
// kid) is a config error rather than a silently ignored key. field names the config field in errors.
func parseKeys(raw []byte, allowed map[jose.SignatureAlgorithm]bool, field string) ([]verifyKey, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("invalid Config.%s: not a JSON Web Key Set: %w", field, err)
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("invalid Config.%s: no keys", field)
	}
	var out []verifyKey
	kids := map[string]int{}
	for i := range set.Keys {
		k := &set.Keys[i]
		where := fmt.Sprintf("invalid Config.%s: keys[%d]", field, i)
		if k.KeyID != "" {
			if j, dup := kids[k.KeyID]; dup {
				return nil, fmt.Errorf("%s: kid %q is already used by keys[%d]", where, k.KeyID, j)
			}
			kids[k.KeyID] = i
		}
		if k.Use != "" && k.Use != "sig" {
			return nil, fmt.Errorf("%s: use is %q, want \"sig\"", where, k.Use)
		}
		alg, err := algFor(k)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if k.Algorithm != "" && k.Algorithm != string(alg) {
			return nil, fmt.Errorf("%s: alg %q does not fit the key type (want %s)", where, k.Algorithm, alg)
		}
		if !allowed[alg] {
			continue // e.g. an EC key in a shared JWKS while only RS256 is allowed
		}
		out = append(out, verifyKey{kid: k.KeyID, alg: alg, key: k.Key})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("invalid Config.%s: no key fits the allowed algorithms", field)
	}
	return out, nil
}

// algFor is the one algorithm a key may verify.
func algFor(k *jose.JSONWebKey) (jose.SignatureAlgorithm, error) {
	switch key := k.Key.(type) {
	case *rsa.PublicKey:
		if key.N.BitLen() < minRSABits {
			return "", fmt.Errorf("RSA key has %d bits, want at least %d", key.N.BitLen(), minRSABits)
		}
		return jose.RS256, nil
	case *ecdsa.PublicKey:
		if key.Curve != elliptic.P256() {
			return "", fmt.Errorf("EC curve %s is not supported (ES256 needs P-256)", key.Curve.Params().Name)
		}
		return jose.ES256, nil
	case []byte:
		if len(key) < minHMACKeySize {
			return "", fmt.Errorf("oct key has %d bytes, want at least %d for HS256", len(key), minHMACKeySize)
		}
		return jose.HS256, nil
	case *rsa.PrivateKey, *ecdsa.PrivateKey:
		return "", errors.New("private key in the JWKS: give the public key only")
	default:
		return "", fmt.Errorf("key type %T is not supported (RSA, EC P-256 or oct)", k.Key)
	}
}
