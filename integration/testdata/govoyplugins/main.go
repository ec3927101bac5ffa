// Command govoyplugins is filters/cmd/govoy's registration plus blank imports of the plugins the
// ABI tests exercise. The tests use it while filters/cmd/govoy does not link those plugins yet, so
// the real chain runner and plugins cross the real ABI either way.
package main

import (
	envoyhttp "github.com/envoyproxy/envoy/contrib/golang/filters/http/source/go/pkg/http"

	_ "github.com/govoy/govoy/filters/http/consumerrestriction"
	_ "github.com/govoy/govoy/filters/http/faultinjection"
	_ "github.com/govoy/govoy/filters/http/keyauth"
	_ "github.com/govoy/govoy/filters/http/localratelimit"
	_ "github.com/govoy/govoy/filters/http/tagging"
	"github.com/govoy/govoy/filters/log"
	"github.com/govoy/govoy/filters/plugin"
)

func init() {
	log.UseEnvoy()
	envoyhttp.RegisterHttpFilterFactoryAndConfigParser(plugin.FilterName, plugin.FilterFactory, plugin.ConfigParser)
}

func main() {}
