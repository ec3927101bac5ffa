package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	hessian "github.com/apache/dubbo-go-hessian2"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/govoy/govoy/filters/rpc/codec"
	"github.com/govoy/govoy/filters/rpc/codec/dubbo"
	"github.com/govoy/govoy/filters/rpc/proxy/proxypb"
)

// tcpConnector connects with net.Dial and reads on a goroutine: the same event order Envoy gives.
type tcpConnector struct{}

type tcpConn struct {
	c  net.Conn
	mu sync.Mutex
}

func (t *tcpConn) Write(b []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.c.Write(b)
}
func (t *tcpConn) Close() { t.c.Close() }

func (tcpConnector) Connect(addr string, h UpstreamHandler) {
	go func() {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			h.OnFailure(err)
			return
		}
		h.OnReady(&tcpConn{c: c})
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				h.OnData(buf[:n])
			}
			if err != nil {
				c.Close()
				h.OnClose()
				return
			}
		}
	}()
}

// serveProxy runs p behind a real TCP listener, one Session per accepted connection.
func serveProxy(t testing.TB, p *Proxy) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(); p.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				s := p.NewSession(&tcpConn{c: c})
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						s.OnData(buf[:n])
					}
					if err != nil {
						s.OnClose()
						c.Close()
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

// dubboServer is a Dubbo provider on loopback: it answers "<name>:<method>:<arg>" to each request,
// after delay, answers heartbeats, and counts requests.
type dubboServer struct {
	name  string
	addr  string
	l     net.Listener
	delay time.Duration
	mu    sync.Mutex
	n     int
	hbs   int
	conns []net.Conn
	// hold, when set, makes the server read requests and never answer.
	hold bool
}

func startDubbo(t testing.TB, name string) *dubboServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &dubboServer{name: name, addr: l.Addr().String(), l: l}
	t.Cleanup(s.kill)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			go s.serve(c)
		}
	}()
	return s
}

func (s *dubboServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func (s *dubboServer) heartbeats() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hbs
}

// broadcast writes b on every connection accepted so far.
func (s *dubboServer) broadcast(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Write(b)
	}
}

// dropConns closes every connection accepted so far and keeps listening (a provider restarting).
func (s *dubboServer) dropConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

// kill closes the listener and every connection (a provider dying).
func (s *dubboServer) kill() {
	s.l.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
}

func (s *dubboServer) serve(c net.Conn) {
	defer c.Close()
	st := codec.NewStream(dubbo.Codec{}, codec.FromDownstream, 0)
	var wmu sync.Mutex
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		st.Write(buf[:n])
		for {
			f, err := st.Next()
			if err != nil || f == nil {
				if err != nil {
					return
				}
				break
			}
			if f.IsHeartbeat() {
				s.mu.Lock()
				s.hbs++
				s.mu.Unlock()
				r, _ := dubbo.Codec{}.HeartbeatReply(f)
				b, _ := r.AppendWire(nil)
				wmu.Lock()
				c.Write(b)
				wmu.Unlock()
				continue
			}
			s.mu.Lock()
			s.n++
			hold, delay := s.hold, s.delay
			s.mu.Unlock()
			if hold || f.Kind() != codec.KindRequest {
				continue
			}
			rt := f.Route()
			grp, _ := f.Headers().Get("x-tag")
			body := s.name + ":" + rt.Method + ":" + grp
			id := f.ID()
			go func() {
				time.Sleep(delay)
				b, err := hessian.NewHessianCodec(nil).Write(hessian.Service{},
					hessian.DubboHeader{SerialID: dubbo.SerializationHessian2, Type: hessian.PackageResponse, ID: int64(id), ResponseStatus: hessian.Response_OK},
					hessian.NewResponse(body, nil, nil))
				if err != nil {
					panic(err)
				}
				wmu.Lock()
				c.Write(b)
				wmu.Unlock()
			}()
		}
	}
}

// consumer is a Dubbo consumer speaking through the proxy.
type consumer struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

func dial(t testing.TB, addr string) *consumer {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &consumer{t: t, c: c, r: bufio.NewReader(c)}
}

type req struct {
	id                          int64
	svc, method, version, group string
	attachments                 map[string]string
	timeout                     time.Duration
}

func (c *consumer) send(r req) {
	c.t.Helper()
	if r.svc == "" {
		r.svc = "org.example.Demo"
	}
	if r.method == "" {
		r.method = "hello"
	}
	b, err := hessian.NewHessianCodec(nil).Write(
		hessian.Service{Path: r.svc, Interface: r.svc, Version: r.version, Group: r.group, Method: r.method, Timeout: r.timeout},
		hessian.DubboHeader{SerialID: dubbo.SerializationHessian2, Type: hessian.PackageRequest_TwoWay, ID: r.id},
		hessian.NewRequest([]any{"x"}, r.attachments))
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.c.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

type resp struct {
	id     int64
	status byte
	body   string // result, or the exception message
	hb     bool
}

// recv reads one response; the deadline only bounds a hung test.
func (c *consumer) recv() resp {
	c.t.Helper()
	c.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	hdr, err := c.r.Peek(16)
	if err != nil {
		c.t.Fatalf("read response: %v", err)
	}
	n := 16 + int(uint32(hdr[12])<<24|uint32(hdr[13])<<16|uint32(hdr[14])<<8|uint32(hdr[15]))
	frame := make([]byte, n)
	if _, err := io.ReadFull(c.r, frame); err != nil {
		c.t.Fatal(err)
	}
	hc := hessian.NewHessianCodec(bufio.NewReader(bytes.NewReader(frame)))
	var h hessian.DubboHeader
	if err := hc.ReadHeader(&h); err != nil {
		c.t.Fatal(err)
	}
	out := resp{id: h.ID, status: h.ResponseStatus, hb: h.Type&hessian.PackageHeartbeat != 0}
	if out.hb {
		return out
	}
	r := &hessian.Response{}
	if err := hc.ReadBody(r); err != nil {
		c.t.Fatalf("read body: %v", err)
	}
	if r.Exception != nil {
		out.body = r.Exception.Error()
	} else if s, ok := r.RspObj.(string); ok {
		out.body = s
	}
	return out
}

// call sends r and returns the response to it.
func (c *consumer) call(r req) resp {
	c.t.Helper()
	c.send(r)
	got := c.recv()
	if got.id != r.id {
		c.t.Fatalf("response id %d for request %d", got.id, r.id)
	}
	return got
}

// newProxy builds a proxy from JSON config (the user's form).
func newProxy(t testing.TB, js string) *Proxy {
	t.Helper()
	return newProxyWith(t, js, tcpConnector{})
}

// newProxyWith is newProxy with another connector.
func newProxyWith(t testing.TB, js string, conn Connector) *Proxy {
	t.Helper()
	var cfg proxypb.Config
	if err := protojson.Unmarshal([]byte(js), &cfg); err != nil {
		t.Fatalf("config: %v", err)
	}
	p, err := New(&cfg, conn)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func protojsonUnmarshal(js string, m *proxypb.Config) error {
	return protojson.Unmarshal([]byte(js), m)
}

// waitFor polls cond; the 20s bound only stops a hung test.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
