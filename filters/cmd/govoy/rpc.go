package main

// The govoy-rpc network filter (Dubbo, SOFARPC Bolt) registers itself with Envoy's network SDK.
import _ "github.com/govoy/govoy/filters/rpc/network"
