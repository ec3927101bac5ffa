package translate

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Marshaled is a resource kept only in its wire form. Per-service resources (clusters, endpoints, RPC
// services) are validated as typed messages, marshalled once and cached like this: a typed
// ClusterLoadAssignment costs about ten times its wire size in Go objects, which at 100k endpoints
// is most of the bridge's memory and GC work. The bytes sit in the message's unknown fields, which
// protobuf marshals back verbatim; go-control-plane takes the Any type URL from the request, so
// clients receive exactly the typed resource.
type Marshaled struct {
	*emptypb.Empty
	Name string
}

// GetName lets go-control-plane's caches name the resource.
func (m *Marshaled) GetName() string { return m.Name }

var deterministic = proto.MarshalOptions{Deterministic: true}

// compact marshals a typed resource into a Marshaled one.
func compact(name string, m proto.Message) (*Marshaled, error) {
	b, err := deterministic.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("marshal %s: %w", name, err)
	}
	e := &emptypb.Empty{}
	e.ProtoReflect().SetUnknown(b)
	return &Marshaled{Empty: e, Name: name}, nil
}

// Decode turns a cached resource back into its typed form (for tests, debugging and admin output).
func Decode(res proto.Message, into proto.Message) error {
	if m, ok := res.(*Marshaled); ok {
		return proto.Unmarshal(m.ProtoReflect().GetUnknown(), into)
	}
	b, err := deterministic.Marshal(res)
	if err != nil {
		return err
	}
	return proto.Unmarshal(b, into)
}
