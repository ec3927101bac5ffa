package main

// Every govoy HTTP plugin package, so chains are parsed by the same plugins govoy.so links. Keep this list
// equal to the filters/http/... blank imports of filters/cmd/govoy (TestSamePluginsAsGovoySO fails otherwise).
import (
	_ "github.com/govoy/govoy/filters/http/consumerrestriction"
	_ "github.com/govoy/govoy/filters/http/faultinjection"
	_ "github.com/govoy/govoy/filters/http/jwtauth"
	_ "github.com/govoy/govoy/filters/http/keyauth"
	_ "github.com/govoy/govoy/filters/http/localratelimit"
	_ "github.com/govoy/govoy/filters/http/tagging"
)
