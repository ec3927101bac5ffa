package jwtauth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	_ "github.com/govoy/govoy/filters/http/consumerrestriction"
	"github.com/govoy/govoy/filters/http/consumers/consumertest"
	"github.com/govoy/govoy/filters/http/jwtauth"
	_ "github.com/govoy/govoy/filters/http/keyauth"
	"github.com/govoy/govoy/filters/mockhost"
	"github.com/govoy/govoy/filters/plugin"
)

// now is the verification time of every config these tests parse.
var now = time.Unix(1_800_000_000, 0)

func TestMain(m *testing.M) {
	restore := jwtauth.SetNowForTest(func() time.Time { return now })
	code := m.Run()
	restore()
	os.Exit(code)
}

// keys are real keys generated once per test binary (RSA generation is slow).
type keySet struct {
	rsa, rsaOther *rsa.PrivateKey
	ec            *ecdsa.PrivateKey
	hmac          []byte
}

var (
	keysOnce sync.Once
	testKeys keySet
)

func keys(t *testing.T) keySet {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if testKeys.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if testKeys.rsaOther, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if testKeys.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		testKeys.hmac = make([]byte, 32)
		rand.Read(testKeys.hmac)
	})
	return testKeys
}

func jwksJSON(t *testing.T, ks ...jose.JSONWebKey) string {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: ks})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// publicJWKS holds the RSA ("rsa-1"), EC ("ec-1") and HMAC ("hs-1") verification keys.
func publicJWKS(t *testing.T) string {
	k := keys(t)
	return jwksJSON(t,
		jose.JSONWebKey{Key: &k.rsa.PublicKey, KeyID: "rsa-1", Use: "sig", Algorithm: "RS256"},
		jose.JSONWebKey{Key: &k.ec.PublicKey, KeyID: "ec-1", Use: "sig"},
		jose.JSONWebKey{Key: k.hmac, KeyID: "hs-1"},
	)
}

func sign(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	opts.WithType("JWT")
	if kid != "" {
		opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// claims returns valid claims for consumer sub, modified by edit.
func claims(sub string, edit func(m map[string]any)) map[string]any {
	m := map[string]any{
		"iss": "https://idp.test", "aud": []string{"shop"}, "sub": sub,
		"exp": now.Add(time.Hour).Unix(), "iat": now.Add(-time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(),
	}
	if edit != nil {
		edit(m)
	}
	return m
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

type env struct {
	host *mockhost.Host
	cfg  any
}

func setup(t *testing.T, config map[string]any) env {
	t.Helper()
	host := mockhost.New(plugin.FilterFactory, plugin.ConfigParser)
	cfg, err := parse(host, config)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return env{host, cfg}
}

func parse(host *mockhost.Host, config map[string]any) (any, error) {
	chain := map[string]any{"plugins": []any{
		map[string]any{"name": "jwt_auth", "config": config},
		map[string]any{"name": consumertest.Name},
	}}
	b, err := json.Marshal(chain)
	if err != nil {
		return nil, err
	}
	a, err := plugin.ChainTypedStruct(string(b))
	if err != nil {
		return nil, err
	}
	return host.ParseFilterConfig(a)
}

func baseConfig(t *testing.T, edit func(m map[string]any)) map[string]any {
	m := map[string]any{
		"issuer": "https://idp.test", "audiences": []string{"shop", "admin"},
		"jwks": publicJWKS(t), "algorithms": []string{"RS256", "ES256", "HS256"},
	}
	if edit != nil {
		edit(m)
	}
	return m
}

func (e env) bearer(t *testing.T, token string) *mockhost.Result {
	t.Helper()
	return e.host.Do(t, e.cfg, mockhost.Request{Headers: map[string][]string{"Authorization": {"Bearer " + token}}}, nil)
}

func wantOK(t *testing.T, res *mockhost.Result, consumer string) {
	t.Helper()
	if res.Status != 200 || res.Upstream == nil {
		t.Fatalf("status %d (%s, body %q), want 200", res.Status, res.ResponseCodeDetails, res.Body)
	}
	if got := res.Upstream.Headers.Get(consumertest.ConsumerHeader); got != consumer {
		t.Fatalf("consumer %q, want %q", got, consumer)
	}
}

func wantRejected(t *testing.T, res *mockhost.Result, reason string) {
	t.Helper()
	if res.Status != 401 || res.Upstream != nil {
		t.Fatalf("status %d (upstream reached: %v), want 401 %s", res.Status, res.Upstream != nil, reason)
	}
	if res.ResponseCodeDetails != "govoy.jwt_auth."+reason || string(res.Body) != "jwt: "+reason+"\n" {
		t.Fatalf("details %q body %q, want reason %s", res.ResponseCodeDetails, res.Body, reason)
	}
	if got := res.Headers.Get("www-authenticate"); got != `Bearer realm="govoy", error="invalid_token"` {
		t.Fatalf("WWW-Authenticate %q", got)
	}
}

func TestValidTokensOfEachAlgorithm(t *testing.T) {
	k := keys(t)
	e := setup(t, baseConfig(t, nil))
	wantOK(t, e.bearer(t, sign(t, jose.RS256, k.rsa, "rsa-1", claims("alice", nil))), "alice")
	wantOK(t, e.bearer(t, sign(t, jose.ES256, k.ec, "ec-1", claims("bob", nil))), "bob")
	wantOK(t, e.bearer(t, sign(t, jose.HS256, k.hmac, "hs-1", claims("carol", nil))), "carol")
	// Without kid, the keys bound to the token's algorithm are tried.
	wantOK(t, e.bearer(t, sign(t, jose.RS256, k.rsa, "", claims("dave", nil))), "dave")
	// "aud" as a single string, one of the accepted audiences.
	wantOK(t, e.bearer(t, sign(t, jose.ES256, k.ec, "", claims("erin", func(m map[string]any) { m["aud"] = "admin" }))), "erin")
	// The scheme is case-insensitive (RFC 7235).
	res := e.host.Do(t, e.cfg, mockhost.Request{Headers: map[string][]string{"authorization": {"bearer " + sign(t, jose.RS256, k.rsa, "rsa-1", claims("frank", nil))}}}, nil)
	wantOK(t, res, "frank")
	if res.Upstream.Headers.Get("authorization") == "" {
		t.Fatal("token removed although hide_credentials is off")
	}
	if got := e.host.Counter("jwt_auth.authenticated"); got != 6 {
		t.Fatalf("authenticated counter %d, want 6", got)
	}
}

func TestMissingToken(t *testing.T) {
	e := setup(t, baseConfig(t, nil))
	for _, h := range []map[string][]string{nil, {"authorization": {"Basic YWxpY2U6c2VjcmV0"}}, {"authorization": {"Bearer "}}} {
		res := e.host.Do(t, e.cfg, mockhost.Request{Headers: h}, nil)
		if res.Status != 401 || res.ResponseCodeDetails != "govoy.jwt_auth.missing" {
			t.Fatalf("headers %v: %d %s", h, res.Status, res.ResponseCodeDetails)
		}
		if got := res.Headers.Get("www-authenticate"); got != `Bearer realm="govoy"` {
			t.Fatalf("WWW-Authenticate %q", got)
		}
	}
	if got := e.host.Counter("jwt_auth.missing"); got != 3 {
		t.Fatalf("missing counter %d", got)
	}
}

func TestForgedAndInvalidTokens(t *testing.T) {
	k := keys(t)
	e := setup(t, baseConfig(t, nil))
	valid := sign(t, jose.RS256, k.rsa, "rsa-1", claims("alice", nil))
	parts := strings.Split(valid, ".")

	pubDER, err := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	hsWith := func(secret []byte, kid string) string {
		header := `{"alg":"HS256","typ":"JWT"`
		if kid != "" {
			header += `,"kid":"` + kid + `"`
		}
		signing := b64(header+"}") + "." + parts[1]
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(signing))
		return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	}
	adminPayload := b64(`{"iss":"https://idp.test","aud":"shop","sub":"admin","exp":` + jsonNum(now.Add(time.Hour).Unix()) + `}`)

	cases := []struct {
		name, token, reason string
	}{
		{"alg none", b64(`{"alg":"none","typ":"JWT"}`) + "." + parts[1] + ".", "malformed"},
		{"alg none with the original signature", b64(`{"alg":"none"}`) + "." + parts[1] + "." + parts[2], "malformed"},
		{"HS256 with the RSA public key PEM as secret, RSA kid", hsWith(pubPEM, "rsa-1"), "unknown_key"},
		{"HS256 with the RSA public key PEM as secret, no kid", hsWith(pubPEM, ""), "bad_signature"},
		{"HS256 with the RSA public key DER as secret", hsWith(pubDER, ""), "bad_signature"},
		{"HS256 with the RSA modulus as secret", hsWith(k.rsa.PublicKey.N.Bytes(), ""), "bad_signature"},
		{"tampered payload", parts[0] + "." + adminPayload + "." + parts[2], "bad_signature"},
		{"tampered signature", parts[0] + "." + parts[1] + "." + flip(parts[2]), "bad_signature"},
		{"signed by an unknown RSA key with a known kid", sign(t, jose.RS256, k.rsaOther, "rsa-1", claims("alice", nil)), "bad_signature"},
		{"unknown kid", sign(t, jose.RS256, k.rsaOther, "rsa-9", claims("alice", nil)), "unknown_key"},
		{"RS256 token naming the EC key", sign(t, jose.RS256, k.rsa, "ec-1", claims("alice", nil)), "unknown_key"},
		{"algorithm not allowed at all (PS256)", sign(t, jose.PS256, k.rsa, "rsa-1", claims("alice", nil)), "malformed"},
		{"not a JWT", "abc.def", "malformed"},
		{"JWE-looking token", "a.b.c.d.e", "malformed"},
		{"too large", strings.Repeat("a", 9000), "too_large"},
		{"expired", sign(t, jose.RS256, k.rsa, "rsa-1", claims("alice", func(m map[string]any) { m["exp"] = now.Add(-2 * time.Minute).Unix() })), "expired"},
		{"missing exp", sign(t, jose.RS256, k.rsa, "rsa-1", claims("alice", func(m map[string]any) { delete(m, "exp") })), "missing_exp"},
		{"nbf in the future", sign(t, jose.RS256, k.rsa, "rsa-1", claims("alice", func(m map[string]any) { m["nbf"] = now.Add(5 * time.Minute).Unix() })), "not_yet_valid"},
		{"iat in the future", sign(t, jose.RS256, k.rsa, "rsa-1", claims("alice", func(m map[string]any) { m["iat"] = now.Add(5 * time.Minute).Unix(); delete(m, "nbf") })), "issued_in_future"},
		{"wrong issuer", sign(t, jose.RS256, k.rsa, "rsa-1", claims("alice", func(m map[string]any) { m["iss"] = "https://evil.test" })), "bad_issuer"},
		{"no issuer", sign(t, jose.RS256, k.rsa, "rsa-1", claims("alice", func(m map[string]any) { delete(m, "iss") })), "bad_issuer"},
		{"wrong audience", sign(t, jose.RS256, k.rsa, "rsa-1", claims("alice", func(m map[string]any) { m["aud"] = []string{"billing"} })), "bad_audience"},
		{"no audience", sign(t, jose.RS256, k.rsa, "rsa-1", claims("alice", func(m map[string]any) { delete(m, "aud") })), "bad_audience"},
		{"no sub", sign(t, jose.RS256, k.rsa, "rsa-1", claims("alice", func(m map[string]any) { delete(m, "sub") })), "missing_consumer_claim"},
		{"empty sub", sign(t, jose.HS256, k.hmac, "hs-1", claims("", nil)), "missing_consumer_claim"},
		{"sub with a line break", sign(t, jose.HS256, k.hmac, "hs-1", claims("alice\r\nx-admin: 1", nil)), "missing_consumer_claim"},
		{"sub too long", sign(t, jose.HS256, k.hmac, "hs-1", claims(strings.Repeat("a", 257), nil)), "missing_consumer_claim"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := e.bearer(t, tc.token)
			wantRejected(t, res, tc.reason)
			// No key material or token content in what the client gets.
			for _, secret := range []string{string(pubPEM), base64.RawURLEncoding.EncodeToString(k.hmac), parts[1]} {
				if strings.Contains(string(res.Body), secret) {
					t.Fatal("answer leaks key or token material")
				}
			}
		})
	}
	if got := e.host.Counter("jwt_auth.rejected.bad_signature"); got != 6 {
		t.Fatalf("rejected.bad_signature %d, want 6", got)
	}
}

// With only RS256 allowed, an HS256 token signed with the RSA public key never reaches any HMAC
// verification, whatever it names as kid.
func TestAlgorithmConfusionWithRS256Only(t *testing.T) {
	k := keys(t)
	e := setup(t, baseConfig(t, func(m map[string]any) { m["algorithms"] = []string{"RS256"} }))
	pubDER, _ := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	wantRejected(t, e.bearer(t, sign(t, jose.HS256, pubPEM, "rsa-1", claims("alice", nil))), "malformed")
	wantRejected(t, e.bearer(t, sign(t, jose.HS256, k.hmac, "hs-1", claims("alice", nil))), "malformed")
	wantRejected(t, e.bearer(t, sign(t, jose.ES256, k.ec, "ec-1", claims("alice", nil))), "malformed")
	wantOK(t, e.bearer(t, sign(t, jose.RS256, k.rsa, "rsa-1", claims("alice", nil))), "alice")
}

func TestClockSkew(t *testing.T) {
	k := keys(t)
	justExpired := sign(t, jose.ES256, k.ec, "ec-1", claims("alice", func(m map[string]any) { m["exp"] = now.Add(-30 * time.Second).Unix() }))
	soonValid := sign(t, jose.ES256, k.ec, "ec-1", claims("alice", func(m map[string]any) { m["nbf"] = now.Add(30 * time.Second).Unix() }))

	lenient := setup(t, baseConfig(t, nil)) // default 60s
	wantOK(t, lenient.bearer(t, justExpired), "alice")
	wantOK(t, lenient.bearer(t, soonValid), "alice")

	strict := setup(t, baseConfig(t, func(m map[string]any) { m["clock_skew"] = "0s" }))
	wantRejected(t, strict.bearer(t, justExpired), "expired")
	wantRejected(t, strict.bearer(t, soonValid), "not_yet_valid")
}

func TestOptionalChecksAndCustomClaim(t *testing.T) {
	k := keys(t)
	e := setup(t, baseConfig(t, func(m map[string]any) {
		delete(m, "issuer")
		delete(m, "audiences")
		m["allow_missing_exp"] = true
		m["consumer_claim"] = "client_id"
	}))
	tok := sign(t, jose.HS256, k.hmac, "hs-1", map[string]any{"client_id": "svc-a", "iss": "anyone"})
	wantOK(t, e.bearer(t, tok), "svc-a")
	wantRejected(t, e.bearer(t, sign(t, jose.HS256, k.hmac, "hs-1", map[string]any{"client_id": 42})), "missing_consumer_claim")
	// exp, when present, is still enforced.
	wantRejected(t, e.bearer(t, sign(t, jose.HS256, k.hmac, "hs-1", map[string]any{"client_id": "svc-a", "exp": now.Add(-time.Hour).Unix()})), "expired")
}

func TestTokenSourcesAndHideCredentials(t *testing.T) {
	k := keys(t)
	e := setup(t, baseConfig(t, func(m map[string]any) {
		m["from_headers"] = []any{map[string]any{"name": "X-Token"}}
		m["from_params"] = []string{"access_token"}
		m["hide_credentials"] = true
	}))
	tok := sign(t, jose.RS256, k.rsa, "rsa-1", claims("alice", nil))

	res := e.host.Do(t, e.cfg, mockhost.Request{Headers: map[string][]string{"x-token": {tok}}}, nil)
	wantOK(t, res, "alice")
	if _, ok := res.Upstream.Headers["x-token"]; ok {
		t.Fatal("token header reached the upstream")
	}

	res = e.host.Do(t, e.cfg, mockhost.Request{Path: "/orders?access_token=" + tok + "&page=2"}, nil)
	wantOK(t, res, "alice")
	if res.Upstream.Path != "/orders?page=2" {
		t.Fatalf("upstream path %q", res.Upstream.Path)
	}

	// Authorization is not a source once from_headers is configured.
	res = e.bearer(t, tok)
	if res.Status != 401 || res.ResponseCodeDetails != "govoy.jwt_auth.missing" {
		t.Fatalf("Authorization used although not configured: %d %s", res.Status, res.ResponseCodeDetails)
	}
}

func TestCachedTokensThroughTheChain(t *testing.T) {
	k := keys(t)
	e := setup(t, baseConfig(t, func(m map[string]any) { m["cache_size"] = 100 }))
	tok := sign(t, jose.RS256, k.rsa, "rsa-1", claims("alice", func(m map[string]any) { m["exp"] = now.Add(time.Minute).Unix() }))
	for range 3 {
		wantOK(t, e.bearer(t, tok), "alice")
	}
	saved := now
	now = now.Add(3 * time.Minute) // past exp + 60s skew
	defer func() { now = saved }()
	wantRejected(t, e.bearer(t, tok), "expired")
}

// key_auth and jwt_auth in one chain: both credentials are required, the JWT's consumer is kept.
func TestWithKeyAuth(t *testing.T) {
	k := keys(t)
	host := mockhost.New(plugin.FilterFactory, plugin.ConfigParser)
	b, _ := json.Marshal(map[string]any{"plugins": []any{
		map[string]any{"name": "jwt_auth", "config": baseConfig(t, nil)},
		map[string]any{"name": "key_auth", "config": map[string]any{"consumers": []any{
			map[string]any{"name": "app", "keys": []string{"app-key-0123456789abc"}}}}},
		map[string]any{"name": consumertest.Name},
	}})
	a, err := plugin.ChainTypedStruct(string(b))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := host.ParseFilterConfig(a)
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, jose.ES256, k.ec, "ec-1", claims("alice", nil))
	both := map[string][]string{"authorization": {"Bearer " + tok}, "x-api-key": {"app-key-0123456789abc"}}
	wantOK(t, host.Do(t, cfg, mockhost.Request{Headers: both}, nil), "alice")
	if res := host.Do(t, cfg, mockhost.Request{Headers: map[string][]string{"x-api-key": {"app-key-0123456789abc"}}}, nil); res.Status != 401 || res.ResponseCodeDetails != "govoy.jwt_auth.missing" {
		t.Fatalf("key only: %d %s", res.Status, res.ResponseCodeDetails)
	}
	if res := host.Do(t, cfg, mockhost.Request{Headers: map[string][]string{"authorization": {"Bearer " + tok}}}, nil); res.Status != 401 || res.ResponseCodeDetails != "govoy.key_auth.missing" {
		t.Fatalf("JWT only: %d %s", res.Status, res.ResponseCodeDetails)
	}
}

func TestJWKSFile(t *testing.T) {
	k := keys(t)
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, []byte(publicJWKS(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	e := setup(t, baseConfig(t, func(m map[string]any) { delete(m, "jwks"); m["jwks_file"] = path }))
	wantOK(t, e.bearer(t, sign(t, jose.ES256, k.ec, "ec-1", claims("alice", nil))), "alice")
}

func TestClaimsInPluginState(t *testing.T) {
	k := keys(t)
	e := setup(t, baseConfig(t, nil))
	res := e.bearer(t, sign(t, jose.RS256, k.rsa, "rsa-1", claims("alice", func(m map[string]any) { m["scope"] = "orders:read" })))
	wantOK(t, res, "alice")
	var state map[string]map[string]any
	if err := json.Unmarshal([]byte(res.Upstream.Headers.Get(consumertest.StateHeader)), &state); err != nil {
		t.Fatal(err)
	}
	if got := state[jwtauth.ClaimsState]["scope"]; got != "orders:read" {
		t.Fatalf("claims in plugin state: %v", state)
	}
}

func TestBadConfigs(t *testing.T) {
	k := keys(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	with := func(edit func(m map[string]any)) map[string]any { return baseConfig(t, edit) }
	cases := []struct {
		name   string
		config map[string]any
		want   string
	}{
		{"no JWKS", with(func(m map[string]any) { delete(m, "jwks") }), "JwksSource"},
		{"JWKS not JSON", with(func(m map[string]any) { m["jwks"] = "{nope" }), "Jwks"},
		{"empty key set", with(func(m map[string]any) { m["jwks"] = `{"keys":[]}` }), "Jwks: no keys"},
		{"missing JWKS file", with(func(m map[string]any) { delete(m, "jwks"); m["jwks_file"] = "/nonexistent/jwks.json" }), "JwksFile"},
		{"no algorithms", with(func(m map[string]any) { delete(m, "algorithms") }), "Algorithms"},
		{"unknown algorithm", with(func(m map[string]any) { m["algorithms"] = []string{"none"} }), "algorithms"},
		{"unspecified algorithm", with(func(m map[string]any) { m["algorithms"] = []string{"ALGORITHM_UNSPECIFIED"} }), "Algorithms[0]"},
		{"private key", with(func(m map[string]any) { m["jwks"] = jwksJSON(t, jose.JSONWebKey{Key: k.rsa, KeyID: "p"}) }), "private key"},
		{"weak RSA key", with(func(m map[string]any) { m["jwks"] = jwksJSON(t, jose.JSONWebKey{Key: &small.PublicKey, KeyID: "s"}) }), "1024 bits"},
		{"short HMAC key", with(func(m map[string]any) {
			m["jwks"] = jwksJSON(t, jose.JSONWebKey{Key: []byte("0123456789abcdef"), KeyID: "h"})
		}), "16 bytes"},
		{"P-384 key", with(func(m map[string]any) { m["jwks"] = jwksJSON(t, jose.JSONWebKey{Key: &p384.PublicKey, KeyID: "e"}) }), "P-384"},
		{"RSA key labelled HS256", with(func(m map[string]any) {
			m["jwks"] = jwksJSON(t, jose.JSONWebKey{Key: &k.rsa.PublicKey, KeyID: "r", Algorithm: "HS256"})
		}), "does not fit"},
		{"encryption key", with(func(m map[string]any) {
			m["jwks"] = jwksJSON(t, jose.JSONWebKey{Key: &k.rsa.PublicKey, KeyID: "r", Use: "enc"})
		}), "use"},
		{"duplicate kid", with(func(m map[string]any) {
			m["jwks"] = jwksJSON(t, jose.JSONWebKey{Key: &k.rsa.PublicKey, KeyID: "x"}, jose.JSONWebKey{Key: &k.ec.PublicKey, KeyID: "x"})
		}), "kid"},
		{"no key for the allowed algorithms", with(func(m map[string]any) {
			m["algorithms"] = []string{"ES256"}
			m["jwks"] = jwksJSON(t, jose.JSONWebKey{Key: &k.rsa.PublicKey, KeyID: "r"})
		}), "no key fits"},
		{"cache too large", with(func(m map[string]any) { m["cache_size"] = 1000000 }), "CacheSize"},
		{"clock skew too large", with(func(m map[string]any) { m["clock_skew"] = "3600s" }), "ClockSkew"},
		{"bad header name", with(func(m map[string]any) { m["from_headers"] = []any{map[string]any{"name": "x token"}} }), "Name"},
		{"bad query name", with(func(m map[string]any) { m["from_params"] = []string{"a=b"} }), "FromParams[0]"},
		{"bad consumer claim", with(func(m map[string]any) { m["consumer_claim"] = "a b" }), "ConsumerClaim"},
		{"typo", with(func(m map[string]any) { m["audience"] = "shop" }), "audience"},
	}
	for _, tc := range cases {
		_, err := parse(mockhost.New(plugin.FilterFactory, plugin.ConfigParser), tc.config)
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		t.Logf("%s -> %v", tc.name, err)
		if !strings.Contains(err.Error(), `"jwt_auth"`) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q does not name the plugin and %q", tc.name, err, tc.want)
		}
		if strings.Contains(err.Error(), base64.RawURLEncoding.EncodeToString(k.rsa.D.Bytes())) {
			t.Errorf("%s: error leaks the private key", tc.name)
		}
	}
}

func jsonNum(v int64) string { b, _ := json.Marshal(v); return string(b) }

// flip changes the first character of a base64url string to another valid one.
func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

func TestReadmeExample(t *testing.T) {
	k := keys(t)
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, []byte(publicJWKS(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	chain := strings.Replace(consumertest.ReadmeChain(t, "README.md"), "/etc/envoy/jwks.json", path, 1)
	host := mockhost.New(plugin.FilterFactory, plugin.ConfigParser)
	a, err := plugin.ChainTypedStruct(chain)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := host.ParseFilterConfig(a)
	if err != nil {
		t.Fatalf("README example: %v", err)
	}
	tok := sign(t, jose.ES256, k.ec, "ec-1", map[string]any{
		"iss": "https://idp.example.test", "aud": "shop", "client_id": "web-shop", "exp": now.Add(time.Hour).Unix(),
	})
	res := host.Do(t, cfg, mockhost.Request{Headers: map[string][]string{"authorization": {"Bearer " + tok}}}, nil)
	if res.Status != 200 || res.Upstream.Headers.Get("authorization") != "" {
		t.Fatalf("README example: %d (token hidden: %v)", res.Status, res.Upstream != nil && res.Upstream.Headers.Get("authorization") == "")
	}
	tok = sign(t, jose.ES256, k.ec, "ec-1", map[string]any{
		"iss": "https://idp.example.test", "aud": "shop", "client_id": "retired-client", "exp": now.Add(time.Hour).Unix(),
	})
	if res := host.Do(t, cfg, mockhost.Request{Headers: map[string][]string{"authorization": {"Bearer " + tok}}}, nil); res.Status != 403 {
		t.Fatalf("README example, denied consumer: %d", res.Status)
	}
}
