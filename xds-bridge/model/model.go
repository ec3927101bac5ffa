// Package model is the registry-neutral service model of govoy-xds. Sources (ZooKeeper, etcd, files,
// a company's own registry client) turn what they watch into these types; the translator turns them
// into Envoy resources. Nothing here knows about Envoy or about any registry.
package model

import "context"

// Protocol is how a service's endpoints are spoken to.
type Protocol string

const (
	ProtocolHTTP  Protocol = "http"
	ProtocolGRPC  Protocol = "grpc"
	ProtocolDubbo Protocol = "dubbo"
	ProtocolTri   Protocol = "tri"
	ProtocolBolt  Protocol = "bolt"
)

// Well-known endpoint metadata keys; they become lb_subset keys in CDS and filter metadata in EDS.
const (
	MetaVersion     = "version"
	MetaGroup       = "group"
	MetaApplication = "application"
)

// Locality mirrors Envoy's locality.
type Locality struct {
	Region, Zone, SubZone string
}

// Endpoint is one instance of a service.
type Endpoint struct {
	Address  string // an IP literal (sources resolve nothing)
	Port     uint32
	Weight   uint32 // 1..128 as in Envoy; 0 means "default" (the translator uses 100)
	Healthy  bool
	Metadata map[string]string
	Locality Locality
}

// Service is the unit the translator turns into one cluster (and, for HTTP/gRPC, routes).
type Service struct {
	// Name is unique across all sources, e.g. "providers:org.apache.dubbo.Greeter:1.0.0:" or an app name.
	Name     string
	Protocol Protocol
	// Interfaces served by the service (Dubbo 3 application-level: one cluster, one route per interface).
	Interfaces []string
	Methods    []string
	Endpoints  []Endpoint
	Metadata   map[string]string
}

// Sink receives a source's view. A source may call it from any goroutine; calls from one source are
// serialized by the source.
type Sink interface {
	// Upsert adds or replaces one service of this source.
	Upsert(source string, svc Service)
	// Delete removes one service of this source.
	Delete(source string, name string)
	// Replace states the source's whole world (first sync, or a full resync after a session expiry);
	// the store diffs it against what it had so unchanged services cause no work downstream.
	Replace(source string, svcs []Service)
	// Error reports a source failure; the store keeps the last good state of that source.
	Error(source string, err error)
}

// Source watches one registry. Run blocks until ctx is done, reporting into sink; it reconnects and
// resyncs by itself and returns only on ctx cancellation or a configuration error.
type Source interface {
	Name() string
	Run(ctx context.Context, sink Sink) error
}
