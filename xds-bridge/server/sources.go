package server

import (
	"fmt"

	"go.uber.org/zap"

	"github.com/govoy/govoy/xds-bridge/config"
	"github.com/govoy/govoy/xds-bridge/model"
	"github.com/govoy/govoy/xds-bridge/source/etcd"
	"github.com/govoy/govoy/xds-bridge/source/file"
	"github.com/govoy/govoy/xds-bridge/source/zookeeper"
)

// Sources builds the configured sources (ZooKeeper, etcd, file), in config order.
func Sources(cfg *config.Config, log *zap.Logger) ([]model.Source, error) {
	if log == nil {
		log = zap.NewNop()
	}
	out := make([]model.Source, 0, len(cfg.GetSources()))
	for i, sc := range cfg.GetSources() {
		src, err := newSource(sc, log)
		if err != nil {
			return nil, fmt.Errorf("sources[%d] (%s): %w", i, sc.GetName(), err)
		}
		out = append(out, src)
	}
	return out, nil
}

func newSource(sc *config.Source, log *zap.Logger) (model.Source, error) {
	switch k := sc.GetKind().(type) {
	case *config.Source_File:
		return file.New(file.Config{Name: sc.GetName(), Path: k.File.GetPath(), Logger: log})
	case *config.Source_Etcd:
		return etcd.New(etcd.Config{Name: sc.GetName(), Endpoints: k.Etcd.GetEndpoints(), Prefix: k.Etcd.GetPrefix(), Logger: log})
	case *config.Source_Zookeeper:
		roots := make([]zookeeper.Root, 0, len(k.Zookeeper.GetRoots()))
		for i, r := range k.Zookeeper.GetRoots() {
			root, err := zookeeper.ParseRoot(r)
			if err != nil {
				return nil, fmt.Errorf("zookeeper.roots[%d]: %w", i, err)
			}
			roots = append(roots, root)
		}
		return zookeeper.New(zookeeper.Config{
			Name: sc.GetName(), Servers: k.Zookeeper.GetServers(), Roots: roots,
			SessionTimeout: k.Zookeeper.GetSessionTimeout().AsDuration(), Logger: log,
		})
	}
	return nil, fmt.Errorf("kind: unknown source kind %T", sc.GetKind())
}
