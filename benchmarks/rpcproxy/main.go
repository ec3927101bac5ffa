// Command rpcproxy is the Dubbo load client (and helpers) of benchmarks/rpcproxy/run.sh, which compares
// govoy-rpc in the ABI host with stock Envoy's generic_proxy (Dubbo codec) and tcp_proxy.
//
//	rpcproxy load -addr 127.0.0.1:20880 -c 8 -depth 4 -n 200000 -d 5s -warmup 1s -label direct
//	rpcproxy echo -listen 127.0.0.1:0        # tiny Dubbo provider: prints "LISTEN addr", answers every call
//	rpcproxy hostcfg -provider ADDR -o FILE  # govoy-rpc filter config (serialized Any) for the ABI host
//	rpcproxy ports -n 3                      # free loopback ports, one a line
//
// load keeps -c connections with -depth requests in flight on each (pipelined: responses may come back
// in any order and are matched by id), stops after -n requests or -d, whichever comes first, and prints
// one line: "RESULT label=... qps=... p50_us=... p99_us=... ok=... errors=...". Latency and QPS count
// only calls sent after -warmup. Any error response or broken connection makes it exit 1.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	hessian "github.com/apache/dubbo-go-hessian2"
	xds "github.com/cncf/xds/go/xds/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/govoy/govoy/filters/rpc/codec"
	"github.com/govoy/govoy/filters/rpc/codec/dubbo"
)

const (
	headerLen = 16
	service   = "org.example.Greeter"
	version   = "1.0.0"
)

func main() {
	log.SetFlags(0)
	if len(os.Args) < 2 {
		log.Fatal("usage: rpcproxy load|echo|hostcfg|ports [flags]")
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	var err error
	switch os.Args[1] {
	case "load":
		addr := fs.String("addr", "", "host:port to call")
		conns := fs.Int("c", 8, "connections")
		depth := fs.Int("depth", 4, "requests in flight per connection")
		n := fs.Int64("n", 200000, "max requests (warm-up included)")
		dur := fs.Duration("d", 5*time.Second, "max duration (warm-up included)")
		warm := fs.Duration("warmup", time.Second, "calls sent before this are not measured")
		label := fs.String("label", "run", "label printed in the RESULT line")
		fs.Parse(os.Args[2:])
		err = load(*addr, *label, *conns, *depth, *n, *dur, *warm)
	case "echo":
		listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
		life := fs.Duration("life", 10*time.Minute, "exit after this long (bounded)")
		fs.Parse(os.Args[2:])
		err = echo(*listen, *life)
	case "hostcfg":
		provider := fs.String("provider", "", "provider host:port")
		out := fs.String("o", "", "output file")
		fs.Parse(os.Args[2:])
		err = hostcfg(*provider, *out)
	case "ports":
		n := fs.Int("n", 1, "how many")
		fs.Parse(os.Args[2:])
		err = ports(*n)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		log.Fatalf("rpcproxy %s: %v", os.Args[1], err)
	}
}

// request encodes a Greet("bench") call as dubbo-go does (hessian2) and checks the govoy Dubbo codec
// reads it back; callers patch the id in bytes 4..12.
func request() ([]byte, error) {
	b, err := hessian.NewHessianCodec(nil).Write(
		hessian.Service{Path: service, Interface: service, Version: version, Method: "Greet", Timeout: 5 * time.Second},
		hessian.DubboHeader{SerialID: dubbo.SerializationHessian2, Type: hessian.PackageRequest_TwoWay, ID: 1},
		hessian.NewRequest([]any{"bench"}, nil))
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	f, _, err := dubbo.Codec{}.Decode(b, codec.FromDownstream, 0)
	if err != nil || f == nil || f.Err() != nil {
		return nil, fmt.Errorf("request does not decode: %v", err)
	}
	if r := f.Route(); r.Service != service || r.Method != "Greet" {
		return nil, fmt.Errorf("request decodes as %+v", r)
	}
	return b, nil
}

// readFrame reads one Dubbo frame into buf (grown as needed).
func readFrame(r *bufio.Reader, buf []byte) ([]byte, error) {
	buf = append(buf[:0], make([]byte, headerLen)...)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(buf[12:16]))
	if n > 8<<20 {
		return nil, fmt.Errorf("frame body of %d bytes", n)
	}
	buf = append(buf, make([]byte, n)...)
	if _, err := io.ReadFull(r, buf[headerLen:]); err != nil {
		return nil, err
	}
	return buf, nil
}

type result struct {
	lat      []time.Duration
	ok, errs int64
	err      error
}

func load(addr, label string, conns, depth int, max int64, dur, warm time.Duration) error {
	if addr == "" {
		return errors.New("-addr: required")
	}
	if conns < 1 || depth < 1 {
		return fmt.Errorf("-c and -depth: want ≥ 1, got %d and %d", conns, depth)
	}
	req, err := request()
	if err != nil {
		return err
	}
	start := time.Now()
	measureFrom, end := start.Add(warm), start.Add(dur)
	var sent atomic.Int64
	results := make([]result, conns)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func(res *result) {
			defer wg.Done()
			res.err = runConn(addr, req, depth, max, &sent, measureFrom, end, res)
		}(&results[i])
	}
	wg.Wait()
	elapsed := time.Since(measureFrom)
	var all []time.Duration
	var ok, errs int64
	for _, r := range results {
		if r.err != nil {
			return fmt.Errorf("%s: %w", label, r.err)
		}
		all = append(all, r.lat...)
		ok += r.ok
		errs += r.errs
	}
	if len(all) == 0 {
		return fmt.Errorf("%s: no call measured (warm-up %v of %v)", label, warm, dur)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	q := func(p int) float64 { return float64(all[(len(all)-1)*p/100].Nanoseconds()) / 1e3 }
	fmt.Printf("RESULT label=%s conns=%d depth=%d qps=%.0f p50_us=%.0f p99_us=%.0f ok=%d errors=%d\n",
		label, conns, depth, float64(len(all))/elapsed.Seconds(), q(50), q(99), ok, errs)
	if errs > 0 {
		return fmt.Errorf("%s: %d error responses", label, errs)
	}
	return nil
}

// runConn drives one connection: a writer keeps depth calls in flight, the reader matches responses.
func runConn(addr string, req []byte, depth int, max int64, sent *atomic.Int64, measureFrom, end time.Time, res *result) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return fmt.Errorf("dial %s: %w", addr, err)
	}
	defer c.Close()
	c.SetDeadline(end.Add(15 * time.Second)) // bounded even if a proxy stalls
	slots := make(chan struct{}, depth)
	var mu sync.Mutex
	inflight := map[uint64]time.Time{}
	// The writer reports once (nil when it stopped and every call got its answer) and then unblocks
	// the reader with a past read deadline.
	writeDone := make(chan error, 1)
	finish := func(err error) {
		writeDone <- err
		c.SetReadDeadline(time.Now())
	}
	go func() {
		frame := append([]byte(nil), req...)
		for id := uint64(1); ; id++ {
			slots <- struct{}{}
			now := time.Now()
			if !now.Before(end) || sent.Add(1) > max {
				for range depth - 1 { // wait for the calls still in flight
					slots <- struct{}{}
				}
				finish(nil)
				return
			}
			binary.BigEndian.PutUint64(frame[4:12], id)
			mu.Lock()
			inflight[id] = now
			mu.Unlock()
			if _, err := c.Write(frame); err != nil {
				finish(fmt.Errorf("write: %w", err))
				return
			}
		}
	}()
	r := bufio.NewReaderSize(c, 64<<10)
	var buf []byte
	for {
		if buf, err = readFrame(r, buf); err != nil {
			select {
			case werr := <-writeDone:
				return werr
			default:
				return fmt.Errorf("read: %w", err)
			}
		}
		f, _, err := dubbo.Codec{}.Decode(buf, codec.FromUpstream, 0)
		if err != nil || f == nil {
			return fmt.Errorf("decode response: %v", err)
		}
		if f.IsHeartbeat() {
			continue
		}
		done := time.Now()
		mu.Lock()
		t0, found := inflight[f.ID()]
		delete(inflight, f.ID())
		mu.Unlock()
		if !found {
			return fmt.Errorf("response for unknown id %d", f.ID())
		}
		<-slots
		if f.Status() != codec.StatusOK {
			res.errs++
			continue
		}
		res.ok++
		if !t0.Before(measureFrom) {
			res.lat = append(res.lat, done.Sub(t0))
		}
	}
}

// echo is a minimal Dubbo provider: every two-way request gets the same hessian2 string response
// (its id patched), heartbeats get heartbeat replies. Responses are batched per read.
func echo(listen string, life time.Duration) error {
	resp, err := hessian.NewHessianCodec(nil).Write(hessian.Service{},
		hessian.DubboHeader{SerialID: dubbo.SerializationHessian2, Type: hessian.PackageResponse, ID: 1, ResponseStatus: hessian.Response_OK},
		hessian.NewResponse("echo:bench", nil, nil))
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	if f, _, err := (dubbo.Codec{}).Decode(resp, codec.FromUpstream, 0); err != nil || f == nil || f.Status() != codec.StatusOK {
		return fmt.Errorf("response does not decode as OK: %v", err)
	}
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	fmt.Printf("LISTEN %s\n", l.Addr())
	time.AfterFunc(life, func() { os.Exit(0) })
	for {
		c, err := l.Accept()
		if err != nil {
			return fmt.Errorf("accept: %w", err)
		}
		go serveEcho(c, resp)
	}
}

func serveEcho(c net.Conn, resp []byte) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 64<<10)
	w := bufio.NewWriterSize(c, 64<<10)
	out := append([]byte(nil), resp...)
	var buf []byte
	for {
		var err error
		if buf, err = readFrame(r, buf); err != nil {
			return
		}
		f, _, err := dubbo.Codec{}.Decode(buf, codec.FromDownstream, 0)
		if err != nil || f == nil {
			log.Printf("echo: bad frame: %v", err)
			return
		}
		switch {
		case f.IsHeartbeat():
			hb, err := dubbo.Codec{}.HeartbeatReply(f)
			if err != nil {
				return
			}
			if buf, err := (dubbo.Codec{}).Encode(hb, nil); err == nil {
				w.Write(buf)
			}
		case f.Kind() == codec.KindRequest:
			binary.BigEndian.PutUint64(out[4:12], f.ID())
			w.Write(out)
		}
		if r.Buffered() == 0 {
			if w.Flush() != nil {
				return
			}
		}
	}
}

// hostcfg writes the govoy-rpc config (TypedStruct in an Any, as Envoy passes it) routing every call
// to provider.
func hostcfg(provider, out string) error {
	if provider == "" || out == "" {
		return errors.New("-provider and -o: required")
	}
	cfg := fmt.Sprintf(`{"protocols":["dubbo"],"routes":[{"service":"s"}],
	  "services":[{"name":"s","endpoints":[{"address":%q}]}]}`, provider)
	var v map[string]any
	if err := json.Unmarshal([]byte(cfg), &v); err != nil {
		return err
	}
	s, err := structpb.NewStruct(v)
	if err != nil {
		return err
	}
	a, err := anypb.New(&xds.TypedStruct{TypeUrl: "type.googleapis.com/govoy.rpc.proxy.v1.Config", Value: s})
	if err != nil {
		return err
	}
	b, err := proto.Marshal(a)
	if err != nil {
		return err
	}
	return os.WriteFile(out, b, 0o644)
}

func ports(n int) error {
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		ls = append(ls, l)
	}
	for _, l := range ls {
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
		l.Close()
	}
	return nil
}
