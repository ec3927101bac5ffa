package main

// The plugins linked into govoy.so, so govoy-xds parses every configured chain exactly as the .so will
// and refuses a bad one at start-up (TestSamePluginsAsGovoySO keeps this list in step).
import (
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/govoy/govoy/filters/plugin"

	_ "github.com/govoy/govoy/filters/http/consumerrestriction"
	_ "github.com/govoy/govoy/filters/http/faultinjection"
	_ "github.com/govoy/govoy/filters/http/jwtauth"
	_ "github.com/govoy/govoy/filters/http/keyauth"
	_ "github.com/govoy/govoy/filters/http/localratelimit"
	_ "github.com/govoy/govoy/filters/http/tagging"
)

func checkChain(a *anypb.Any) error {
	_, err := plugin.ParseChain(a)
	return err
}
