// Command govoy-xds is the Govoy control plane: it watches registries (ZooKeeper, etcd, files) and
// serves Envoy and proxyless gRPC clients over ADS (SotW and delta).
//
//	govoy-xds -config govoy-xds.yaml
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"github.com/govoy/govoy/xds-bridge/config"
	"github.com/govoy/govoy/xds-bridge/server"
	"github.com/govoy/govoy/xds-bridge/translate"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr, nil)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "govoy-xds:", err)
		os.Exit(1)
	}
}

// run starts the bridge and serves until ctx is done. started, if set, is called once it listens.
func run(ctx context.Context, args []string, stderr io.Writer, started func(*server.Bridge)) error {
	fs := flag.NewFlagSet("govoy-xds", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "path of the YAML/JSON config file")
	debug := fs.Bool("debug", false, "debug logging")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *path == "" {
		return fmt.Errorf("-config is required")
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	zc := zap.NewProductionConfig()
	if *debug {
		zc.Level = zap.NewAtomicLevelAt(zap.DebugLevel)
	}
	log, err := zc.Build()
	if err != nil {
		return fmt.Errorf("logger: %w", err)
	}
	defer func() { _ = log.Sync() }()

	sources, err := server.Sources(cfg, log)
	if err != nil {
		return err
	}
	b, err := server.NewBridge(ctx, cfg, log, translate.WithChainCheck(checkChain))
	if err != nil {
		return err
	}
	go func() {
		select {
		case <-b.Started():
			log.Info("govoy-xds serving", zap.Stringer("xds", b.XDSAddr()), zap.Stringer("admin", b.AdminAddr()))
			if started != nil {
				started(b)
			}
		case <-ctx.Done():
		}
	}()
	return b.Run(ctx, sources)
}
