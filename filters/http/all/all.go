// Package all links every HTTP plugin Govoy ships. Importing it is how a binary gets the same plugin
// set as govoy.so: the .so itself, the offline validator and govoy-xds (which parses the chains it
// serves) all import this one package, so their plugin lists cannot drift apart.
package all

import (
	_ "github.com/govoy/govoy/filters/http/consumerrestriction"
	_ "github.com/govoy/govoy/filters/http/faultinjection"
	_ "github.com/govoy/govoy/filters/http/jwtauth"
	_ "github.com/govoy/govoy/filters/http/keyauth"
	_ "github.com/govoy/govoy/filters/http/localratelimit"
	_ "github.com/govoy/govoy/filters/http/tagging"
)
