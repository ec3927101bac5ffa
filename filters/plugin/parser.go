package plugin

import (
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"go.uber.org/zap"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/govoy/govoy/filters/log"
)

// ConfigParser is the api.StreamFilterConfigParser of the "govoy" golang filter; filters/cmd/govoy
// registers it with FilterFactory under FilterName.
//
// Filter level (Envoy passes config callbacks): a bad chain is an error, and Envoy rejects the
// listener update.
//
// Route level (Envoy passes nil callbacks): a bad chain is logged and parsed into an invalid
// ChainConfig whose requests get a 500. It cannot be an error: Envoy parses a route-level config
// either when the route table loads (an error rejects the update) or, when the route table was built
// before the golang filter loaded govoy.so (an inline route_config: HCM builds routes before its
// filters), on the first request that uses it, where an error hits RELEASE_ASSERT in
// RoutePluginConfig::getMergedConfigId (contrib/golang/filters/http/source/golang_filter.cc) and
// crashes Envoy. Govoy's validator and xds-bridge call ParseChain to keep bad route chains out.
var ConfigParser api.StreamFilterConfigParser = configParser{}

type configParser struct{}

var inertMetrics = newMetricSet(nil)

func (configParser) Parse(a *anypb.Any, cb api.ConfigCallbackHandler) (out any, err error) {
	routeLevel := cb == nil
	// Envoy calls Parse without panic recovery: a panic here would abort Envoy.
	defer func() {
		if r := recover(); r != nil {
			perr := fmt.Errorf("govoy: parsing the plugin chain panicked: %v\n%s", r, debug.Stack())
			if routeLevel {
				out, err = invalidRouteChain(perr), nil
				return
			}
			out, err = nil, perr
		}
	}()
	if !routeLevel {
		ms := newMetricSet(cb)
		c, err := parseChain(a, ms)
		if err != nil {
			return nil, err
		}
		c.metrics = ms
		return c, nil
	}
	if a.GetTypeUrl() == "" && len(a.GetValue()) == 0 {
		return &ChainConfig{routeLevel: true, disableAll: true}, nil
	}
	lm := &lazyMetrics{}
	c, err := parseChain(a, lm)
	if err != nil {
		return invalidRouteChain(err), nil
	}
	c.routeLevel = true
	c.lazy = lm.handles
	return c, nil
}

func invalidRouteChain(err error) *ChainConfig {
	log.Named("govoy").Error("invalid route-level plugin chain: requests on its routes get 500", zap.Error(err))
	return &ChainConfig{routeLevel: true, err: err}
}

// Merge applies a route-level chain (child) to its parent (the filter-level chain, or an already
// merged one for deeper levels): see README.md "Per-route merge". It runs when Envoy first uses a
// route with a given parent, not per request.
func (configParser) Merge(parent, child any) (out any) {
	defer func() {
		if r := recover(); r != nil {
			out = &ChainConfig{err: fmt.Errorf("govoy: merging plugin chains panicked: %v\n%s", r, debug.Stack())}
		}
	}()
	p, ok := parent.(*ChainConfig)
	if !ok {
		return &ChainConfig{err: fmt.Errorf("govoy: parent config is %T, not a plugin chain", parent)}
	}
	c, ok := child.(*ChainConfig)
	if !ok {
		return &ChainConfig{metrics: p.metrics, err: fmt.Errorf("govoy: route config is %T, not a plugin chain", child)}
	}
	return MergeChains(p, c)
}

// MergeChains is Merge for callers holding parsed chains (tests, tools).
func MergeChains(parent, child *ChainConfig) *ChainConfig {
	m := &ChainConfig{metrics: parent.metrics}
	if parent.err != nil || child.err != nil {
		m.err = errors.Join(parent.err, child.err)
		return m
	}
	if m.metrics != nil {
		for _, h := range child.lazy {
			h.bind(m.metrics)
		}
	} else {
		// A parent without metrics is itself route level (never the case in Envoy, which always
		// starts from the filter-level config): keep the handles for the next merge.
		m.lazy = append(append(m.lazy, parent.lazy...), child.lazy...)
		m.routeLevel = true
	}
	m.entries = make([]*entry, 0, len(parent.entries)+len(child.entries))
	for _, e := range parent.entries {
		if !child.disableAll && child.find(e.name) == nil {
			m.entries = append(m.entries, e)
		}
	}
	for _, e := range child.entries {
		if !e.disabled || m.routeLevel {
			m.entries = append(m.entries, e)
		}
	}
	m.prepare()
	return m
}

func (c *ChainConfig) find(name string) *entry {
	for _, e := range c.entries {
		if e.name == name {
			return e
		}
	}
	return nil
}
