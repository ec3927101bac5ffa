package configcheck_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/govoy/govoy/filters/configcheck"
)

// FuzzCheck: any input gives problems or none, never a panic, and every problem names the file.
func FuzzCheck(f *testing.F) {
	f.Add([]byte(bootstrap(good, route)))
	f.Add([]byte(bootstrap(`{plugins: [{name: test_percent, config: {value: 200}}]}`, `{plugins: [{name: x}]}`)))
	files, _ := filepath.Glob("../../envoy-configs/*.yaml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"static_resources": {"listeners": [{"name": 1}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, p := range configcheck.Check("fuzz.yaml", data) {
			if p.File != "fuzz.yaml" || p.Message == "" {
				t.Fatalf("problem without file or message: %#v", p)
			}
		}
	})
}
