package main

// The same plugin set as govoy.so, so chains are parsed by the plugins the .so links.
import _ "github.com/govoy/govoy/filters/http/all"
