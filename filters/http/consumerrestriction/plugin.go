// Package consumerrestriction is the "consumer_restriction" plugin: an allow list or a deny list of
// consumer names, checked after key_auth / jwt_auth set the consumer.
package consumerrestriction

import (
	"fmt"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"google.golang.org/protobuf/proto"

	"github.com/govoy/govoy/filters/plugin"
)

// Name is the plugin name used in chain configs.
const Name = "consumer_restriction"

func init() { plugin.Register(Plugin{}) }

// Plugin is the consumer_restriction plugin descriptor.
type Plugin struct{}

func (Plugin) Name() string               { return Name }
func (Plugin) Order() int                 { return plugin.OrderAuthz }
func (Plugin) ConfigProto() proto.Message { return &Config{} }
func (Plugin) NewFilter(c any, h plugin.Handle) plugin.Filter {
	return &filter{cfg: c.(*config), h: h}
}

type config struct {
	names map[string]struct{}
	// allow: names are the only consumers let through; otherwise names are refused.
	allow bool
	// requireConsumer: requests without a consumer get 401 (always true with an allow list).
	requireConsumer bool

	allowedC, deniedC, unauthC api.CounterMetric
}

func (Plugin) Parse(msg proto.Message, pc plugin.ParseContext) (any, error) {
	c, ok := msg.(*Config)
	if !ok {
		return nil, fmt.Errorf("consumer_restriction: config is %T, want *consumerrestriction.Config", msg)
	}
	if err := c.ValidateAll(); err != nil {
		return nil, err
	}
	list := c.GetDeny().GetNames()
	if c.GetAllow() != nil {
		list = c.GetAllow().GetNames()
	}
	cfg := &config{
		names:           make(map[string]struct{}, len(list)),
		allow:           c.GetAllow() != nil,
		requireConsumer: c.GetAllow() != nil || c.GetRequireConsumer(),
		allowedC:        pc.Counter("allowed"),
		deniedC:         pc.Counter("denied"),
		unauthC:         pc.Counter("unauthenticated"),
	}
	for _, n := range list {
		cfg.names[n] = struct{}{}
	}
	return cfg, nil
}

type filter struct {
	plugin.PassThroughFilter
	cfg *config
	h   plugin.Handle
}

func (f *filter) DecodeHeaders(api.RequestHeaderMap, bool) plugin.Result {
	c := f.h.Consumer()
	if c == nil || c.Name == "" {
		if f.cfg.requireConsumer {
			f.cfg.unauthC.Increment(1)
			return plugin.Reply(401, "consumer required\n", nil, "govoy.consumer_restriction.no_consumer")
		}
		f.cfg.allowedC.Increment(1)
		return plugin.Continue
	}
	_, listed := f.cfg.names[c.Name]
	if listed != f.cfg.allow {
		f.cfg.deniedC.Increment(1)
		return plugin.Reply(403, "consumer not allowed\n", nil, "govoy.consumer_restriction.denied")
	}
	f.cfg.allowedC.Increment(1)
	return plugin.Continue
}
