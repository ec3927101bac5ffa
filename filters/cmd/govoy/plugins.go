package main

// The HTTP plugins linked into govoy.so; each registers itself with plugin.Register from its init
// function. Users add their own plugin packages as further blank imports here.
import _ "github.com/govoy/govoy/filters/http/all"
