package main

// The cluster specifier (envoy.router.cluster_specifier_plugin.golang): Go picks a route's cluster.
import _ "github.com/govoy/govoy/filters/cluster/register"
