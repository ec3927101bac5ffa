// Package register links the gateway into a .so: importing it registers envoybridge as Envoy's
// golang HTTP-TCP bridge plugin "govoy-bridge". It imports the SDK's cgo package, so only a
// c-shared main package loaded by Envoy (or the ABI host) may import it.
package register

import (
	tcp "github.com/envoyproxy/envoy/contrib/golang/upstreams/http/tcp/source/go/pkg/upstreams/http/tcp"

	"github.com/govoy/govoy/filters/bridge/envoybridge"
)

func init() {
	tcp.RegisterHttpTcpBridgeFactoryAndConfigParser(envoybridge.PluginName, envoybridge.Factory, envoybridge.Parser{})
}
