// Package jwtauth is the "jwt_auth" plugin: a signed JWT (RS256, ES256 or HS256) verified against a
// JWKS, with exp/nbf/iat/iss/aud checks; a configured claim becomes the request's consumer.
package jwtauth

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"google.golang.org/protobuf/proto"

	"github.com/govoy/govoy/filters/http/consumers"
	"github.com/govoy/govoy/filters/plugin"
)

// Name is the plugin name used in chain configs.
const Name = "jwt_auth"

// ClaimsState is the PluginState key under which the verified claims (map[string]any) are stored for
// later plugins.
const ClaimsState = "jwt_auth.claims"

const (
	defaultSkew   = 60 * time.Second
	defaultClaim  = "sub"
	defaultRealm  = "govoy"
	maxTokenBytes = 8 << 10
	maxNameBytes  = 256
)

func init() { plugin.Register(Plugin{}) }

// Plugin is the jwt_auth plugin descriptor.
type Plugin struct{}

func (Plugin) Name() string               { return Name }
func (Plugin) Order() int                 { return plugin.OrderAuthn + 10 }
func (Plugin) ConfigProto() proto.Message { return &Config{} }
func (Plugin) NewFilter(c any, h plugin.Handle) plugin.Filter {
	return &filter{cfg: c.(*config), h: h}
}

// nowOverride, when set (tests only), is the verification clock of every config parsed after.
var nowOverride func() time.Time

type tokenHeader struct {
	name   string
	prefix string
}

// Rejection reasons: the 401 body says "jwt: <reason>", details are govoy.jwt_auth.<reason>, and each
// has a counter "rejected.<reason>".
const (
	reasonMalformed     = "malformed"
	reasonTooLarge      = "too_large"
	reasonUnknownKey    = "unknown_key"
	reasonBadSignature  = "bad_signature"
	reasonExpired       = "expired"
	reasonMissingExp    = "missing_exp"
	reasonNotYetValid   = "not_yet_valid"
	reasonIssuedFuture  = "issued_in_future"
	reasonBadIssuer     = "bad_issuer"
	reasonBadAudience   = "bad_audience"
	reasonNoConsumer    = "missing_consumer_claim"
	reasonInvalidClaims = "invalid_claims"
)

var reasons = []string{
	reasonMalformed, reasonTooLarge, reasonUnknownKey, reasonBadSignature, reasonExpired, reasonMissingExp,
	reasonNotYetValid, reasonIssuedFuture, reasonBadIssuer, reasonBadAudience, reasonNoConsumer, reasonInvalidClaims,
}

type config struct {
	algs      []jose.SignatureAlgorithm
	keys      []verifyKey
	expected  jwt.Expected
	skew      time.Duration
	allowNoEx bool
	headers   []tokenHeader
	params    []string
	claim     string
	hide      bool
	now       func() time.Time
	cache     *tokenCache // nil: no cache

	missingChallenge, invalidChallenge string

	okC, missingC api.CounterMetric
	rejectedC     map[string]api.CounterMetric
}

func (Plugin) Parse(msg proto.Message, pc plugin.ParseContext) (any, error) {
	c, ok := msg.(*Config)
	if !ok {
		return nil, fmt.Errorf("jwt_auth: config is %T, want *jwtauth.Config", msg)
	}
	return newConfig(c, pc)
}

var algNames = map[Config_Algorithm]jose.SignatureAlgorithm{
	Config_RS256: jose.RS256,
	Config_ES256: jose.ES256,
	Config_HS256: jose.HS256,
}

func newConfig(c *Config, pc plugin.ParseContext) (*config, error) {
	if err := c.ValidateAll(); err != nil {
		return nil, err
	}
	cfg := &config{
		skew:      defaultSkew,
		allowNoEx: c.GetAllowMissingExp(),
		params:    c.GetFromParams(),
		claim:     c.GetConsumerClaim(),
		hide:      c.GetHideCredentials(),
		now:       time.Now,
		expected:  jwt.Expected{Issuer: c.GetIssuer(), AnyAudience: c.GetAudiences()},
	}
	if nowOverride != nil {
		cfg.now = nowOverride
	}
	allowed := map[jose.SignatureAlgorithm]bool{}
	for _, a := range c.GetAlgorithms() {
		alg := algNames[a]
		allowed[alg] = true
		cfg.algs = append(cfg.algs, alg)
	}
	field := "Jwks"
	if c.GetJwksFile() != "" {
		field = "JwksFile"
	}
	raw, err := readJWKS(c)
	if err != nil {
		return nil, err
	}
	if cfg.keys, err = parseKeys(raw, allowed, field); err != nil {
		return nil, err
	}
	if n := c.GetCacheSize(); n > 0 {
		cfg.cache = newTokenCache(int(n))
	}
	if c.GetClockSkew() != nil {
		cfg.skew = c.GetClockSkew().AsDuration()
	}
	if cfg.claim == "" {
		cfg.claim = defaultClaim
	}
	for _, h := range c.GetFromHeaders() {
		cfg.headers = append(cfg.headers, tokenHeader{name: strings.ToLower(h.GetName()), prefix: h.GetValuePrefix()})
	}
	if len(cfg.headers) == 0 && len(cfg.params) == 0 {
		cfg.headers = []tokenHeader{{name: "authorization", prefix: "Bearer "}}
	}
	realm := c.GetRealm()
	if realm == "" {
		realm = defaultRealm
	}
	cfg.missingChallenge = consumers.Challenge("Bearer", realm, "")
	cfg.invalidChallenge = consumers.Challenge("Bearer", realm, "invalid_token")
	cfg.okC = pc.Counter("authenticated")
	cfg.missingC = pc.Counter("missing")
	cfg.rejectedC = make(map[string]api.CounterMetric, len(reasons))
	for _, r := range reasons {
		cfg.rejectedC[r] = pc.Counter("rejected." + r)
	}
	return cfg, nil
}

// token finds the JWT: configured headers in order (prefix compared case-insensitively), then
// query parameters.
func (c *config) token(headers api.RequestHeaderMap) (string, consumers.Source, bool) {
	for _, th := range c.headers {
		v, ok := headers.Get(th.name)
		if !ok {
			continue
		}
		if th.prefix != "" {
			if len(v) < len(th.prefix) || !strings.EqualFold(v[:len(th.prefix)], th.prefix) {
				continue
			}
			v = v[len(th.prefix):]
		}
		if v = strings.TrimSpace(v); v != "" {
			return v, consumers.Source{Header: th.name}, true
		}
	}
	for _, p := range c.params {
		if v, ok := consumers.QueryParam(headers.Path(), p); ok && v != "" {
			return v, consumers.Source{Query: p}, true
		}
	}
	return "", consumers.Source{}, false
}

// verify checks the token and returns its claims and the consumer name, or a rejection reason.
func (c *config) verify(raw string) (map[string]any, string, string) {
	if len(raw) > maxTokenBytes {
		return nil, "", reasonTooLarge
	}
	var digest [sha256.Size]byte
	if c.cache != nil {
		digest = sha256.Sum256([]byte(raw))
		if v := c.cache.get(digest); v != nil {
			if reason := c.checkClaims(&v.std); reason != "" {
				return nil, "", reason
			}
			return maps.Clone(v.claims), v.name, ""
		}
	}
	// ParseSigned only accepts the configured algorithms, so "none" and anything else never reach
	// key selection.
	tok, err := jwt.ParseSigned(raw, c.algs)
	if err != nil || len(tok.Headers) != 1 {
		return nil, "", reasonMalformed
	}
	hdr := tok.Headers[0]
	alg := jose.SignatureAlgorithm(hdr.Algorithm)
	var (
		std     jwt.Claims
		all     map[string]any
		matched bool
		tried   bool
	)
	for i := range c.keys {
		k := &c.keys[i]
		if k.alg != alg || (hdr.KeyID != "" && k.kid != hdr.KeyID) {
			continue
		}
		tried = true
		std, all = jwt.Claims{}, nil
		if err := tok.Claims(k.key, &std, &all); err == nil {
			matched = true
			break
		}
	}
	switch {
	case !tried:
		return nil, "", reasonUnknownKey
	case !matched:
		return nil, "", reasonBadSignature
	}
	if reason := c.checkClaims(&std); reason != "" {
		return nil, "", reason
	}
	name, ok := all[c.claim].(string)
	if !ok || !usableName(name) {
		return nil, "", reasonNoConsumer
	}
	if c.cache != nil {
		v := &verified{std: std, claims: all, name: name}
		if std.Expiry != nil {
			v.useless = std.Expiry.Time().Add(c.skew)
		}
		c.cache.put(digest, v, c.now())
		all = maps.Clone(all)
	}
	return all, name, ""
}

// checkClaims checks exp presence, exp/nbf/iat against the clock, iss and aud.
func (c *config) checkClaims(std *jwt.Claims) string {
	if std.Expiry == nil && !c.allowNoEx {
		return reasonMissingExp
	}
	if err := std.ValidateWithLeeway(c.expected.WithTime(c.now()), c.skew); err != nil {
		return claimReason(err)
	}
	return ""
}

// usableName accepts consumer names that later plugins can safely put in headers, logs and metrics:
// 1..256 bytes of valid UTF-8 without control characters.
func usableName(s string) bool {
	if s == "" || len(s) > maxNameBytes || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

func claimReason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrExpired):
		return reasonExpired
	case errors.Is(err, jwt.ErrNotValidYet):
		return reasonNotYetValid
	case errors.Is(err, jwt.ErrIssuedInTheFuture):
		return reasonIssuedFuture
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return reasonBadIssuer
	case errors.Is(err, jwt.ErrInvalidAudience):
		return reasonBadAudience
	default:
		return reasonInvalidClaims
	}
}

type filter struct {
	plugin.PassThroughFilter
	cfg *config
	h   plugin.Handle
}

func (f *filter) DecodeHeaders(headers api.RequestHeaderMap, _ bool) plugin.Result {
	raw, src, ok := f.cfg.token(headers)
	if !ok {
		f.cfg.missingC.Increment(1)
		return consumers.Unauthorized(f.cfg.missingChallenge, "jwt: missing", "govoy.jwt_auth.missing")
	}
	claims, name, reason := f.cfg.verify(raw)
	if reason != "" {
		f.cfg.rejectedC[reason].Increment(1)
		return consumers.Unauthorized(f.cfg.invalidChallenge, "jwt: "+reason, "govoy.jwt_auth."+reason)
	}
	f.h.SetConsumer(&plugin.Consumer{Name: name})
	f.h.PluginState()[ClaimsState] = claims
	if f.cfg.hide {
		src.Hide(headers)
	}
	f.cfg.okC.Increment(1)
	return plugin.Continue
}

// CopiesRequestHeaders (plugin.HeaderCopier): token headers are read with the SDK's Get.
func (c *config) CopiesRequestHeaders() bool { return true }

var _ plugin.HeaderCopier = (*config)(nil)
