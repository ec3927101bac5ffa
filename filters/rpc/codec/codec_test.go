package codec_test

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/govoy/govoy/filters/rpc/codec"
	"github.com/govoy/govoy/filters/rpc/codec/bolt"
	"github.com/govoy/govoy/filters/rpc/codec/dubbo"
	"github.com/govoy/govoy/filters/rpc/codec/resp"
)

func TestRegistry(t *testing.T) {
	for _, n := range []string{dubbo.Name, bolt.Name, resp.Name} {
		if !slices.Contains(codec.Names(), n) {
			t.Fatalf("%s not registered: %v", n, codec.Names())
		}
		c, err := codec.Lookup(n)
		if err != nil || c.Name() != n {
			t.Fatalf("lookup %s: %v", n, err)
		}
	}
	if err := codec.Register(dubbo.Codec{}); err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Fatalf("duplicate register: %v", err)
	}
	if err := codec.Register(nil); err == nil {
		t.Fatal("nil codec registered")
	}
	if _, err := codec.Lookup("thrift"); err == nil || !strings.Contains(err.Error(), `"thrift"`) {
		t.Fatalf("unknown lookup: %v", err)
	}
	if _, err := codec.NewSniffer(); err == nil {
		t.Fatal("empty sniffer accepted")
	}
	if _, err := codec.NewSniffer("dubbo", "nope"); err == nil || !strings.Contains(err.Error(), "protocols") {
		t.Fatalf("sniffer with unknown protocol: %v", err)
	}
}

func frames(t *testing.T) map[string][]byte {
	t.Helper()
	d, _ := dubbo.Codec{}.Heartbeat(1).AppendWire(nil)
	b, _ := bolt.Codec{}.Heartbeat(1).AppendWire(nil)
	r, _ := resp.Codec{}.Heartbeat(0).AppendWire(nil)
	return map[string][]byte{dubbo.Name: d, bolt.Name: b, resp.Name: r}
}

func TestSniff(t *testing.T) {
	s, err := codec.NewSniffer(dubbo.Name, bolt.Name, resp.Name)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range frames(t) {
		c, m := s.Sniff(b)
		if m != codec.MatchYes || c.Name() != name {
			t.Fatalf("%s frame sniffed as %v %s", name, c, m)
		}
	}
	if _, m := s.Sniff(nil); m != codec.MatchMore {
		t.Fatalf("empty: %s", m)
	}
	if _, m := s.Sniff([]byte{0xda}); m != codec.MatchMore {
		t.Fatalf("half a dubbo magic: %s", m)
	}
	if _, m := s.Sniff([]byte("GET / HTTP/1.1\r\n")); m != codec.MatchNo {
		t.Fatalf("HTTP: %s", m)
	}
	only, _ := codec.NewSniffer(dubbo.Name)
	if _, m := only.Sniff(frames(t)[bolt.Name]); m != codec.MatchNo {
		t.Fatalf("bolt with a dubbo-only sniffer: %s", m)
	}
}

// TestStreamChunks feeds many frames in random chunk sizes and checks every frame comes out once,
// in order, and the buffer does not keep consumed bytes.
func TestStreamChunks(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for name, one := range frames(t) {
		c, _ := codec.Lookup(name)
		const n = 500
		var all []byte
		for i := 0; i < n; i++ {
			all = append(all, one...)
		}
		s := codec.NewStream(c, codec.FromDownstream, 0)
		got := 0
		for off := 0; off < len(all); {
			k := min(1+rng.IntN(3*len(one)), len(all)-off)
			s.Write(all[off : off+k])
			off += k
			for {
				f, err := s.Next()
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if f == nil {
					break
				}
				if !f.IsHeartbeat() {
					t.Fatalf("%s: frame %d is not the heartbeat sent", name, got)
				}
				got++
			}
			if s.Buffered() >= len(one) {
				t.Fatalf("%s: %d bytes buffered, a whole frame was not decoded", name, s.Buffered())
			}
		}
		if got != n {
			t.Fatalf("%s: %d frames, want %d", name, got, n)
		}
	}
}

func TestStreamErrorIsSticky(t *testing.T) {
	s := codec.NewStream(dubbo.Codec{}, codec.FromDownstream, 64)
	s.Write([]byte{0xda, 0xbb, 0xe2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0}) // 256-byte body > 64
	_, err := s.Next()
	if !errors.Is(err, codec.ErrFrameTooLarge) || !strings.Contains(err.Error(), "dubbo") {
		t.Fatalf("oversized: %v", err)
	}
	s.Write(frames(t)[dubbo.Name])
	if _, err2 := s.Next(); err2 != err {
		t.Fatalf("error not sticky: %v", err2)
	}
}

func TestStatusNames(t *testing.T) {
	if codec.StatusCircuitOpen.String() != "circuit_open" || codec.Status(200).String() != "unknown" || codec.KindOnewayRequest.String() != "oneway" {
		t.Fatal("names")
	}
}
