// Package typedconfig reads the configs Envoy hands to govoy.so as an Any: the config message packed
// (what a control plane sends) or an xds.type.v3 / udpa.type.v1 TypedStruct whose type_url names it
// (what people write in YAML). The HTTP plugin chain, the RPC proxy, the HTTP→RPC bridge and the
// cluster specifier all accept both forms, and offline validators read them the same way.
package typedconfig

import (
	"fmt"
	"strings"

	udpatypev1 "github.com/cncf/xds/go/udpa/type/v1"
	xdstypev3 "github.com/cncf/xds/go/xds/type/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
)

const (
	xdsTypedStruct  = "xds.type.v3.TypedStruct"
	udpaTypedStruct = "udpa.type.v1.TypedStruct"
)

// Names reports whether a carries a message of msg's type: packed, or a TypedStruct naming it.
// Validators use it to tell Govoy's config from another library's.
func Names(a *anypb.Any, msg proto.Message) bool {
	want := string(msg.ProtoReflect().Descriptor().FullName())
	switch typeName(a.GetTypeUrl()) {
	case want:
		return true
	case xdsTypedStruct, udpaTypedStruct:
		inner, _, err := typedStruct(a)
		return err == nil && typeName(inner) == want
	}
	return false
}

// Unpack decodes a into msg. A TypedStruct's value is read as protobuf JSON with unknown fields
// refused: a misspelt field is an error, never a silently ignored setting. Validation rules are
// the caller's to run.
func Unpack(a *anypb.Any, msg proto.Message) error {
	want := string(msg.ProtoReflect().Descriptor().FullName())
	switch typeName(a.GetTypeUrl()) {
	case want:
		if err := proto.Unmarshal(a.GetValue(), msg); err != nil {
			return fmt.Errorf("decode %s: %w", want, err)
		}
		return nil
	case xdsTypedStruct, udpaTypedStruct:
	default:
		return fmt.Errorf("type %q is not %s or a TypedStruct naming it", a.GetTypeUrl(), want)
	}
	inner, value, err := typedStruct(a)
	if err != nil {
		return err
	}
	if typeName(inner) != want {
		return fmt.Errorf("TypedStruct.type_url is %q, want type.googleapis.com/%s", inner, want)
	}
	js, err := protojson.Marshal(value)
	if err != nil {
		return fmt.Errorf("TypedStruct.value: %w", err)
	}
	if err := protojson.Unmarshal(js, msg); err != nil {
		return fmt.Errorf("TypedStruct.value is not a %s: %w", want, err)
	}
	return nil
}

// Wrap puts value, a config in its JSON form, in an xds.type.v3.TypedStruct naming typeURL: what
// Envoy hands over for a config written in a YAML bootstrap. Tools and tests build configs with it.
func Wrap(typeURL string, value map[string]any) (*anypb.Any, error) {
	s, err := structpb.NewStruct(value)
	if err != nil {
		return nil, fmt.Errorf("TypedStruct value: %w", err)
	}
	return anypb.New(&xdstypev3.TypedStruct{TypeUrl: typeURL, Value: s})
}

// typedStruct reads an xds or udpa TypedStruct: the type it names and its value.
func typedStruct(a *anypb.Any) (typeURL string, value *structpb.Struct, err error) {
	if typeName(a.GetTypeUrl()) == udpaTypedStruct {
		ts := &udpatypev1.TypedStruct{}
		if err := proto.Unmarshal(a.GetValue(), ts); err != nil {
			return "", nil, fmt.Errorf("decode TypedStruct: %w", err)
		}
		return ts.GetTypeUrl(), ts.GetValue(), nil
	}
	ts := &xdstypev3.TypedStruct{}
	if err := proto.Unmarshal(a.GetValue(), ts); err != nil {
		return "", nil, fmt.Errorf("decode TypedStruct: %w", err)
	}
	return ts.GetTypeUrl(), ts.GetValue(), nil
}

// typeName is the message name a type URL ends with.
func typeName(url string) string {
	if i := strings.LastIndexByte(url, '/'); i >= 0 {
		return url[i+1:]
	}
	return url
}
