package proxy

import (
	"context"
	"fmt"
	"net"
	"strconv"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"go.uber.org/zap"

	"github.com/govoy/govoy/filters/rpc/proxy/proxypb"
	"github.com/govoy/govoy/xds-bridge/client"
	"github.com/govoy/govoy/xds-bridge/client/rpcpb"
)

type xdsEntry struct {
	src *rpcpb.RpcService
	svc *service
}

func (p *Proxy) startXDS(x *proxypb.XdsSource) error {
	c, err := client.New(client.Options{
		Address: x.GetAddress(),
		Node:    &core.Node{Id: x.GetNodeId(), Cluster: x.GetCluster()},
	})
	if err != nil {
		return fmt.Errorf("rpc proxy: xds: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.xds, p.xdsCancel, p.xdsDone = c, cancel, make(chan struct{})
	go func() {
		defer close(p.xdsDone)
		defer func() {
			if r := recover(); r != nil {
				p.stats.Panics.Add(1)
				p.logger.Error("xds client panicked", zap.Any("panic", r))
			}
		}()
		if err := c.Run(ctx); err != nil && ctx.Err() == nil {
			p.logger.Error("xds client stopped", zap.Error(err))
		}
	}()
	return nil
}

// serviceFor resolves a route's target: static services first, then the xDS table.
func (p *Proxy) serviceFor(name string) *service {
	if s := p.static[name]; s != nil {
		return s
	}
	if p.xds == nil {
		return nil
	}
	src := p.xds.Service(name)
	if src == nil {
		return nil
	}
	p.xdsMu.Lock()
	defer p.xdsMu.Unlock()
	if e, ok := p.xdsCache[name]; ok && e.src == src {
		return e.svc
	}
	svc := &service{name: name}
	for _, ep := range src.GetEndpoints() {
		if !ep.GetHealthy() {
			continue
		}
		svc.add(net.JoinHostPort(ep.GetAddress(), strconv.Itoa(int(ep.GetPort()))), ep.GetWeight(), ep.GetMetadata())
	}
	if len(src.GetEndpoints()) > 0 && len(svc.endpoints) > 0 {
		// Weights from the registry: spread by them.
		svc.policy = proxypb.LbPolicy_WEIGHTED
	}
	for _, r := range src.GetRules() {
		svc.rules = append(svc.rules, subsetRule{method: r.GetMethod(), match: r.GetMatch(), subset: r.GetSubset()})
	}
	p.xdsCache[name] = xdsEntry{src: src, svc: svc}
	return svc
}
