package consumertest

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// ReadmeChain returns, as JSON, the chain (the TypedStruct value) of the first ```yaml block of a
// plugin README that holds a plugin_config, so tests can check that the documented example parses.
func ReadmeChain(t testing.TB, readmePath string) string {
	t.Helper()
	b, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	for _, block := range strings.Split(string(b), "```yaml\n")[1:] {
		block, _, _ = strings.Cut(block, "```")
		if !strings.Contains(block, "plugin_config:") {
			continue
		}
		var doc struct {
			PluginConfig struct {
				TypeURL string          `json:"type_url"`
				Value   json.RawMessage `json:"value"`
			} `json:"plugin_config"`
		}
		if err := yaml.Unmarshal([]byte(block), &doc); err != nil {
			t.Fatalf("%s: example YAML: %v", readmePath, err)
		}
		if doc.PluginConfig.TypeURL != "type.googleapis.com/govoy.plugin.v1.Chain" {
			t.Fatalf("%s: example type_url %q", readmePath, doc.PluginConfig.TypeURL)
		}
		return string(doc.PluginConfig.Value)
	}
	t.Fatalf("%s: no yaml example with plugin_config", readmePath)
	return ""
}
