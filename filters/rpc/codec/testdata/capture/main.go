// Command capture runs a real dubbo-go v3.3.0 consumer (dubbo protocol, hessian2) against a fake
// provider on loopback. The provider saves every request frame the consumer sends and answers each
// call with one of the hijack frames govoy's dubbo codec produced, so the run shows both what a real
// client puts on the wire and how it takes govoy's error responses.
//
// It is its own module so dubbo-go's dependencies stay out of govoy's go.mod:
//
//	cd filters/rpc/codec/testdata/capture && go run . -in ../../dubbo/testdata -out ../../dubbo/testdata
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"dubbo.apache.org/dubbo-go/v3/client"
	"dubbo.apache.org/dubbo-go/v3/common/constant"
	_ "dubbo.apache.org/dubbo-go/v3/imports"
)

// hijacks are the codec's hijack frames (written by the dubbo tests) and what the client must say.
var hijacks = []struct{ file, want string }{
	{"hijack-timeout.bin", "upstream timeout"},
	{"hijack-no-provider.bin", "no provider for org.example.DemoService"},
	{"hijack-rate-limited.bin", "rate limited"},
}

type provider struct {
	ln      net.Listener
	out     string
	answers [][]byte
	mu      sync.Mutex
	calls   int
	hbs     int
}

func (p *provider) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.conn(c)
	}
}

func (p *provider) conn(c net.Conn) {
	defer c.Close()
	hdr := make([]byte, 16)
	for {
		if _, err := io.ReadFull(c, hdr); err != nil {
			return
		}
		if hdr[0] != 0xda || hdr[1] != 0xbb {
			log.Printf("provider: bad magic %x", hdr[:2])
			return
		}
		body := make([]byte, binary.BigEndian.Uint32(hdr[12:]))
		if _, err := io.ReadFull(c, body); err != nil {
			return
		}
		frame := append(append([]byte{}, hdr...), body...)
		id := hdr[4:12]
		p.mu.Lock()
		var reply []byte
		var name string
		if hdr[2]&0x20 != 0 { // event: heartbeat, answered like a Dubbo provider does
			p.hbs++
			name = fmt.Sprintf("dubbogo-heartbeat-%d.bin", p.hbs)
			reply = append([]byte{0xda, 0xbb, 0x20 | hdr[2]&0x1f, 20}, id...)
			reply = append(reply, 0, 0, 0, 1, 'N')
		} else {
			name = fmt.Sprintf("dubbogo-request-%d.bin", p.calls+1)
			reply = append([]byte{}, p.answers[p.calls%len(p.answers)]...)
			copy(reply[4:12], id)
			p.calls++
		}
		p.mu.Unlock()
		if err := os.WriteFile(filepath.Join(p.out, name), frame, 0o644); err != nil {
			log.Fatal(err)
		}
		if _, err := c.Write(reply); err != nil {
			return
		}
	}
}

func main() {
	in := flag.String("in", "../../dubbo/testdata", "directory with the codec's hijack frames")
	out := flag.String("out", "../../dubbo/testdata", "directory for captured frames")
	flag.Parse()
	p := &provider{out: *out}
	for _, h := range hijacks {
		b, err := os.ReadFile(filepath.Join(*in, h.file))
		if err != nil {
			log.Fatalf("hijack frame: %v (run GOVOY_UPDATE_SEEDS=1 go test ./filters/rpc/codec/dubbo first)", err)
		}
		p.answers = append(p.answers, b)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	p.ln = ln
	go p.serve()

	cli, err := client.NewClient(
		client.WithClientURL("dubbo://"+ln.Addr().String()),
		client.WithClientProtocolDubbo(),
		client.WithClientSerialization(constant.Hessian2Serialization),
		client.WithClientRetries(0),
	)
	if err != nil {
		log.Fatal(err)
	}
	conn, err := cli.Dial("org.example.DemoService", client.WithGroup("g1"), client.WithVersion("1.0.0"), client.WithRequestTimeout(2500*time.Millisecond))
	if err != nil {
		log.Fatal(err)
	}
	failed := false
	for _, h := range hijacks {
		var resp string
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := conn.CallUnary(ctx, []any{"world", int32(7)}, &resp, "SayHello")
		cancel()
		switch {
		case err == nil:
			fmt.Printf("%s: client got no error\n", h.file)
			failed = true
		case !strings.Contains(err.Error(), h.want):
			fmt.Printf("%s: client error %q lacks %q\n", h.file, err, h.want)
			failed = true
		case errors.Is(err, context.DeadlineExceeded):
			fmt.Printf("%s: client timed out instead of reading the response\n", h.file)
			failed = true
		default:
			fmt.Printf("%s: ok, client error: %v\n", h.file, err)
		}
	}
	if failed {
		os.Exit(1)
	}
}
