package translate

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/govoy/govoy/xds-bridge/model"
	"github.com/govoy/govoy/xds-bridge/store"
)

func benchServices(n, eps int) map[string]*model.Service {
	out := make(map[string]*model.Service, n)
	for i := range n {
		s := &model.Service{Name: fmt.Sprintf("svc-%05d", i), Protocol: model.ProtocolHTTP}
		for j := range eps {
			s.Endpoints = append(s.Endpoints, model.Endpoint{Address: fmt.Sprintf("127.0.%d.%d", i%250, j+1), Port: 8080,
				Healthy: true, Metadata: map[string]string{"version": "v1"}})
		}
		out[s.Name] = s
	}
	return out
}

// BenchmarkApplyOneChange10k: one service of 10k (100k endpoints) changes; the translator rebuilds
// and caches only that service's resources.
func BenchmarkApplyOneChange10k(b *testing.B) {
	tr := newTranslator(b)
	svcs := benchServices(10000, 10)
	tr.Apply(store.Batch{Seq: 1, Upserted: svcs})
	i := 0
	for b.Loop() {
		i++
		s := *svcs[fmt.Sprintf("svc-%05d", i%10000)]
		s.Endpoints = append([]model.Endpoint(nil), s.Endpoints...)
		s.Endpoints[0].Port = uint32(1000 + i%60000)
		tr.Apply(store.Batch{Seq: uint64(i + 1), Upserted: map[string]*model.Service{s.Name: &s}})
	}
}

// BenchmarkFullSnapshot10k: what a snapshot-per-change control plane does for the same change.
func BenchmarkFullSnapshot10k(b *testing.B) {
	svcs := benchServices(10000, 10)
	sc := cachev3.NewSnapshotCache(true, cachev3.IDHash{}, nil)
	i := 0
	for b.Loop() {
		i++
		clusters := make([]types.Resource, 0, len(svcs))
		loads := make([]types.Resource, 0, len(svcs))
		for _, s := range svcs {
			clusters = append(clusters, Cluster(s))
			loads = append(loads, Endpoints(s))
		}
		snap, err := cachev3.NewSnapshot(strconv.Itoa(i), map[resource.Type][]types.Resource{
			resource.ClusterType: clusters, resource.EndpointType: loads,
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := sc.SetSnapshot(context.Background(), "n", snap); err != nil {
			b.Fatal(err)
		}
	}
}
