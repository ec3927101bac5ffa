package zookeeper

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Layout is how a registry lays its data out under a root path.
type Layout string

const (
	// LayoutDubbo: Dubbo interface-level registration,
	// <root>/<interface>/providers/<url-encoded provider URL> and
	// <root>/<interface>/configurators/<url-encoded override URL>. Default root /dubbo.
	LayoutDubbo Layout = "dubbo"
	// LayoutDubboApp: Dubbo 3 application-level registration, <root>/<app>/<instance id> holding a
	// Curator ServiceInstance JSON. Default root /services. Interfaces come from MappingRoot.
	LayoutDubboApp Layout = "dubbo-app"
	// LayoutSofa: SOFARPC, <root>/<interface>/providers/<url-encoded bolt://IP:PORT?...>.
	// Default root /sofa-rpc.
	LayoutSofa Layout = "sofa"
)

// Root is one watched subtree.
type Root struct {
	// Path of the subtree, e.g. "/dubbo"; absolute, no trailing slash.
	Path string
	// Layout of the data under Path.
	Layout Layout
}

// ParseRoot reads a root from config text: "<layout>=<path>" (e.g. "dubbo=/dubbo-gray"), or a bare
// path whose last element names the layout: /dubbo, /services, /sofa-rpc.
func ParseRoot(s string) (Root, error) {
	if layout, p, ok := strings.Cut(s, "="); ok {
		r := Root{Path: p, Layout: Layout(layout)}
		return r, r.validate()
	}
	var r Root
	switch path.Base(s) {
	case "dubbo":
		r = Root{Path: s, Layout: LayoutDubbo}
	case "services":
		r = Root{Path: s, Layout: LayoutDubboApp}
	case "sofa-rpc":
		r = Root{Path: s, Layout: LayoutSofa}
	default:
		return Root{}, fmt.Errorf("root %q: layout unknown; write <layout>=<path> with layout dubbo, dubbo-app or sofa", s)
	}
	return r, r.validate()
}

func (r Root) validate() error {
	switch r.Layout {
	case LayoutDubbo, LayoutDubboApp, LayoutSofa:
	default:
		return fmt.Errorf("root %q: layout %q is not dubbo, dubbo-app or sofa", r.Path, r.Layout)
	}
	if err := validPath(r.Path); err != nil {
		return fmt.Errorf("root %q: %w", r.Path, err)
	}
	return nil
}

func validPath(p string) error {
	if !strings.HasPrefix(p, "/") || (len(p) > 1 && strings.HasSuffix(p, "/")) || path.Clean(p) != p {
		return errors.New("must be an absolute, clean znode path")
	}
	return nil
}

// Config configures a ZooKeeper source.
type Config struct {
	// Name labels the source in the sink, logs and metrics. Required.
	Name string
	// Servers are the ensemble's host:port addresses. Required.
	Servers []string
	// SessionTimeout asked of ZooKeeper (default 10s; the server clamps it to its min/max). Also how
	// long the source waits for a first session before reporting an error.
	SessionTimeout time.Duration
	// Roots are the watched subtrees. Required.
	Roots []Root
	// MappingRoot holds Dubbo 3 interface -> application mappings, <MappingRoot>/<interface> with the
	// comma-separated application names as data. Used with LayoutDubboApp roots (default /dubbo/mapping).
	MappingRoot string
	// Username and Password, when set, authenticate the session with ZooKeeper's "digest" scheme
	// (what Dubbo's registry username/password do), so ACL-protected registries can be read.
	Username, Password string
	// Logger receives reasons for skipped registry data and connection events; nil logs nothing.
	Logger *zap.Logger
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if c.Name == "" {
		return errors.New("zookeeper source: name: must not be empty")
	}
	if len(c.Servers) == 0 {
		return fmt.Errorf("zookeeper source %q: servers: at least one host:port is required", c.Name)
	}
	for i, s := range c.Servers {
		if s == "" || strings.ContainsAny(s, "/ ") {
			return fmt.Errorf("zookeeper source %q: servers[%d]: %q is not host:port", c.Name, i, s)
		}
	}
	if c.SessionTimeout < 0 {
		return fmt.Errorf("zookeeper source %q: session_timeout: must not be negative", c.Name)
	}
	if len(c.Roots) == 0 {
		return fmt.Errorf("zookeeper source %q: roots: at least one root is required", c.Name)
	}
	seen := map[string]bool{}
	for i, r := range c.Roots {
		if err := r.validate(); err != nil {
			return fmt.Errorf("zookeeper source %q: roots[%d]: %w", c.Name, i, err)
		}
		if seen[r.Path] {
			return fmt.Errorf("zookeeper source %q: roots[%d]: %q listed twice", c.Name, i, r.Path)
		}
		seen[r.Path] = true
	}
	if (c.Username == "") != (c.Password == "") {
		return fmt.Errorf("zookeeper source %q: password: username and password go together", c.Name)
	}
	if c.MappingRoot != "" {
		if err := validPath(c.MappingRoot); err != nil {
			return fmt.Errorf("zookeeper source %q: mapping_root: %w", c.Name, err)
		}
	}
	return nil
}
