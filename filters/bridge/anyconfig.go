package bridge

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/types/known/anypb"

	"github.com/govoy/govoy/filters/bridge/bridgepb"
	"github.com/govoy/govoy/filters/internal/typedconfig"
)

// PluginName is the bridge's plugin_name in Envoy's config (the golang HTTP-TCP bridge upstream).
const PluginName = "govoy-bridge"

// ConfigTypeName is the full name of the bridge config message.
var ConfigTypeName = string((&bridgepb.Config{}).ProtoReflect().Descriptor().FullName())

// ParseAny decodes the plugin_config Envoy hands over: a packed bridgepb.Config (control planes)
// or an xds/udpa TypedStruct naming it (YAML users), then validates it.
func ParseAny(a *anypb.Any) (*Config, error) {
	if a == nil || a.GetTypeUrl() == "" {
		return nil, errors.New("bridge config: plugin_config is missing")
	}
	msg := &bridgepb.Config{}
	if err := typedconfig.Unpack(a, msg); err != nil {
		return nil, fmt.Errorf("bridge config: %w", err)
	}
	return NewConfig(msg)
}
