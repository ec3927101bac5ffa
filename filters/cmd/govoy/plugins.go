package main

// The plugins linked into govoy.so. Each registers itself with plugin.Register from its init function.
import (
	_ "github.com/govoy/govoy/filters/http/consumerrestriction"
	_ "github.com/govoy/govoy/filters/http/faultinjection"
	_ "github.com/govoy/govoy/filters/http/jwtauth"
	_ "github.com/govoy/govoy/filters/http/keyauth"
	_ "github.com/govoy/govoy/filters/http/localratelimit"
	_ "github.com/govoy/govoy/filters/http/tagging"
)
