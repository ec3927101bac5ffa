package bridge

import (
	"errors"
	"fmt"
	"strings"

	udpatypev1 "github.com/cncf/xds/go/udpa/type/v1"
	xdstypev3 "github.com/cncf/xds/go/xds/type/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/govoy/govoy/filters/bridge/bridgepb"
)

// ConfigTypeName is the full name of the bridge config message.
var ConfigTypeName = string((&bridgepb.Config{}).ProtoReflect().Descriptor().FullName())

// ParseAny decodes the plugin_config Envoy hands over: a packed bridgepb.Config (control planes)
// or an xds/udpa TypedStruct naming it (YAML users), then validates it.
func ParseAny(a *anypb.Any) (*Config, error) {
	if a == nil || a.GetTypeUrl() == "" {
		return nil, errors.New("bridge config: plugin_config is missing")
	}
	msg := &bridgepb.Config{}
	var value *structpb.Struct
	var inner string
	switch typeName(a.GetTypeUrl()) {
	case ConfigTypeName:
		if err := proto.Unmarshal(a.GetValue(), msg); err != nil {
			return nil, fmt.Errorf("bridge config: decode %s: %w", ConfigTypeName, err)
		}
		return NewConfig(msg)
	case "xds.type.v3.TypedStruct":
		ts := &xdstypev3.TypedStruct{}
		if err := proto.Unmarshal(a.GetValue(), ts); err != nil {
			return nil, fmt.Errorf("bridge config: decode TypedStruct: %w", err)
		}
		value, inner = ts.GetValue(), ts.GetTypeUrl()
	case "udpa.type.v1.TypedStruct":
		ts := &udpatypev1.TypedStruct{}
		if err := proto.Unmarshal(a.GetValue(), ts); err != nil {
			return nil, fmt.Errorf("bridge config: decode TypedStruct: %w", err)
		}
		value, inner = ts.GetValue(), ts.GetTypeUrl()
	default:
		return nil, fmt.Errorf("bridge config: type %q is not %s or a TypedStruct naming it", a.GetTypeUrl(), ConfigTypeName)
	}
	if typeName(inner) != ConfigTypeName {
		return nil, fmt.Errorf("bridge config: TypedStruct.type_url is %q, want type.googleapis.com/%s", inner, ConfigTypeName)
	}
	js, err := protojson.Marshal(value)
	if err != nil {
		return nil, fmt.Errorf("bridge config: TypedStruct.value: %w", err)
	}
	if err := protojson.Unmarshal(js, msg); err != nil {
		return nil, fmt.Errorf("bridge config: TypedStruct.value is not a %s: %w", ConfigTypeName, err)
	}
	return NewConfig(msg)
}

func typeName(url string) string {
	if i := strings.LastIndexByte(url, '/'); i >= 0 {
		return url[i+1:]
	}
	return url
}
