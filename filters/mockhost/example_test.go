package mockhost_test

import (
	"fmt"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
	"github.com/govoy/govoy/filters/mockhost"
	"google.golang.org/protobuf/types/known/anypb"
)

// greeter adds a header to every request and denies requests without a user.
type greeter struct {
	api.PassThroughStreamFilter
	cb api.FilterCallbackHandler
}

func (g *greeter) DecodeHeaders(h api.RequestHeaderMap, _ bool) api.StatusType {
	user, ok := h.Get("x-user")
	if !ok {
		g.cb.DecoderFilterCallbacks().SendLocalReply(401, "who are you?", nil, -1, "greeter.no_user")
		return api.LocalReply
	}
	h.Set("x-greeting", "hello "+user)
	return api.Continue
}

type nopParser struct{}

func (nopParser) Parse(*anypb.Any, api.ConfigCallbackHandler) (any, error) { return nil, nil }
func (nopParser) Merge(_, child any) any                                   { return child }

func Example() {
	host := mockhost.New(func(_ any, cb api.FilterCallbackHandler) api.StreamFilter {
		return &greeter{cb: cb}
	}, nopParser{})
	cfg, _ := host.ParseFilterConfig(nil)

	upstream := func(r *mockhost.Received) mockhost.Response {
		return mockhost.Response{Status: 200, Body: r.Headers.Get("x-greeting")}
	}
	res := host.Run(cfg, mockhost.Request{Path: "/", Headers: map[string][]string{"X-User": {"ann"}}}, upstream)
	fmt.Println(res.Status, string(res.Body))

	res = host.Run(cfg, mockhost.Request{Path: "/"}, upstream)
	fmt.Println(res.Status, string(res.Body), res.LocalReply.Details, res.Upstream == nil)
	// Output:
	// 200 hello ann
	// 401 who are you? greeter.no_user true
}
