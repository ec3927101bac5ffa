// Package etcd is a govoy-xds source for services registered in etcd under one key prefix, one key
// per instance (layout in README.md). It reads the prefix once, then watches from the next revision;
// the etcd client resumes the watch after disconnects from the last revision it saw, and when that
// revision was compacted away the source reads everything again and states it with sink.Replace.
package etcd

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/connectivity"

	"github.com/govoy/govoy/xds-bridge/model"
	"github.com/govoy/govoy/xds-bridge/source/internal/publish"
)

// Config configures an etcd source.
type Config struct {
	// Name labels the source in the sink, logs and metrics. Required.
	Name string
	// Endpoints are etcd client URLs, e.g. http://127.0.0.1:2379. Required.
	Endpoints []string
	// Prefix under which instances live: <Prefix>/<service>/<instance-id>. Required; absolute
	// ("/govoy/services"); a trailing slash is ignored.
	Prefix string
	// DialTimeout bounds each connection attempt (default 5s).
	DialTimeout time.Duration
	// Username and Password for etcd authentication; empty means none.
	Username, Password string
	// TLS for https endpoints; nil means plaintext.
	TLS *tls.Config
	// RetryInterval is the pause between failed full reads (default 1s).
	RetryInterval time.Duration
	// Logger receives reasons for skipped keys and connection events; nil logs nothing.
	Logger *zap.Logger
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.Name == "":
		return errors.New("etcd source: name: must not be empty")
	case len(c.Endpoints) == 0:
		return fmt.Errorf("etcd source %q: endpoints: at least one URL is required", c.Name)
	case !strings.HasPrefix(c.Prefix, "/") || strings.Trim(c.Prefix, "/") == "":
		return fmt.Errorf("etcd source %q: prefix: %q must be an absolute key prefix such as /govoy/services", c.Name, c.Prefix)
	case c.DialTimeout < 0:
		return fmt.Errorf("etcd source %q: dial_timeout: must not be negative", c.Name)
	case c.RetryInterval < 0:
		return fmt.Errorf("etcd source %q: retry_interval: must not be negative", c.Name)
	}
	for i, e := range c.Endpoints {
		if e == "" || strings.ContainsAny(e, " ,") {
			return fmt.Errorf("etcd source %q: endpoints[%d]: %q is not a URL", c.Name, i, e)
		}
	}
	return nil
}

// Source watches one etcd prefix.
type Source struct {
	cfg    Config
	prefix string // with a trailing slash
	log    *zap.Logger
}

// New validates cfg and returns the source.
func New(cfg Config) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &Source{cfg: cfg, prefix: strings.TrimRight(cfg.Prefix, "/") + "/", log: log.With(zap.String("source", cfg.Name))}, nil
}

// Name returns the configured name.
func (s *Source) Name() string { return s.cfg.Name }

// Instance is the JSON value of one instance key.
type Instance struct {
	Address    string            `json:"address"`
	Port       uint32            `json:"port"`
	Weight     uint32            `json:"weight,omitempty"`
	Healthy    *bool             `json:"healthy,omitempty"`
	Protocol   string            `json:"protocol,omitempty"`
	Metadata   map[string]string `json:"metadata,omitempty"`
	Locality   *Locality         `json:"locality,omitempty"`
	Interfaces []string          `json:"interfaces,omitempty"`
	Methods    []string          `json:"methods,omitempty"`
}

// Locality of an instance.
type Locality struct {
	Region  string `json:"region,omitempty"`
	Zone    string `json:"zone,omitempty"`
	SubZone string `json:"sub_zone,omitempty"`
}

var protocols = map[model.Protocol]bool{
	model.ProtocolHTTP: true, model.ProtocolGRPC: true, model.ProtocolDubbo: true,
	model.ProtocolTri: true, model.ProtocolBolt: true,
}

// entry is a parsed key: its service and instance, or why it is skipped.
type entry struct {
	service string
	id      string
	inst    Instance
	err     error
}

// ParseKey checks one key/value of the layout. prefix ends with a slash.
func ParseKey(prefix, key string, value []byte) entry {
	rest := strings.TrimPrefix(key, prefix)
	svc, id, ok := strings.Cut(rest, "/")
	e := entry{service: svc, id: id}
	if !ok || svc == "" || id == "" || strings.Contains(id, "/") {
		e.err = fmt.Errorf("key %q is not <prefix>/<service>/<instance-id>", key)
		return e
	}
	dec := json.NewDecoder(strings.NewReader(string(value)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e.inst); err != nil {
		e.err = fmt.Errorf("key %q: value: %w", key, err)
		return e
	}
	in := &e.inst
	ip, err := netip.ParseAddr(in.Address)
	switch {
	case err != nil:
		e.err = fmt.Errorf("key %q: address: %q is not an IP literal", key, in.Address)
	case in.Port == 0 || in.Port > 65535:
		e.err = fmt.Errorf("key %q: port: %d is not in 1..65535", key, in.Port)
	case in.Weight > 128:
		e.err = fmt.Errorf("key %q: weight: %d is not in 0..128", key, in.Weight)
	case in.Protocol != "" && !protocols[model.Protocol(in.Protocol)]:
		e.err = fmt.Errorf("key %q: protocol: unknown %q (http, grpc, dubbo, tri, bolt)", key, in.Protocol)
	default:
		in.Address = ip.Unmap().String()
		if in.Protocol == "" {
			in.Protocol = string(model.ProtocolHTTP)
		}
	}
	return e
}

// build groups valid entries into services. A service's protocol is that of its first instance
// (by key); instances speaking another protocol are skipped with a reason.
func build(entries map[string]entry) (svcs []model.Service, skipped []string) {
	byName := map[string]*model.Service{}
	for _, key := range slices.Sorted(maps.Keys(entries)) {
		e := entries[key]
		if e.err != nil {
			skipped = append(skipped, e.err.Error())
			continue
		}
		svc := byName[e.service]
		if svc == nil {
			svc = &model.Service{Name: e.service, Protocol: model.Protocol(e.inst.Protocol)}
			byName[e.service] = svc
		}
		if svc.Protocol != model.Protocol(e.inst.Protocol) {
			skipped = append(skipped, fmt.Sprintf("key %q: protocol %s differs from the service's %s", key, e.inst.Protocol, svc.Protocol))
			continue
		}
		svc.Interfaces = append(svc.Interfaces, e.inst.Interfaces...)
		svc.Methods = append(svc.Methods, e.inst.Methods...)
		ep := model.Endpoint{Address: e.inst.Address, Port: e.inst.Port, Weight: e.inst.Weight,
			Healthy: e.inst.Healthy == nil || *e.inst.Healthy, Metadata: maps.Clone(e.inst.Metadata)}
		if l := e.inst.Locality; l != nil {
			ep.Locality = model.Locality{Region: l.Region, Zone: l.Zone, SubZone: l.SubZone}
		}
		svc.Endpoints = append(svc.Endpoints, ep)
	}
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		svcs = append(svcs, *byName[name])
	}
	return svcs, skipped
}

// Run keeps the sink in sync with the prefix until ctx ends.
func (s *Source) Run(ctx context.Context, sink model.Sink) (err error) {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: s.cfg.Endpoints, DialTimeout: s.cfg.DialTimeout, Username: s.cfg.Username,
		Password: s.cfg.Password, TLS: s.cfg.TLS, Logger: s.log.Named("etcd-client").WithOptions(zap.IncreaseLevel(zap.WarnLevel)),
		Context: ctx,
	})
	if err != nil {
		return fmt.Errorf("etcd source %q: client: %w", s.cfg.Name, err)
	}
	defer cli.Close()
	r := &run{s: s, cli: cli, pub: publish.New(s.cfg.Name, sink), skipped: map[string]bool{}}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("etcd connectivity watcher panicked", zap.Any("panic", p))
			}
		}()
		r.watchConnectivity(ctx)
	}()
	defer wg.Wait()
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("etcd source panicked", zap.Any("panic", p))
			r.pub.Error(fmt.Errorf("etcd source %q: internal error: %v", s.cfg.Name, p))
			err = fmt.Errorf("etcd source %q: stopped after an internal error", s.cfg.Name)
		}
	}()
	r.loop(ctx)
	return nil
}

type run struct {
	s       *Source
	cli     *clientv3.Client
	pub     *publish.Publisher
	entries map[string]entry
	rev     int64
	skipped map[string]bool

	mu       sync.Mutex
	reported bool // a connectivity error was reported for the current outage
}

func (r *run) loop(ctx context.Context) {
	for ctx.Err() == nil {
		if !r.fullRead(ctx) {
			r.pause(ctx)
			continue
		}
		// Watch until the revision is compacted (then read everything again) or ctx ends; any
		// other end of the watch is resumed from the last seen revision.
		for ctx.Err() == nil {
			if compacted := r.watch(ctx); compacted {
				break
			}
		}
	}
}

// fullRead gets the whole prefix and states it with Replace.
func (r *run) fullRead(ctx context.Context) bool {
	rctx, cancel := context.WithTimeout(ctx, r.s.cfg.DialTimeout+5*time.Second)
	resp, err := r.cli.Get(rctx, r.s.prefix, clientv3.WithPrefix())
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			r.reportOnce(fmt.Errorf("etcd source %q: read %s: %w; keeping the last view", r.s.cfg.Name, r.s.prefix, err))
		}
		return false
	}
	r.entries = make(map[string]entry, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		r.entries[string(kv.Key)] = ParseKey(r.s.prefix, string(kv.Key), kv.Value)
	}
	r.rev = resp.Header.Revision
	svcs, skipped := build(r.entries)
	r.logSkipped(skipped)
	r.pub.Replace(svcs)
	r.clearReported()
	return true
}

// watch follows changes from r.rev+1; it returns true when that revision was compacted.
func (r *run) watch(ctx context.Context) (compacted bool) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := r.cli.Watch(wctx, r.s.prefix, clientv3.WithPrefix(), clientv3.WithRev(r.rev+1))
	for resp := range wch {
		if resp.CompactRevision != 0 {
			r.s.log.Warn("watch revision compacted, reading everything again",
				zap.Int64("from", r.rev+1), zap.Int64("compacted", resp.CompactRevision))
			return true
		}
		if err := resp.Err(); err != nil {
			if ctx.Err() == nil {
				r.reportOnce(fmt.Errorf("etcd source %q: watch: %w; keeping the last view", r.s.cfg.Name, err))
				r.pause(ctx)
			}
			return false
		}
		for _, ev := range resp.Events {
			key := string(ev.Kv.Key)
			if ev.Type == clientv3.EventTypeDelete {
				delete(r.entries, key)
			} else {
				r.entries[key] = ParseKey(r.s.prefix, key, ev.Kv.Value)
			}
		}
		if resp.Header.Revision > r.rev {
			r.rev = resp.Header.Revision
		}
		if len(resp.Events) > 0 {
			svcs, skipped := build(r.entries)
			r.logSkipped(skipped)
			r.pub.Update(svcs)
		}
		r.clearReported()
	}
	// Closed without an error (e.g. the client gave up on a stream); pause before resuming.
	r.pause(ctx)
	return false
}

func (r *run) pause(ctx context.Context) {
	t := time.NewTimer(r.s.cfg.RetryInterval)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// watchConnectivity reports an error when the client's connection leaves the ready state: the
// etcd client retries watches silently, so this is how an outage becomes visible.
func (r *run) watchConnectivity(ctx context.Context) {
	conn := r.cli.ActiveConnection()
	start := time.Now()
	wasReady := false
	for {
		st := conn.GetState()
		switch st {
		case connectivity.Ready:
			wasReady = true
			r.clearReported()
		case connectivity.TransientFailure, connectivity.Connecting:
			if wasReady || time.Since(start) > r.s.cfg.DialTimeout {
				r.reportOnce(fmt.Errorf("etcd source %q: connection %s; keeping the last view", r.s.cfg.Name, st))
			}
		case connectivity.Shutdown:
			return
		}
		wctx, cancel := context.WithTimeout(ctx, r.s.cfg.DialTimeout)
		conn.WaitForStateChange(wctx, st)
		cancel()
		if ctx.Err() != nil {
			return
		}
	}
}

func (r *run) reportOnce(err error) {
	r.mu.Lock()
	if r.reported {
		r.mu.Unlock()
		return
	}
	r.reported = true
	r.mu.Unlock()
	r.s.log.Warn("etcd unavailable", zap.Error(err))
	r.pub.Error(err)
}

func (r *run) clearReported() {
	r.mu.Lock()
	r.reported = false
	r.mu.Unlock()
}

func (r *run) logSkipped(reasons []string) {
	now := make(map[string]bool, len(reasons))
	for _, reason := range reasons {
		now[reason] = true
		if !r.skipped[reason] {
			r.s.log.Warn("skipped key", zap.String("reason", reason))
		}
	}
	r.skipped = now
}
