package main

// The same plugins and RPC protocols as govoy.so, so its configs are parsed by what the .so links.
import (
	_ "github.com/govoy/govoy/filters/http/all"
	_ "github.com/govoy/govoy/filters/rpc/codec/all"
)
