// Package all links every RPC codec govoy-rpc speaks in govoy.so. Importing it is how a binary gets
// the same protocols: the .so's network filter and the offline validator both import this one
// package, so a config the validator accepts names only protocols the .so knows.
package all

import (
	_ "github.com/govoy/govoy/filters/rpc/codec/bolt"
	_ "github.com/govoy/govoy/filters/rpc/codec/dubbo"
)
