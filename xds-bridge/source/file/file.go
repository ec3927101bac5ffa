// Package file is a govoy-xds source that reads services from a YAML (or JSON) file and follows its
// changes. An invalid file is reported and the last good view is kept. The special path
// "embedded:demo" serves a built-in demo file (demo.yaml) with services on 127.0.0.1.
package file

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"go.uber.org/zap"
	"sigs.k8s.io/yaml"

	"github.com/govoy/govoy/xds-bridge/model"
	"github.com/govoy/govoy/xds-bridge/source/internal/publish"
)

// DemoPath names the embedded demo file instead of a file on disk.
const DemoPath = "embedded:demo"

//go:embed demo.yaml
var demo []byte

// Demo returns the embedded demo file.
func Demo() []byte { return bytes.Clone(demo) }

// Config configures a file source.
type Config struct {
	// Name labels the source in the sink, logs and metrics. Required.
	Name string
	// Path of the YAML/JSON file, or DemoPath for the embedded demo. Required.
	Path string
	// PollInterval is how often the file's size and mtime are checked (default 1s). Polling, not
	// inotify, so editors that replace the file by rename and files on any filesystem both work.
	PollInterval time.Duration
	// Logger receives reasons for skipped data; nil logs nothing.
	Logger *zap.Logger
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.Name == "":
		return errors.New("file source: name: must not be empty")
	case c.Path == "":
		return fmt.Errorf("file source %q: path: must not be empty", c.Name)
	case c.PollInterval < 0:
		return fmt.Errorf("file source %q: poll_interval: must not be negative", c.Name)
	}
	return nil
}

// Source watches one file.
type Source struct {
	cfg Config
	log *zap.Logger
}

// New validates cfg and returns the source.
func New(cfg Config) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &Source{cfg: cfg, log: log.With(zap.String("source", cfg.Name))}, nil
}

// Name returns the configured name.
func (s *Source) Name() string { return s.cfg.Name }

// Run publishes the file's services, then re-reads the file whenever its size or mtime changes.
func (s *Source) Run(ctx context.Context, sink model.Sink) error {
	pub := publish.New(s.cfg.Name, sink)
	if s.cfg.Path == DemoPath {
		svcs, err := Parse(demo)
		if err != nil {
			return fmt.Errorf("file source %q: embedded demo: %w", s.cfg.Name, err)
		}
		pub.Replace(svcs)
		<-ctx.Done()
		return nil
	}
	var lastStat struct {
		size int64
		mod  time.Time
		ok   bool
	}
	var lastSum [32]byte
	var lastErr string
	check := func() {
		st, err := os.Stat(s.cfg.Path)
		if err != nil {
			if lastErr != err.Error() {
				lastErr = err.Error()
				lastStat.ok = false
				pub.Error(fmt.Errorf("file source %q: %w", s.cfg.Name, err))
			}
			return
		}
		if lastStat.ok && st.Size() == lastStat.size && st.ModTime().Equal(lastStat.mod) {
			return
		}
		b, err := os.ReadFile(s.cfg.Path)
		if err != nil {
			pub.Error(fmt.Errorf("file source %q: %w", s.cfg.Name, err))
			return
		}
		lastStat.size, lastStat.mod, lastStat.ok = st.Size(), st.ModTime(), true
		sum := sha256.Sum256(b)
		if sum == lastSum && pub.Synced() {
			return
		}
		svcs, err := Parse(b)
		if err != nil {
			if lastErr != err.Error() {
				s.log.Warn("invalid file, keeping the last good view", zap.String("path", s.cfg.Path), zap.Error(err))
			}
			lastErr = err.Error()
			pub.Error(fmt.Errorf("file source %q: %s: %w", s.cfg.Name, s.cfg.Path, err))
			return
		}
		lastSum, lastErr = sum, ""
		pub.Update(svcs)
	}
	check()
	tick := time.NewTicker(s.cfg.PollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			check()
		}
	}
}

// fileDoc is the file format; see README.md.
type fileDoc struct {
	Services []fileService `json:"services"`
}

type fileService struct {
	Name       string            `json:"name"`
	Protocol   string            `json:"protocol"`
	Interfaces []string          `json:"interfaces"`
	Methods    []string          `json:"methods"`
	Metadata   map[string]string `json:"metadata"`
	Endpoints  []fileEndpoint    `json:"endpoints"`
}

type fileEndpoint struct {
	Address  string            `json:"address"`
	Port     uint32            `json:"port"`
	Weight   uint32            `json:"weight"`
	Healthy  *bool             `json:"healthy"`
	Metadata map[string]string `json:"metadata"`
	Locality struct {
		Region  string `json:"region"`
		Zone    string `json:"zone"`
		SubZone string `json:"sub_zone"`
	} `json:"locality"`
}

var protocols = map[model.Protocol]bool{
	model.ProtocolHTTP: true, model.ProtocolGRPC: true, model.ProtocolDubbo: true,
	model.ProtocolTri: true, model.ProtocolBolt: true,
}

// Parse decodes and validates a services file. Errors name the offending field, e.g.
// "services[1].endpoints[0].address".
func Parse(b []byte) ([]model.Service, error) {
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	var doc fileDoc
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	seen := map[string]int{}
	out := make([]model.Service, 0, len(doc.Services))
	for i, fs := range doc.Services {
		at := fmt.Sprintf("services[%d]", i)
		if fs.Name == "" {
			return nil, fmt.Errorf("%s.name: must not be empty", at)
		}
		if j, dup := seen[fs.Name]; dup {
			return nil, fmt.Errorf("%s.name: %q already used by services[%d]", at, fs.Name, j)
		}
		seen[fs.Name] = i
		proto := model.Protocol(fs.Protocol)
		if proto == "" {
			proto = model.ProtocolHTTP
		}
		if !protocols[proto] {
			return nil, fmt.Errorf("%s.protocol: unknown protocol %q (http, grpc, dubbo, tri, bolt)", at, fs.Protocol)
		}
		svc := model.Service{Name: fs.Name, Protocol: proto, Interfaces: fs.Interfaces, Methods: fs.Methods,
			Metadata: fs.Metadata}
		for k, fe := range fs.Endpoints {
			eat := fmt.Sprintf("%s.endpoints[%d]", at, k)
			ip, err := netip.ParseAddr(fe.Address)
			if err != nil {
				return nil, fmt.Errorf("%s.address: %q is not an IP literal", eat, fe.Address)
			}
			if fe.Port == 0 || fe.Port > 65535 {
				return nil, fmt.Errorf("%s.port: %d is not in 1..65535", eat, fe.Port)
			}
			if fe.Weight > 128 {
				return nil, fmt.Errorf("%s.weight: %d is not in 0..128", eat, fe.Weight)
			}
			healthy := fe.Healthy == nil || *fe.Healthy
			svc.Endpoints = append(svc.Endpoints, model.Endpoint{
				Address: ip.String(), Port: fe.Port, Weight: fe.Weight, Healthy: healthy, Metadata: fe.Metadata,
				Locality: model.Locality{Region: fe.Locality.Region, Zone: fe.Locality.Zone, SubZone: fe.Locality.SubZone},
			})
		}
		out = append(out, svc)
	}
	return out, nil
}
