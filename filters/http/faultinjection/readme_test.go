package faultinjection_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/govoy/govoy/filters/plugin"
	"sigs.k8s.io/yaml"
)

// TestReadmeExample keeps the README's YAML example a config the chain accepts.
func TestReadmeExample(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```yaml\n")
	if !ok {
		t.Fatal("README.md has no yaml example")
	}
	block, _, _ := strings.Cut(rest, "```")
	var filters []struct {
		TypedConfig struct {
			PluginConfig struct {
				Value json.RawMessage `json:"value"`
			} `json:"plugin_config"`
		} `json:"typed_config"`
	}
	if err := yaml.Unmarshal([]byte(block), &filters); err != nil {
		t.Fatalf("README yaml: %v", err)
	}
	if len(filters) != 1 {
		t.Fatalf("README yaml: %d filters", len(filters))
	}
	a, err := plugin.ChainTypedStruct(string(filters[0].TypedConfig.PluginConfig.Value))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := plugin.ParseChain(a)
	if err != nil {
		t.Fatalf("README example rejected: %v", err)
	}
	if got := cfg.Plugins(); len(got) != 1 || got[0] != "fault_injection" {
		t.Errorf("plugins %v", got)
	}
}
