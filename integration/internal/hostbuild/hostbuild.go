// Package hostbuild compiles the ABI mock host (integration/host) with gcc against the pinned
// Envoy module's own api.h, for the integration tests and the demo.
package hostbuild

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// EnvoyModule returns the directory and version of github.com/envoyproxy/envoy pinned in go.mod;
// dir is any directory inside the Govoy module.
func EnvoyModule(dir string) (modDir, version string, err error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}} {{.Version}}", "github.com/envoyproxy/envoy")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "", "", fmt.Errorf("go list envoy module: %w", err)
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		return "", "", fmt.Errorf("go list envoy module: unexpected output %q", out)
	}
	return f[0], f[1], nil
}

// Build compiles hostDir/*.c into out. sanitize adds AddressSanitizer and UBSan for the host's own
// C code (the Go runtime is not instrumented).
func Build(hostDir, envoyDir, version, out string, sanitize bool) error {
	if _, err := os.Stat("/usr/include/http_parser.h"); err != nil {
		return fmt.Errorf("the ABI host needs http-parser: apt-get install libhttp-parser-dev")
	}
	srcs, _ := filepath.Glob(filepath.Join(hostDir, "*.c"))
	if len(srcs) == 0 {
		return fmt.Errorf("no C sources in %s", hostDir)
	}
	args := []string{"-std=gnu11", "-O2", "-g", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Werror"}
	if sanitize {
		args = append(args, "-fsanitize=address,undefined", "-fno-omit-frame-pointer")
	}
	args = append(args,
		"-I"+filepath.Join(envoyDir, "contrib/golang/common/go/api"),
		fmt.Sprintf("-DENVOY_ABI_VERSION=%q", version), "-rdynamic", "-o", out)
	args = append(args, srcs...)
	args = append(args, "-ldl", "-lpthread", "-lhttp_parser")
	if b, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("gcc abihost: %w\n%s", err, b)
	}
	return nil
}
