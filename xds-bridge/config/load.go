// Package config loads and validates the govoy-xds configuration file (config.proto).
package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"
)

// Defaults applied by Load when a field is absent.
const (
	DefaultAdminAddress = "127.0.0.1:9902"
	DefaultDebounce     = 25 * time.Millisecond
	DefaultMaxDelay     = 50 * time.Millisecond
	DefaultLibraryPath  = "/etc/envoy/govoy.so" // where images/envoy puts it
	DefaultBindAddress  = "127.0.0.1"
)

// Load reads a YAML or JSON file and returns the validated config.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Parse turns YAML (or JSON) bytes into a validated Config. Unknown fields are errors.
func Parse(data []byte) (*Config, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	cfg := &Config{}
	if err := protojson.Unmarshal(js, cfg); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if err := cfg.ValidateAll(); err != nil {
		return nil, fmt.Errorf("invalid: %w", err)
	}
	if err := check(cfg); err != nil {
		return nil, fmt.Errorf("invalid: %w", err)
	}
	return cfg, nil
}

// check enforces the cross-field rules protoc-gen-validate cannot express.
func check(cfg *Config) error {
	var errs []error
	if _, _, err := net.SplitHostPort(cfg.GetXds().GetAddress()); err != nil {
		errs = append(errs, fmt.Errorf("xds.address: %w", err))
	}
	if a := cfg.GetAdmin().GetAddress(); a != "" {
		if _, _, err := net.SplitHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("admin.address: %w", err))
		}
	}
	seen := map[string]bool{}
	for i, s := range cfg.GetSources() {
		if seen[s.GetName()] {
			errs = append(errs, fmt.Errorf("sources[%d].name: duplicate %q", i, s.GetName()))
		}
		seen[s.GetName()] = true
	}
	groups := map[string]bool{}
	for i, g := range cfg.GetNodeGroups() {
		if groups[g.GetName()] {
			errs = append(errs, fmt.Errorf("node_groups[%d].name: duplicate %q", i, g.GetName()))
		}
		groups[g.GetName()] = true
	}
	names := map[string]bool{}
	ports := map[string]bool{}
	for i, l := range cfg.GetListeners() {
		if names[l.GetName()] {
			errs = append(errs, fmt.Errorf("listeners[%d].name: duplicate %q", i, l.GetName()))
		}
		names[l.GetName()] = true
		if a := l.GetAddress(); a != "" && net.ParseIP(a) == nil {
			errs = append(errs, fmt.Errorf("listeners[%d].address: %q is not an IP address", i, a))
		}
		hp := fmt.Sprintf("%s:%d", BindAddress(l), l.GetPort())
		if ports[hp] {
			errs = append(errs, fmt.Errorf("listeners[%d].port: %s used twice", i, hp))
		}
		ports[hp] = true
		for j, g := range l.GetNodeGroups() {
			if g != "default" && !groups[g] {
				errs = append(errs, fmt.Errorf("listeners[%d].node_groups[%d]: unknown node group %q", i, j, g))
			}
		}
		if len(l.GetVirtualHosts()) == 0 && !l.GetServiceVirtualHosts() {
			errs = append(errs, fmt.Errorf("listeners[%d]: needs virtual_hosts or service_virtual_hosts", i))
		}
		for j, vh := range l.GetVirtualHosts() {
			for k, r := range vh.GetRoutes() {
				if r.GetChain() != nil && l.GetGovoy() == nil {
					errs = append(errs, fmt.Errorf("listeners[%d].virtual_hosts[%d].routes[%d].chain: the listener has no govoy filter", i, j, k))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// BindAddress is the listener's address or the loopback default.
func BindAddress(l *Listener) string {
	if l.GetAddress() == "" {
		return DefaultBindAddress
	}
	return l.GetAddress()
}

// AdminAddress is the admin address or its loopback default.
func AdminAddress(c *Config) string {
	if a := c.GetAdmin().GetAddress(); a != "" {
		return a
	}
	return DefaultAdminAddress
}

// Debounce and MaxDelay return the effective debounce settings.
func Debounce(c *Config) time.Duration {
	if d := c.GetXds().GetDebounce(); d != nil {
		return d.AsDuration()
	}
	return DefaultDebounce
}

func MaxDelay(c *Config) time.Duration {
	if d := c.GetXds().GetMaxDelay(); d != nil {
		return d.AsDuration()
	}
	return DefaultMaxDelay
}

// HoldZeroInstances reports whether zero-instance protection is on (default true).
func HoldZeroInstances(c *Config) bool {
	if v := c.GetProtection().GetHoldZeroInstances(); v != nil {
		return v.GetValue()
	}
	return true
}

// LibraryPath is the golang filter library path or its default.
func LibraryPath(c *Config) string {
	if p := c.GetGolang().GetLibraryPath(); p != "" {
		return p
	}
	return DefaultLibraryPath
}
