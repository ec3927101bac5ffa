package typedconfig

import (
	"strings"
	"testing"

	udpatypev1 "github.com/cncf/xds/go/udpa/type/v1"
	xdstypev3 "github.com/cncf/xds/go/xds/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/apipb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The config message of these tests is google.protobuf.Api: any message with plain fields will do.
const apiURL = "type.googleapis.com/google.protobuf.Api"

func mustAny(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// wrap is Wrap in an xds TypedStruct, or the same in a udpa one.
func wrap(t *testing.T, udpa bool, typeURL string, v map[string]any) *anypb.Any {
	t.Helper()
	a, err := Wrap(typeURL, v)
	if err != nil {
		t.Fatal(err)
	}
	if udpa {
		var ts xdstypev3.TypedStruct
		if err := a.UnmarshalTo(&ts); err != nil {
			t.Fatal(err)
		}
		a = mustAny(t, &udpatypev1.TypedStruct{TypeUrl: ts.GetTypeUrl(), Value: ts.GetValue()})
	}
	return a
}

func TestUnpack(t *testing.T) {
	want := &apipb.Api{Name: "svc", Version: "v2"}
	fields := map[string]any{"name": "svc", "version": "v2"}
	for name, a := range map[string]*anypb.Any{
		"packed":           mustAny(t, want),
		"xds TypedStruct":  wrap(t, false, apiURL, fields),
		"udpa TypedStruct": wrap(t, true, apiURL, fields),
	} {
		got := &apipb.Api{}
		if err := Unpack(a, got); err != nil || !proto.Equal(got, want) {
			t.Errorf("%s: %v, %v", name, got, err)
		}
		if !Names(a, got) {
			t.Errorf("%s: Names false", name)
		}
	}
	for name, c := range map[string]struct {
		a    *anypb.Any
		want string
	}{
		"another message":        {mustAny(t, wrapperspb.String("x")), `type "type.googleapis.com/google.protobuf.StringValue" is not google.protobuf.Api or a TypedStruct naming it`},
		"TypedStruct of another": {wrap(t, false, "type.googleapis.com/x.Y", nil), `TypedStruct.type_url is "type.googleapis.com/x.Y", want type.googleapis.com/google.protobuf.Api`},
		"misspelt field":         {wrap(t, true, apiURL, map[string]any{"nmae": "svc"}), `unknown field "nmae"`},
		"broken packed bytes":    {&anypb.Any{TypeUrl: apiURL, Value: []byte{0xff}}, "decode google.protobuf.Api"},
		"broken TypedStruct":     {&anypb.Any{TypeUrl: "type.googleapis.com/xds.type.v3.TypedStruct", Value: []byte{0xff}}, "decode TypedStruct"},
	} {
		err := Unpack(c.a, &apipb.Api{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
		if named := Names(c.a, &apipb.Api{}); named != (name == "misspelt field" || name == "broken packed bytes") {
			t.Errorf("%s: Names %v", name, named)
		}
	}
}
