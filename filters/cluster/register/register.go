// Package register links Govoy's cluster specifier into a .so: importing it registers cluster.Factory
// as the .so's golang cluster specifier config factory (Envoy's SDK takes one per .so). It imports the
// SDK's cgo package, so only a c-shared main package loaded by Envoy (or the ABI host) may import it.
package register

import (
	"github.com/envoyproxy/envoy/contrib/golang/router/cluster_specifier/source/go/pkg/cluster_specifier"

	"github.com/govoy/govoy/filters/cluster"
)

func init() {
	cluster_specifier.RegisterClusterSpecifierConfigFactory(cluster.Factory)
}
