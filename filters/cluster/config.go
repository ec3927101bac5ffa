package cluster

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/types/known/anypb"

	"github.com/govoy/govoy/filters/cluster/clusterpb"
	"github.com/govoy/govoy/filters/internal/typedconfig"
)

// ConfigTypeName is the full name of the config message.
var ConfigTypeName = string((&clusterpb.ClusterSpecifier{}).ProtoReflect().Descriptor().FullName())

// maxClusterName stays far below Envoy's MAX_CLUSTER_LENGTH (8192), past which Envoy aborts
// (RELEASE_ASSERT in GolangClusterSpecifierPlugin::route). The proto limits keep every name under it.
const maxClusterName = 2048

// IsConfig reports whether a is this specifier's config: the message packed, or a TypedStruct naming
// it. Offline validators use it to tell Govoy's config from another .so's.
func IsConfig(a *anypb.Any) bool { return typedconfig.Names(a, (*clusterpb.ClusterSpecifier)(nil)) }

// ParseAny decodes the `config` Envoy hands over: a packed govoy.cluster.v1.ClusterSpecifier (control
// planes) or an xds/udpa TypedStruct naming it (YAML users), then validates and compiles it. Errors
// name the offending field.
func ParseAny(a *anypb.Any) (*Specifier, error) {
	if a == nil || a.GetTypeUrl() == "" {
		return nil, fmt.Errorf("config: missing, want a %s", ConfigTypeName)
	}
	msg := &clusterpb.ClusterSpecifier{}
	if err := typedconfig.Unpack(a, msg); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return New(msg)
}

// New validates a config message (protoc-gen-validate rules, then what they cannot express) and
// compiles it.
func New(msg *clusterpb.ClusterSpecifier) (*Specifier, error) {
	if err := msg.ValidateAll(); err != nil {
		return nil, fmt.Errorf("invalid %s: %w", ConfigTypeName, err)
	}
	var slots slotTable
	s := &Specifier{rules: make([]rule, 0, len(msg.GetRules()))}
	for i, r := range msg.GetRules() {
		ru, err := compileRule(r, fmt.Sprintf("rules[%d]", i), &slots)
		if err != nil {
			return nil, err
		}
		s.rules = append(s.rules, ru)
	}
	return s, nil
}

func compileRule(r *clusterpb.Rule, field string, slots *slotTable) (rule, error) {
	ru := rule{name: r.GetName(), pathPrefix: r.GetPathPrefix(), pathSlot: -1}
	var err error
	if ru.headers, err = compileMatchers(r.GetHeaders(), fromHeader, field+".headers", slots); err != nil {
		return rule{}, err
	}
	if ru.cookies, err = compileMatchers(r.GetCookies(), fromCookie, field+".cookies", slots); err != nil {
		return rule{}, err
	}
	if ru.query, err = compileMatchers(r.GetQueryParams(), fromQuery, field+".query_params", slots); err != nil {
		return rule{}, err
	}
	if ru.pathPrefix != "" {
		ru.pathSlot = slots.slot(":path")
	}
	switch a := r.GetAction().(type) {
	case *clusterpb.Rule_Cluster:
		if err := checkClusterName(a.Cluster, field+".cluster"); err != nil {
			return rule{}, err
		}
		ru.act = action{kind: actCluster, cluster: a.Cluster}
	case *clusterpb.Rule_Template:
		ru.act, err = compileTemplate(a.Template, field+".template", slots)
	case *clusterpb.Rule_Weighted:
		ru.act, err = compileWeighted(a.Weighted, field+".weighted", slots)
	default:
		err = fmt.Errorf("%s: one of cluster, template, weighted is required", field)
	}
	if err != nil {
		return rule{}, err
	}
	return ru, nil
}

// compileTemplate builds every allowed cluster name up front, so a request only does a map lookup.
func compileTemplate(t *clusterpb.ClusterTemplate, field string, slots *slotTable) (action, error) {
	tmpl := t.GetTemplate()
	open, end := strings.IndexByte(tmpl, '{'), strings.IndexByte(tmpl, '}')
	if open < 0 || end < open || strings.Count(tmpl, "{") != 1 || strings.Count(tmpl, "}") != 1 {
		return action{}, fmt.Errorf("%s.template: %q must hold exactly one {header-name} placeholder", field, tmpl)
	}
	k, err := newKey(fromHeader, tmpl[open+1:end], field+".template placeholder", slots)
	if err != nil {
		return action{}, err
	}
	a := action{kind: actTemplate, tmplKey: k, tmplName: make(map[string]string, len(t.GetAllowedValues()))}
	for i, v := range t.GetAllowedValues() {
		name := tmpl[:open] + v + tmpl[end+1:]
		if err := checkClusterName(name, fmt.Sprintf("%s.allowed_values[%d]", field, i)); err != nil {
			return action{}, err
		}
		a.tmplName[v] = name
	}
	return a, nil
}

func compileWeighted(w *clusterpb.WeightedClusters, field string, slots *slotTable) (action, error) {
	a := action{kind: actWeighted, salt: w.GetHashSalt()}
	seen := map[string]int{}
	for i, c := range w.GetClusters() {
		f := fmt.Sprintf("%s.clusters[%d]", field, i)
		if j, dup := seen[c.GetName()]; dup {
			return action{}, fmt.Errorf("%s.name: cluster %q is already listed at clusters[%d]", f, c.GetName(), j)
		}
		seen[c.GetName()] = i
		if err := checkClusterName(c.GetName(), f+".name"); err != nil {
			return action{}, err
		}
		a.total += uint64(c.GetWeight())
		a.clusters = append(a.clusters, c.GetName())
		a.cum = append(a.cum, a.total)
	}
	if a.total == 0 {
		return action{}, fmt.Errorf("%s.clusters: the weights add up to 0", field)
	}
	if hk := w.GetHashKey(); hk != nil {
		var k key
		var err error
		switch s := hk.GetSource().(type) {
		case *clusterpb.HashKey_Header:
			k, err = newKey(fromHeader, s.Header, field+".hash_key.header", slots)
		case *clusterpb.HashKey_Cookie:
			k, err = newKey(fromCookie, s.Cookie, field+".hash_key.cookie", slots)
		case *clusterpb.HashKey_QueryParam:
			k, err = newKey(fromQuery, s.QueryParam, field+".hash_key.query_param", slots)
		default:
			err = fmt.Errorf("%s.hash_key: one of header, cookie, query_param is required", field)
		}
		if err != nil {
			return action{}, err
		}
		a.hashKey = &k
	}
	return a, nil
}

func checkClusterName(name, field string) error {
	switch {
	case name == "":
		return errors.New(field + ": the cluster name is empty")
	case len(name) > maxClusterName:
		return fmt.Errorf("%s: the cluster name is %d bytes, more than %d", field, len(name), maxClusterName)
	case strings.ContainsAny(name, "\x00\r\n"):
		return fmt.Errorf("%s: the cluster name %q holds NUL, CR or LF", field, name)
	}
	return nil
}
