package integration

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// envoyGoImports lists the envoyGo* functions a Go .so expects its host to provide.
func envoyGoImports(t *testing.T, so string) []string {
	t.Helper()
	f, err := elf.Open(so)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.ImportedSymbols()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range syms {
		if strings.HasPrefix(s.Name, "envoyGo") {
			out = append(out, s.Name)
		}
	}
	sort.Strings(out)
	return out
}

func hostExports(t *testing.T) map[string]bool {
	t.Helper()
	f, err := elf.Open(hostBin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, s := range syms {
		if s.Section != elf.SHN_UNDEF && elf.ST_TYPE(s.Info) == elf.STT_FUNC {
			out[s.Name] = true
		}
	}
	return out
}

// Every envoyGo* function a .so imports must be exported by the host, as Envoy exports them:
// with RTLD_LAZY a missing one would only show up as a crash at its first call.
func TestHostExportsEverySymbolTheSharedObjectsImport(t *testing.T) {
	needBuild(t)
	exports := hostExports(t)
	for _, so := range []string{testSO, netSO, buildGovoy(t), buildGovoy(t)} {
		imports := envoyGoImports(t, so)
		if len(imports) == 0 {
			t.Fatalf("%s imports no envoyGo* symbol", so)
		}
		for _, name := range imports {
			if !exports[name] {
				t.Errorf("%s imports %s, which the host does not export", so, name)
			}
		}
	}
}

// The host exports every function Envoy's api.h (and the cluster specifier's api.h) declares.
func TestHostExportsAllOfAPIH(t *testing.T) {
	needBuild(t)
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/envoyproxy/envoy").Output()
	if err != nil {
		t.Fatal(err)
	}
	dir := strings.TrimSpace(string(out))
	exports := hostExports(t)
	re := regexp.MustCompile(`\b(envoyGo\w+)\(`)
	for _, h := range []string{"contrib/golang/common/go/api/api.h",
		"contrib/golang/router/cluster_specifier/source/go/pkg/cluster_specifier/api.h"} {
		b, err := os.ReadFile(filepath.Join(dir, h))
		if err != nil {
			t.Fatal(err)
		}
		names := re.FindAllStringSubmatch(string(b), -1)
		if len(names) < 4 {
			t.Fatalf("%s: found only %d functions", h, len(names))
		}
		for _, m := range names {
			if !exports[m[1]] {
				t.Errorf("%s declares %s, which the host does not export", h, m[1])
			}
		}
	}
}
