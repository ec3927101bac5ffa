package zookeeper

import (
	"fmt"
	"testing"

	"github.com/govoy/govoy/xds-bridge/model"
	"github.com/govoy/govoy/xds-bridge/source/internal/publish"
)

// bigSnapshot: 1,000 interfaces x 10 providers, one configurator each.
func bigSnapshot() *snapshot {
	s := newSnapshot()
	for i := range 1000 {
		iface := fmt.Sprintf("org.example.Service%d", i)
		var names []string
		for p := range 10 {
			names = append(names, dubboURL(fmt.Sprintf("127.0.%d.%d:20880", i/250, p+1), iface,
				"version=1.0.0&group=g&weight=100&timestamp=1700000000000&pid=4242&release=3.2.0&dubbo=2.0.2"))
		}
		put(s.dubboProviders, "/dubbo", iface, names)
		put(s.dubboConfigurators, "/dubbo", iface, []string{enc("override://0.0.0.0/" + iface + "?weight=50&category=configurators")})
		s.stamps["/dubbo/"+iface+"/providers"] = uint64(2*i + 1)
		s.stamps["/dubbo/"+iface+"/configurators"] = uint64(2*i + 2)
	}
	return s
}

// BenchmarkBuildCold10kProviders: a full rebuild, as after a new session.
func BenchmarkBuildCold10kProviders(b *testing.B) {
	s := bigSnapshot()
	b.ReportAllocs()
	for b.Loop() {
		if svcs, _ := build(s, nil); len(svcs) != 1000 {
			b.Fatal(len(svcs))
		}
	}
}

// BenchmarkOneProviderChange10k: what the source does after one provider of 10,000 changes:
// rebuild (other interfaces come from the cache) and publish the difference.
func BenchmarkOneProviderChange10k(b *testing.B) {
	s := bigSnapshot()
	cache := newBuildCache()
	sink := &countingSink{}
	pub := publish.New("zk", sink)
	svcs, _ := build(s, cache)
	pub.Replace(svcs)
	const iface = "org.example.Service7"
	base := s.dubboProviders["/dubbo"][iface]
	stamp := uint64(1 << 32)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		// Alternate between 10 and 9 providers of one interface.
		names := base
		if i%2 == 1 {
			names = base[:9]
		}
		put(s.dubboProviders, "/dubbo", iface, names)
		stamp++
		s.stamps["/dubbo/"+iface+"/providers"] = stamp
		svcs, _ := build(s, cache)
		pub.Update(svcs)
	}
	if sink.upserts < b.N {
		b.Fatalf("%d upserts for %d changes", sink.upserts, b.N)
	}
}

type countingSink struct{ upserts int }

func (c *countingSink) Upsert(string, model.Service)    { c.upserts++ }
func (c *countingSink) Delete(string, string)           {}
func (c *countingSink) Replace(string, []model.Service) {}
func (c *countingSink) Error(string, error)             {}
