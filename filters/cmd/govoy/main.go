// Command govoy is built with -buildmode=c-shared into dist/govoy.so, the one shared object Envoy's
// contrib golang extensions load. It only registers: the HTTP plugin chain under plugin.FilterName,
// and (through blank imports) every plugin and extension package linked into the .so.
//
// Users who add their own plugins copy this package into their module and blank-import their plugin
// packages next to Govoy's; the result is still one .so and one Go runtime.
package main

import (
	envoyhttp "github.com/envoyproxy/envoy/contrib/golang/filters/http/source/go/pkg/http"

	_ "github.com/govoy/govoy/filters/internal/pprofenv" // GOVOY_PPROF=file: CPU profile
	"github.com/govoy/govoy/filters/log"
	"github.com/govoy/govoy/filters/plugin"
)

func init() {
	log.UseEnvoy()
	envoyhttp.RegisterHttpFilterFactoryAndConfigParser(plugin.FilterName, plugin.FilterFactory, plugin.ConfigParser)
}

// main is required by -buildmode=c-shared and never runs.
func main() {}
