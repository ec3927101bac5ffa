package cluster

import "testing"

// BenchmarkPick runs one Pick per iteration over a realistic rule set (the README's canary recipe
// plus a regex rule and a sticky split). Header reads are map lookups here; in Envoy each distinct
// header is one cgo call, which the ABI-host benchmarks measure.
func BenchmarkPick(b *testing.B) {
	s := parse(b, `{"rules":[
		{"name":"testers","headers":[{"name":"x-employee","present":true}],"cluster":"shop-canary"},
		{"name":"regex","headers":[{"name":"x-app-version","regex":"7\\.[0-9]+(\\.[0-9]+)?"}],"path_prefix":"/m/","cluster":"shop-mobile"},
		{"name":"tagged","template":{"template":"shop-{x-govoy-tag}","allowed_values":["canary","v2","v3"]}},
		{"name":"opt-in","cookies":[{"name":"version","exact":"v2"}],"cluster":"shop-v2"},
		{"name":"split","path_prefix":"/shop/","weighted":{"hash_key":{"cookie":"uid"},"hash_salt":"spring","clusters":[{"name":"shop-v2","weight":5},{"name":"shop-stable","weight":95}]}}
	]}`)
	cases := []struct {
		name string
		h    *hdr
		want string
	}{
		{"first_rule", req("x-employee", "1"), "shop-canary"},
		{"template", req("x-govoy-tag", "v2", "user-agent", "curl/8"), "shop-v2"},
		{"cookie", req("cookie", "sid=abc; version=v2; theme=dark", "user-agent", "curl/8"), "shop-v2"},
		{"regex", req("x-app-version", "7.12.3", ":path", "/m/home"), "shop-mobile"},
		{"hashed_split", req("cookie", "sid=abc; uid=user-12345", ":path", "/shop/cart", "user-agent", "curl/8"), ""},
		{"random_split", req(":path", "/shop/cart", "user-agent", "curl/8"), ""},
		{"no_match", req(":path", "/other", "user-agent", "curl/8"), ""},
	}
	for _, c := range cases {
		if got := s.Pick(c.h); c.want != "" && got != c.want {
			b.Fatalf("%s: got %q, want %q", c.name, got, c.want)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.Cluster(c.h)
			}
		})
	}
}

// BenchmarkPickParallel is the same first-rule pick from every P: workers share one Specifier.
func BenchmarkPickParallel(b *testing.B) {
	s := parse(b, `{"rules":[{"template":{"template":"shop-{x-govoy-tag}","allowed_values":["canary","v2"]}},
		{"weighted":{"hash_key":{"cookie":"uid"},"clusters":[{"name":"a","weight":1},{"name":"b","weight":9}]}}]}`)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		h := req("cookie", "uid=user-1")
		for pb.Next() {
			s.Cluster(h)
		}
	})
}
