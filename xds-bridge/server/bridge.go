package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"slices"
	"sync"

	"go.uber.org/zap"

	"github.com/govoy/govoy/xds-bridge/admin"
	"github.com/govoy/govoy/xds-bridge/admin/metrics"
	"github.com/govoy/govoy/xds-bridge/config"
	"github.com/govoy/govoy/xds-bridge/model"
	"github.com/govoy/govoy/xds-bridge/store"
	"github.com/govoy/govoy/xds-bridge/translate"
)

// Bridge is one govoy-xds instance: store -> translator -> caches -> ADS server, plus admin.
type Bridge struct {
	Config     *config.Config
	Metrics    *metrics.Metrics
	Store      *store.Store
	Translator *translate.Translator
	Server     *Server
	log        *zap.Logger

	mu        sync.Mutex
	xdsAddr   net.Addr
	adminAddr net.Addr
	started   chan struct{}
	startOnce sync.Once
}

// NewBridge assembles a bridge from a validated config.
func NewBridge(ctx context.Context, cfg *config.Config, log *zap.Logger, opts ...translate.Option) (*Bridge, error) {
	if log == nil {
		log = zap.NewNop()
	}
	m := metrics.New()
	tr, err := translate.New(cfg, m, log, opts...)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, s := range cfg.GetSources() {
		names = append(names, s.GetName())
	}
	st := store.New(store.Options{
		Sources: names, Debounce: config.Debounce(cfg), MaxDelay: config.MaxDelay(cfg),
		HoldZero: config.HoldZeroInstances(cfg), ReleaseAfter: cfg.GetProtection().GetReleaseAfter().AsDuration(),
		Apply: tr.Apply, Metrics: m, Logger: log,
	})
	srv := New(ctx, Options{Cache: tr.Cache(), Metrics: m, Logger: log, GroupOf: tr.GroupOf, LastApplied: tr.LastApplied})
	return &Bridge{Config: cfg, Metrics: m, Store: st, Translator: tr, Server: srv, log: log, started: make(chan struct{})}, nil
}

// ConfigDump is what /debug/config_dump shows.
type ConfigDump struct {
	Nodes []NodeView `json:"nodes"`
	Held  []string   `json:"held_services"`
}

// Run serves until ctx is done or a source fails with a configuration error. sources must carry the
// names of the configured sources (readiness waits for each).
func (b *Bridge) Run(ctx context.Context, sources []model.Source) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, len(sources)+2)
	addrs := make(chan struct{}, 2)
	wg.Add(1)
	go func() {
		defer wg.Done()
		b.Store.Run(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		errc <- b.Server.Serve(ctx, b.Config.GetXds().GetAddress(), func(a net.Addr) {
			b.mu.Lock()
			b.xdsAddr = a
			b.mu.Unlock()
			addrs <- struct{}{}
		})
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		errc <- admin.Serve(ctx, config.AdminAddress(b.Config), admin.State{
			Metrics: b.Metrics,
			Ready:   b.Store.Ready,
			ConfigDump: func(node string) any {
				nodes := b.Server.Nodes()
				if node != "" {
					nodes = slices.DeleteFunc(nodes, func(n NodeView) bool { return n.ID != node })
				}
				return ConfigDump{Nodes: nodes, Held: b.Store.Held()}
			},
			Sources: func() any { return b.Store.SourceStatuses() },
		}, func(a net.Addr) {
			b.mu.Lock()
			b.adminAddr = a
			b.mu.Unlock()
			addrs <- struct{}{}
		})
	}()
	go func() {
		for range 2 {
			select {
			case <-addrs:
			case <-ctx.Done():
				return
			}
		}
		b.startOnce.Do(func() { close(b.started) })
	}()
	for _, src := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- runSource(ctx, src, b.Store, b.log)
		}()
	}
	var err error
	for range len(sources) + 2 {
		if e := <-errc; e != nil && err == nil {
			err = e
			cancel()
		}
		if ctx.Err() != nil && err == nil {
			break
		}
	}
	cancel()
	wg.Wait()
	return err
}

// runSource runs one source, turning a panic into an error so one bad source cannot crash the bridge.
func runSource(ctx context.Context, src model.Source, sink model.Sink, log *zap.Logger) (err error) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("source panicked", zap.String("source", src.Name()), zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
			err = fmt.Errorf("source %s panicked: %v", src.Name(), r)
		}
	}()
	if err := src.Run(ctx, sink); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("source %s: %w", src.Name(), err)
	}
	return nil
}

// Started is closed once the xDS and admin listeners are bound.
func (b *Bridge) Started() <-chan struct{} { return b.started }

// XDSAddr and AdminAddr return the bound addresses (after Started).
func (b *Bridge) XDSAddr() net.Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.xdsAddr
}

func (b *Bridge) AdminAddr() net.Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.adminAddr
}
