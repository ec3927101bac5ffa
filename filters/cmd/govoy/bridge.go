package main

// The HTTP -> RPC gateway: Envoy's golang HTTP-TCP bridge plugin "govoy-bridge".
import _ "github.com/govoy/govoy/filters/bridge/register"
