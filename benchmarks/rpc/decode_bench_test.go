package rpcbench

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"syscall"
	"testing"
	"time"

	hessian "github.com/apache/dubbo-go-hessian2"

	"github.com/govoy/govoy/filters/rpc/codec"
	"github.com/govoy/govoy/filters/rpc/codec/bolt"
	"github.com/govoy/govoy/filters/rpc/codec/dubbo"
	"github.com/govoy/govoy/filters/rpc/codec/resp"
)

type item struct {
	SKU   string
	Count int32
	Price float64
}

func (item) JavaClassName() string { return "org.example.Item" }

type order struct {
	ID      int64
	User    string
	Items   []*item
	Created time.Time
	Tags    map[string]string
}

func (order) JavaClassName() string { return "org.example.Order" }

func init() {
	hessian.RegisterPOJO(&item{})
	hessian.RegisterPOJO(&order{})
}

// dubboRequest is a request as dubbo-go packs it: an order with n items, a string and an int, and
// the attachments a Dubbo consumer sends.
func dubboRequest(b *testing.B, n int) []byte {
	o := &order{ID: 42, User: "alice", Created: time.UnixMilli(1700000000000), Tags: map[string]string{"channel": "app"}}
	for i := 0; i < n; i++ {
		o.Items = append(o.Items, &item{SKU: fmt.Sprintf("sku-%04d", i), Count: int32(i), Price: 9.99})
	}
	svc := hessian.Service{Path: "org.example.OrderService", Interface: "org.example.OrderService", Version: "1.0.0", Group: "east", Method: "placeOrder", Timeout: 3 * time.Second}
	att := map[string]string{"application": "shop-web", "tag": "canary", "traceid": "5f0c8a9e2b7d4c1a"}
	out, err := hessian.NewHessianCodec(nil).Write(svc, hessian.DubboHeader{SerialID: 2, Type: hessian.PackageRequest_TwoWay, ID: 7}, hessian.NewRequest([]any{o, "note", int32(3)}, att))
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// cpuTime is the CPU time this process has used. The benchmarks run with -cpu=1 (GOMAXPROCS=1), so
// frames per CPU-second is the throughput of one core even when other work shares the machine and
// wall-clock ns/op is inflated by waiting for a core.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs fn b.N times and reports wall and CPU throughput.
func measure(b *testing.B, size int, fn func()) {
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	for i := 0; i < b.N; i++ {
		fn()
	}
	cpu := cpuTime() - start
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "frames/cpu-s")
	}
}

// sink keeps the compiler from dropping work. It takes the lengths of the routing fields, not the
// Route itself: storing a struct of strings into a global costs a bulk GC write barrier (about a
// thousand instructions whenever a GC cycle is running) that a proxy, which keeps the route on its
// stack, never pays.
var sink int

func consume(r codec.Route) {
	sink += len(r.Service) + len(r.Method) + len(r.Version) + len(r.Group) + int(r.Timeout)
}

// BenchmarkDubboRouteDecode: the govoy codec cuts the frame (copying it) and reads the routing
// fields and attachments, skipping the arguments.
func BenchmarkDubboRouteDecode(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		frame := dubboRequest(b, n)
		b.Run(fmt.Sprintf("items=%d", n), func(b *testing.B) {
			measure(b, len(frame), func() {
				f, _, err := dubbo.Codec{}.Decode(frame, codec.FromDownstream, 0)
				if err != nil || f.Err() != nil {
					b.Fatal(err, f.Err())
				}
				r := f.Route()
				consume(r)
				if r.Group != "east" {
					b.Fatal("group")
				}
			})
		})
	}
}

// BenchmarkDubboFullDecodeHessian: dubbo-go-hessian2 decodes the same request in full (header,
// dubbo version, path, version, method, types, every argument, attachments), as a provider does.
func BenchmarkDubboFullDecodeHessian(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		frame := dubboRequest(b, n)
		b.Run(fmt.Sprintf("items=%d", n), func(b *testing.B) {
			measure(b, len(frame), func() {
				hc := hessian.NewHessianCodec(bufio.NewReaderSize(bytes.NewReader(frame), len(frame)))
				var h hessian.DubboHeader
				if err := hc.ReadHeader(&h); err != nil {
					b.Fatal(err)
				}
				body := make([]any, 7)
				if err := hc.ReadBody(body); err != nil {
					b.Fatal(err)
				}
				if body[6].(map[string]string)["group"] != "east" {
					b.Fatal("group")
				}
			})
		})
	}
}

// BenchmarkDubboAttachmentsHessian: dubbo-go-hessian2's own attachments-only path (ReadAttachments,
// decoder in skip mode), for reference.
func BenchmarkDubboAttachmentsHessian(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		frame := dubboRequest(b, n)
		b.Run(fmt.Sprintf("items=%d", n), func(b *testing.B) {
			measure(b, len(frame), func() {
				hc := hessian.NewHessianCodec(bufio.NewReaderSize(bytes.NewReader(frame), len(frame)))
				var h hessian.DubboHeader
				if err := hc.ReadHeader(&h); err != nil {
					b.Fatal(err)
				}
				att, err := hc.ReadAttachments()
				if err != nil || att["group"] != "east" {
					b.Fatal(err)
				}
			})
		})
	}
}

func boltRequest() []byte {
	hdr := [][2]string{
		{"service", "org.example.OrderService:1.0:east"}, {"sofa_head_target_service", "org.example.OrderService:1.0:east"},
		{"sofa_head_method_name", "placeOrder"}, {"sofa_head_target_app", "order-app"}, {"type", "sync"},
		{"rpc_trace_context.sofaTraceId", "0a0b0c0d0e0f1011"},
	}
	var h []byte
	for _, kv := range hdr {
		for _, s := range kv {
			h = binary.BigEndian.AppendUint32(h, uint32(len(s)))
			h = append(h, s...)
		}
	}
	class := "com.alipay.sofa.rpc.core.request.SofaRequest"
	content := make([]byte, 600)
	b := []byte{bolt.ProtoV1, bolt.TypeRequest, 0, bolt.CmdRPCRequest, 1, 0, 0, 0, 9, bolt.CodecHessian2, 0, 0, 0x0b, 0xb8}
	b = binary.BigEndian.AppendUint16(b, uint16(len(class)))
	b = binary.BigEndian.AppendUint16(b, uint16(len(h)))
	b = binary.BigEndian.AppendUint32(b, uint32(len(content)))
	return append(append(append(b, class...), h...), content...)
}

func BenchmarkBoltRouteDecode(b *testing.B) {
	frame := boltRequest()
	measure(b, len(frame), func() {
		f, _, err := bolt.Codec{}.Decode(frame, codec.FromDownstream, 0)
		if err != nil || f.Err() != nil {
			b.Fatal(err)
		}
		r := f.Route()
		consume(r)
		if r.Method != "placeOrder" {
			b.Fatal("method")
		}
	})
}

func BenchmarkRESPDecode(b *testing.B) {
	frame := []byte("*3\r\n$3\r\nSET\r\n$10\r\nuser:12345\r\n$64\r\n" + string(bytes.Repeat([]byte("v"), 64)) + "\r\n")
	measure(b, len(frame), func() {
		f, _, err := resp.Codec{}.Decode(frame, codec.FromDownstream, 0)
		if err != nil {
			b.Fatal(err)
		}
		consume(f.Route())
	})
}

var sinkBytes []byte

// BenchmarkBaselineCopy calibrates the machine: the frame copy every Decode makes, alone. When
// the host is shared, compare codec numbers against it rather than against a quiet machine.
func BenchmarkBaselineCopy(b *testing.B) {
	frame := dubboRequest(b, 1)
	measure(b, len(frame), func() {
		sinkBytes = append(make([]byte, 0, len(frame)), frame...)
	})
}
