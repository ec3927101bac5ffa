package mockhost

import (
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/envoyproxy/envoy/contrib/golang/common/go/api"
)

type streamInfo struct{ s *stream }

var _ api.StreamInfo = streamInfo{}

// GetRouteName re-resolves the route after ClearRouteCache, like Envoy's next route() call.
func (i streamInfo) GetRouteName() string { return i.s.currentRoute() }

func (i streamInfo) FilterChainName() string { return i.s.req.FilterChainName }

func (i streamInfo) Protocol() (string, bool) { return i.s.req.Protocol, true }

func (i streamInfo) ResponseCode() (uint32, bool) {
	i.s.mu.Lock()
	defer i.s.mu.Unlock()
	return uint32(i.s.responseCode), i.s.responseCode != 0
}

func (i streamInfo) ResponseCodeDetails() (string, bool) {
	i.s.mu.Lock()
	defer i.s.mu.Unlock()
	return i.s.responseDetails, i.s.responseCode != 0
}

func (i streamInfo) AttemptCount() uint32 {
	i.s.mu.Lock()
	defer i.s.mu.Unlock()
	return i.s.attempts
}

func (i streamInfo) DynamicMetadata() api.DynamicMetadata { return dynamicMetadata{i.s} }

func (i streamInfo) DownstreamLocalAddress() string  { return i.s.req.LocalAddr }
func (i streamInfo) DownstreamRemoteAddress() string { return i.s.req.RemoteAddr }

func (i streamInfo) UpstreamLocalAddress() (string, bool) {
	if i.AttemptCount() == 0 {
		return "", false
	}
	return i.s.req.UpstreamLocalAddr, true
}

func (i streamInfo) UpstreamRemoteAddress() (string, bool) {
	if i.AttemptCount() == 0 {
		return "", false
	}
	return i.s.req.UpstreamAddr, true
}

func (i streamInfo) UpstreamClusterName() (string, bool) {
	return i.s.req.Cluster, i.s.req.Cluster != ""
}

func (i streamInfo) FilterState() api.FilterState { return filterStateStore{i.s} }

func (i streamInfo) VirtualClusterName() (string, bool) {
	return i.s.req.VirtualCluster, i.s.req.VirtualCluster != ""
}

func (i streamInfo) WorkerID() uint32 { return i.s.req.WorkerID }

func (i streamInfo) DrainConnectionUponCompletion() {
	i.s.mu.Lock()
	i.s.drain = true
	i.s.mu.Unlock()
}

func (i streamInfo) DownstreamSslConnection() api.SslConnection { return i.s.req.TLS }

func (s *stream) currentRoute() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.routeStale {
		s.routeStale = false
		if s.req.Route != nil {
			s.routeName = s.req.Route(s.requestHeaders.snapshot())
		} else {
			s.routeName = s.req.RouteName
		}
	}
	return s.routeName
}

// property answers GetProperty for the common attributes of
// https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/advanced/attributes; Request.Properties
// adds or overrides any. Map and list attributes fail with ErrSerializationFailure like Envoy.
func (s *stream) property(key string) (string, error) {
	if v, ok := s.req.Properties[key]; ok {
		return v, nil
	}
	h := s.requestHeaders
	get := func(k string) (string, error) {
		v, ok := h.get(k)
		if !ok {
			return "", api.ErrValueNotFound
		}
		return v, nil
	}
	hostPort := func(addr string, port bool) (string, error) {
		host, p, err := net.SplitHostPort(addr)
		if err != nil {
			return "", api.ErrValueNotFound
		}
		if port {
			return p, nil
		}
		return host, nil
	}
	switch key {
	case "request.path":
		return get(":path")
	case "request.url_path":
		p, err := get(":path")
		if i := strings.IndexByte(p, '?'); i >= 0 {
			p = p[:i]
		}
		return p, err
	case "request.query":
		p, _ := get(":path")
		if i := strings.IndexByte(p, '?'); i >= 0 {
			return p[i+1:], nil
		}
		return "", nil
	case "request.host":
		return get(":authority")
	case "request.scheme":
		return get(":scheme")
	case "request.method":
		return get(":method")
	case "request.referer":
		return get("referer")
	case "request.useragent":
		return get("user-agent")
	case "request.id":
		return get("x-request-id")
	case "request.protocol":
		return s.req.Protocol, nil
	case "request.time":
		return s.req.start.Format("2006-01-02T15:04:05.999999-07:00"), nil
	case "request.duration":
		return time.Since(s.req.start).String(), nil
	case "request.headers", "response.headers", "response.trailers", "connection.uri_san_peer_certificate":
		return "", api.ErrSerializationFailure
	case "source.address":
		return s.req.RemoteAddr, nil
	case "source.port":
		return hostPort(s.req.RemoteAddr, true)
	case "destination.address":
		return s.req.LocalAddr, nil
	case "destination.port":
		return hostPort(s.req.LocalAddr, true)
	case "connection.mtls":
		return strconv.FormatBool(s.req.TLS != nil && s.req.TLS.PeerCertificateValidated()), nil
	case "connection.requested_server_name":
		if s.req.TLS == nil {
			return "", api.ErrValueNotFound
		}
		return s.req.Host, nil
	case "xds.route_name":
		if r := s.currentRoute(); r != "" {
			return r, nil
		}
		return "", api.ErrValueNotFound
	case "xds.cluster_name":
		if s.req.Cluster != "" {
			return s.req.Cluster, nil
		}
		return "", api.ErrValueNotFound
	case "xds.filter_chain_name":
		return s.req.FilterChainName, nil
	case "response.code":
		if c, ok := (streamInfo{s}).ResponseCode(); ok {
			return strconv.Itoa(int(c)), nil
		}
		return "", api.ErrValueNotFound
	case "response.code_details":
		if d, ok := (streamInfo{s}).ResponseCodeDetails(); ok {
			return d, nil
		}
		return "", api.ErrValueNotFound
	}
	if name, ok := strings.CutPrefix(key, "request.headers."); ok {
		return get(strings.ToLower(name))
	}
	return "", api.ErrValueNotFound
}
