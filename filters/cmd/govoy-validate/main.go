// Command govoy-validate checks Envoy bootstraps that use Govoy, offline, without Envoy:
//
//	go run ./filters/cmd/govoy-validate envoy-configs/static.yaml ...
//
// It parses each file as an envoy.config.bootstrap.v3.Bootstrap (YAML or JSON), runs the protoc-gen-validate
// rules of the bootstrap and of every typed_config in it, and parses every govoy plugin chain (filter level
// and per route), govoy-rpc network filter, govoy-bridge upstream and cluster specifier config with the
// code and the plugins and protocols linked into govoy.so. Exit status: 0 all valid, 1 problems found,
// 2 usage.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/govoy/govoy/filters/configcheck"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(files []string, stdout, stderr io.Writer) int {
	if len(files) == 0 {
		fmt.Fprintln(stderr, "usage: govoy-validate BOOTSTRAP.yaml|json...")
		return 2
	}
	bad := 0
	for _, f := range files {
		ps := configcheck.CheckFile(f)
		if len(ps) == 0 {
			fmt.Fprintf(stdout, "%s: ok\n", f)
			continue
		}
		bad++
		fmt.Fprint(stderr, configcheck.Summary(ps))
	}
	if bad > 0 {
		fmt.Fprintf(stderr, "%d of %d files invalid\n", bad, len(files))
		return 1
	}
	return 0
}
