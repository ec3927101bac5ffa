// Package rpcbench holds the RPC codec micro benchmarks: routing-field decode by the govoy codecs
// next to a full decode with dubbo-go-hessian2. Run:
//
//	go test -run=NONE -bench=. -benchmem -cpu=1 ./benchmarks/rpc/
package rpcbench
