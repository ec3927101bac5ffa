package releasecheck

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every relative link in the top-level README points at a file of the repository.
func TestReadmeLinks(t *testing.T) {
	root, _ := pinned(t)
	links, err := FindAll(regexp.MustCompile(`\]\(([^)#\s]+)[^)]*\)`), read(t, root, "README.md"), "README.md links")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if strings.Contains(l, "://") {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, l)); err != nil {
			t.Errorf("README.md links to %s: %v", l, err)
		}
	}
}

// The README's "all tests" command is the one CI runs.
func TestReadmeTestCommandIsCI(t *testing.T) {
	root, _ := pinned(t)
	ci := read(t, root, ".ci/run")
	cmds, err := FindAll(regexp.MustCompile(`(?m)^(make setup && make test)\s*$`), ci, ".ci/run")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(read(t, root, "README.md"))
	if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(cmds[0]) + `\s`).MatchString(readme) {
		t.Errorf("README.md does not show the command .ci/run runs: %q", cmds[0])
	}
}
