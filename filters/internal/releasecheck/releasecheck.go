// Package releasecheck holds the checks that tie Govoy's release artifacts together: one Envoy version
// across go.mod, the image, the setup script and the ABI host, and a govoy.so that loads on the Envoy
// image's glibc. The checks are its tests; this file has the parsing they share.
package releasecheck

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/mod/modfile"
)

// EnvoyModule is the Go module whose version is the Envoy version Govoy targets.
const EnvoyModule = "github.com/envoyproxy/envoy"

// RepoRoot walks up from dir to the directory holding go.mod.
func RepoRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
	}
}

// EnvoyVersionFromGoMod returns the required version of EnvoyModule, e.g. "v1.39.0".
func EnvoyVersionFromGoMod(gomod []byte) (string, error) {
	f, err := modfile.ParseLax("go.mod", gomod, nil)
	if err != nil {
		return "", fmt.Errorf("parse go.mod: %w", err)
	}
	for _, r := range f.Require {
		if r.Mod.Path == EnvoyModule {
			return r.Mod.Version, nil
		}
	}
	return "", fmt.Errorf("go.mod does not require %s", EnvoyModule)
}

// Glibc is a glibc symbol version such as 2.34.
type Glibc struct{ Major, Minor int }

func (g Glibc) String() string { return fmt.Sprintf("%d.%d", g.Major, g.Minor) }
func (g Glibc) Less(o Glibc) bool {
	return g.Major < o.Major || (g.Major == o.Major && g.Minor < o.Minor)
}
func ParseGlibc(s string) (Glibc, error) { return parseGlibc(strings.TrimSpace(s)) }

var glibcRef = regexp.MustCompile(`\bGLIBC_(\d+)\.(\d+)(?:\.\d+)?\b`)

// RequiredGlibc reads `objdump -T` output and returns, per glibc version, the dynamic symbols that
// require it (undefined symbols only: a version the .so defines is not a requirement).
func RequiredGlibc(objdumpT string) map[Glibc][]string {
	out := map[Glibc][]string{}
	sc := bufio.NewScanner(strings.NewReader(objdumpT))
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, "*UND*") {
			continue
		}
		m := glibcRef.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		maj, _ := strconv.Atoi(m[1])
		min, _ := strconv.Atoi(m[2])
		fields := strings.Fields(line)
		out[Glibc{maj, min}] = append(out[Glibc{maj, min}], fields[len(fields)-1])
	}
	return out
}

// MaxGlibc is the newest version in req; ok is false when req is empty.
func MaxGlibc(req map[Glibc][]string) (max Glibc, ok bool) {
	for g := range req {
		if !ok || max.Less(g) {
			max, ok = g, true
		}
	}
	return max, ok
}

// SortedGlibc lists the versions of req oldest first.
func SortedGlibc(req map[Glibc][]string) []Glibc {
	out := make([]Glibc, 0, len(req))
	for g := range req {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out
}

// ReadGlibcBound reads a bound file: comment lines start with '#', the one other line is "X.Y".
func ReadGlibcBound(path string) (Glibc, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Glibc{}, fmt.Errorf("glibc bound: %w", err)
	}
	var vals []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			vals = append(vals, l)
		}
	}
	if len(vals) != 1 {
		return Glibc{}, fmt.Errorf("glibc bound %s: want one version line, found %d", path, len(vals))
	}
	g, err := parseGlibc(vals[0])
	if err != nil {
		return Glibc{}, fmt.Errorf("glibc bound %s: %w", path, err)
	}
	return g, nil
}

func parseGlibc(s string) (Glibc, error) {
	maj, min, ok := strings.Cut(s, ".")
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(min)
	if !ok || err1 != nil || err2 != nil {
		return Glibc{}, fmt.Errorf("%q is not a glibc version like 2.35", s)
	}
	return Glibc{a, b}, nil
}

// FindAll returns the first submatch of re in data, for every match; an error when there is none.
func FindAll(re *regexp.Regexp, data []byte, what string) ([]string, error) {
	var out []string
	for _, m := range re.FindAllSubmatch(data, -1) {
		out = append(out, string(m[1]))
	}
	if len(out) == 0 {
		return nil, errors.New(what + ": no match for " + re.String())
	}
	return out, nil
}
