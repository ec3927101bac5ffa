package releasecheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// govoySO returns the govoy.so to inspect: $GOVOY_SO (make test sets it to dist/govoy.so) or a fresh build.
func govoySO(t *testing.T, root string) string {
	t.Helper()
	if p := os.Getenv("GOVOY_SO"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("GOVOY_SO: %v", err)
		}
		return p
	}
	out := filepath.Join(t.TempDir(), "govoy.so")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, "./filters/cmd/govoy")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build govoy.so: %v\n%s", err, b)
	}
	return out
}

// TestGovoySOGlibc fails when govoy.so requires a glibc symbol version newer than the Envoy image's glibc
// (images/envoy/GLIBC_MAX): such a .so would not dlopen there. The .so is built on this machine, whose
// glibc may be newer than the bound; that is what makes the check useful: a cgo dependency that pulls in
// a newer symbol (e.g. arc4random@GLIBC_2.36) shows up here, before the image build.
func TestGovoySOGlibc(t *testing.T) {
	root, _ := pinned(t)
	bound, err := ReadGlibcBound(filepath.Join(root, "images", "envoy", "GLIBC_MAX"))
	if err != nil {
		t.Fatal(err)
	}
	so := govoySO(t, root)
	out, err := exec.Command("objdump", "-T", so).CombinedOutput()
	if err != nil {
		t.Fatalf("objdump -T %s: %v\n%s", so, err, out)
	}
	req := RequiredGlibc(string(out))
	max, ok := MaxGlibc(req)
	if !ok {
		t.Fatalf("objdump -T %s lists no GLIBC_x.y requirement: is it a cgo shared object?", so)
	}
	t.Logf("govoy.so requires glibc %v (max %v, bound %v)", SortedGlibc(req), max, bound)
	if bound.Less(max) {
		t.Errorf("govoy.so requires glibc %v (symbols %s) but the Envoy image has %v (images/envoy/GLIBC_MAX)",
			max, strings.Join(req[max], ", "), bound)
	}
}

func TestRequiredGlibcParsing(t *testing.T) {
	// objdump -T lines: undefined imports count, a version the object defines does not.
	sample := `
0000000000000000      DF *UND*	0000000000000000 (GLIBC_2.34) pthread_create
0000000000000000      DF *UND*	0000000000000000 (GLIBC_2.2.5) malloc
0000000000000000      DF *UND*	0000000000000000  GLIBC_2.36  arc4random
0000000000000000  w   D  *UND*	0000000000000000  Base        __gmon_start__
0000000000012340 g    DO .data	0000000000000008  GLIBC_2.99  not_an_import
`
	req := RequiredGlibc(sample)
	max, ok := MaxGlibc(req)
	if !ok || max != (Glibc{2, 36}) {
		t.Fatalf("max = %v, %v; want 2.36", max, ok)
	}
	if got := SortedGlibc(req); len(got) != 3 || got[0] != (Glibc{2, 2}) {
		t.Fatalf("versions = %v; want [2.2 2.34 2.36]", got)
	}
	if got := req[Glibc{2, 36}]; len(got) != 1 || got[0] != "arc4random" {
		t.Fatalf("2.36 symbols = %v", got)
	}
	bound, err := ParseGlibc("2.35")
	if err != nil || !bound.Less(max) {
		t.Fatalf("2.35 must be below 2.36 (err %v)", err)
	}
	if _, err := ParseGlibc("2"); err == nil {
		t.Fatal("ParseGlibc accepted 2")
	}
}

func TestReadGlibcBound(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		text string
		ok   bool
	}{
		"plain":   {"# where it came from\n2.35\n", true},
		"two":     {"2.35\n2.36\n", false},
		"empty":   {"# nothing\n", false},
		"garbage": {"two.thirty\n", false},
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(tc.text), 0o644); err != nil {
			t.Fatal(err)
		}
		g, err := ReadGlibcBound(p)
		if (err == nil) != tc.ok {
			t.Errorf("%s: got %v, %v", name, g, err)
		}
		if tc.ok && g != (Glibc{2, 35}) {
			t.Errorf("%s: got %v", name, g)
		}
	}
}
