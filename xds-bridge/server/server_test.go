package server

import (
	"testing"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/govoy/govoy/xds-bridge/client/rpcpb"
)

func TestResourceNameFromWire(t *testing.T) {
	for _, tc := range []struct {
		msg  proto.Message
		want string
	}{
		// Name after other fields on the wire still has to be found.
		{&cluster.Cluster{ConnectTimeout: durationpb.New(1), Name: "providers:demo.Greeter:1.0.0:"}, "providers:demo.Greeter:1.0.0:"},
		{&endpoint.ClusterLoadAssignment{ClusterName: "web", Endpoints: []*endpoint.LocalityLbEndpoints{{Locality: &core.Locality{Zone: "z"}}}}, "web"},
		{&core.TypedExtensionConfig{Name: "govoy/ingress"}, "govoy/ingress"},
		{&rpcpb.RpcService{Name: "svc", Protocol: "dubbo"}, "svc"},
	} {
		b, err := proto.Marshal(tc.msg)
		if err != nil {
			t.Fatal(err)
		}
		if got := resourceName("", b); got != tc.want {
			t.Errorf("%T: name %q, want %q", tc.msg, got, tc.want)
		}
	}
	if got := resourceName("", []byte{0xff}); got != "" {
		t.Errorf("garbage gave %q", got)
	}
}
