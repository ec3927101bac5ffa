// Package chain benchmarks the Govoy plugin chain at the Go level: the cost the chain runner adds per
// request (factory, decode and encode headers, OnLog, destroy) for 0, 1 and 5 plugins, with sync and
// async plugins. Envoy is replaced by minimal in-process fakes so the numbers are the chain's own.
//
//	go test -run '^$' -bench . -benchmem ./benchmarks/chain
package chain
