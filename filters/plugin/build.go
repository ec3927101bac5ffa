package plugin

import (
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/govoy/govoy/filters/internal/typedconfig"
	"github.com/govoy/govoy/filters/plugin/chainpb"
)

// Entry is one plugin of a chain built in Go (tests, mock hosts, the xDS bridge).
type Entry struct {
	Name string
	// Config is the plugin's config message, sent as typed_config; nil sends no config.
	Config proto.Message
	// Disabled turns the filter-level plugin of this name off (route-level chains).
	Disabled bool
}

// ChainMessage builds the govoy.plugin.v1.Chain message of entries.
func ChainMessage(entries ...Entry) (*chainpb.Chain, error) {
	c := &chainpb.Chain{Plugins: make([]*chainpb.PluginConfig, 0, len(entries))}
	for i, e := range entries {
		pc := &chainpb.PluginConfig{Name: e.Name, Disabled: e.Disabled}
		if e.Config != nil {
			a, err := anypb.New(e.Config)
			if err != nil {
				return nil, fmt.Errorf("plugins[%d] (%q): pack config: %w", i, e.Name, err)
			}
			pc.ConfigType = &chainpb.PluginConfig_TypedConfig{TypedConfig: a}
		}
		c.Plugins = append(c.Plugins, pc)
	}
	return c, nil
}

// ChainAny packs entries as a govoy.plugin.v1.Chain Any: what a control plane puts in the golang
// filter's plugin_config or a route's plugins_config["govoy"].config.
func ChainAny(entries ...Entry) (*anypb.Any, error) {
	c, err := ChainMessage(entries...)
	if err != nil {
		return nil, err
	}
	return anypb.New(c)
}

// ChainTypedStruct wraps a chain written in JSON (the YAML form users write, e.g.
// {"plugins":[{"name":"key_auth","config":{...}}]}) in an xds.type.v3.TypedStruct Any, as Envoy
// receives it from a bootstrap.
func ChainTypedStruct(chainJSON string) (*anypb.Any, error) {
	var v map[string]any
	if err := json.Unmarshal([]byte(chainJSON), &v); err != nil {
		return nil, fmt.Errorf("chain JSON: %w", err)
	}
	a, err := typedconfig.Wrap(chainTypeURL, v)
	if err != nil {
		return nil, fmt.Errorf("chain JSON: %w", err)
	}
	return a, nil
}
