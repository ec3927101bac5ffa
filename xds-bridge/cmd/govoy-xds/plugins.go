package main

// The same plugin set as govoy.so (filters/http/all), so govoy-xds parses every configured chain
// exactly as the .so will and refuses a bad one at start-up.
import (
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/govoy/govoy/filters/plugin"

	_ "github.com/govoy/govoy/filters/http/all"
)

func checkChain(a *anypb.Any) error {
	_, err := plugin.ParseChain(a)
	return err
}
