package proxy

import (
	"encoding/json"
	"testing"

	"github.com/govoy/govoy/filters/internal/typedconfig"
)

// FuzzConfig feeds configs, in the JSON form a YAML bootstrap or a control plane gives, through
// what the .so runs when Envoy hands it one: ParseAny, then New (which must accept exactly what
// Check accepts). A config must never panic the parser: that call comes from Envoy's main thread.
func FuzzConfig(f *testing.F) {
	f.Add([]byte(`{"protocols":["dubbo","bolt"],"default_timeout":"3s","routes":[
	  {"match":{"service":"a.S","group":"gray","headers":{"x-tag":"canary"}},"service":"s","timeout":"1s","retries":1,
	   "rate_limit":{"max_tokens":20,"fill_interval":"1s","per_method":true}}],
	  "services":[{"name":"s","lb_policy":"CONSISTENT_HASH","hash_key":"header:x-user",
	   "circuit_breaker":{"max_pending":10,"max_requests_per_endpoint":2},
	   "endpoints":[{"address":"127.0.0.2:20880","weight":3,"metadata":{"v":"1"}}]}]}`))
	f.Add([]byte(`{"protocols":["dubbo"],"routes":[{"service":"x"}],"xds":{"address":"127.0.0.1:18000","node_id":"n"}}`))
	f.Add([]byte(`{"protocols":["bolt"],"routes":[{"service":"s"}],"services":[{"name":"s","endpoints":[{"address":"[::1]:12200"}]}],
	  "stat_prefix":"p","max_method_series":5,"idle_upstream_timeout":"0.01s","upstream_heartbeat_interval":"0.01s","max_frame_bytes":1024}`))
	f.Fuzz(func(t *testing.T, js []byte) {
		var v map[string]any
		if json.Unmarshal(js, &v) != nil {
			return
		}
		a, err := typedconfig.Wrap(configURL, v)
		if err != nil {
			return
		}
		cfg, err := ParseAny(a)
		if err != nil {
			return
		}
		checkErr := Check(cfg)
		if cfg.GetXds() != nil {
			return // New would start an xDS client dialing the address
		}
		p, err := New(cfg, tcpConnector{})
		if (err == nil) != (checkErr == nil) {
			t.Fatalf("Check said %v, New said %v", checkErr, err)
		}
		if p != nil {
			p.Close()
		}
	})
}
