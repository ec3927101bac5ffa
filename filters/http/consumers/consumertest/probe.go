// Package consumertest registers, for tests only, a plugin that shows the upstream which consumer the
// chain attached: importing it in a test binary adds "test_consumer_probe" to the registry.
package consumertest

import (
	"encoding/json"
	"sort"
	"strings"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/govoy/govoy/filters/plugin"
)

// Name is the probe's plugin name; put it in a chain after the plugins under test.
const Name = "test_consumer_probe"

// Request headers the probe sets: the consumer name ("" when none), its labels as sorted k=v pairs,
// and the chain's plugin state as JSON.
const (
	ConsumerHeader = "x-probe-consumer"
	LabelsHeader   = "x-probe-labels"
	StateHeader    = "x-probe-state"
)

func init() { plugin.Register(probe{}) }

type probe struct{}

func (probe) Name() string                                          { return Name }
func (probe) Order() int                                            { return plugin.OrderInner }
func (probe) ConfigProto() proto.Message                            { return &emptypb.Empty{} }
func (probe) Parse(proto.Message, plugin.ParseContext) (any, error) { return nil, nil }
func (probe) NewFilter(_ any, h plugin.Handle) plugin.Filter        { return &probeFilter{h: h} }

type probeFilter struct {
	plugin.PassThroughFilter
	h plugin.Handle
}

func (f *probeFilter) DecodeHeaders(headers api.RequestHeaderMap, _ bool) plugin.Result {
	if st, err := json.Marshal(f.h.PluginState()); err == nil {
		headers.Set(StateHeader, string(st))
	}
	c := f.h.Consumer()
	if c == nil {
		headers.Set(ConsumerHeader, "")
		return plugin.Continue
	}
	headers.Set(ConsumerHeader, c.Name)
	pairs := make([]string, 0, len(c.Labels))
	for k, v := range c.Labels {
		pairs = append(pairs, k+"="+v)
	}
	sort.Strings(pairs)
	headers.Set(LabelsHeader, strings.Join(pairs, ","))
	return plugin.Continue
}
