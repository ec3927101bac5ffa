// Command dubbogo runs the real dubbo-go v3.3.0 peers of the govoy-rpc end-to-end tests
// (integration/rpc_test.go): a provider and a consumer speaking dubbo:// with hessian2.
//
// It is its own module so dubbo-go's dependencies stay out of govoy's go.mod.
//
//	dubbogo server -port 20880 -name a -interface org.example.Greeter -version 1.0.0 -group g1 -delay 0s
//	dubbogo client -addr 127.0.0.1:20880 -interface org.example.Greeter -version 1.0.0 -n 3 -arg world
//
// The provider answers Greet(arg) with "<name>:<arg>" after -delay. The consumer prints one line per
// call: "ok <result>" or "err <error>", and "done" at the end.
//
// The provider listens on -ip (127.0.0.1) only. dubbo-go's default "local" metadata type would also
// export a MetadataService on the protocol port with no host, i.e. on every interface (and binding
// the service itself to -ip then collides with it: "address already in use"). Without a registry
// nobody asks for that metadata, so the provider uses the "remote" metadata type, which exports no
// MetadataService (metadata.Options.Init in dubbo-go v3.3.0).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"

	"dubbo.apache.org/dubbo-go/v3"
	"dubbo.apache.org/dubbo-go/v3/client"
	"dubbo.apache.org/dubbo-go/v3/common"
	"dubbo.apache.org/dubbo-go/v3/common/constant"
	_ "dubbo.apache.org/dubbo-go/v3/imports"
	"dubbo.apache.org/dubbo-go/v3/protocol"
	"dubbo.apache.org/dubbo-go/v3/server"
)

// Greeter is the provider's service.
type Greeter struct {
	name  string
	delay time.Duration
}

func (g *Greeter) Greet(arg string) (string, error) {
	time.Sleep(g.delay)
	return g.name + ":" + arg, nil
}

func main() {
	if len(os.Args) < 2 {
		log.Fatal("usage: dubbogo server|client [flags]")
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	ip := fs.String("ip", "127.0.0.1", "server: address to listen on")
	port := fs.Int("port", 0, "server: port")
	name := fs.String("name", "p", "server: name put in answers")
	delay := fs.Duration("delay", 0, "server: delay before answering")
	addr := fs.String("addr", "", "client: host:port to call")
	intf := fs.String("interface", "org.example.Greeter", "service interface")
	version := fs.String("version", "", "service version")
	group := fs.String("group", "", "service group")
	timeout := fs.Duration("timeout", 3*time.Second, "client: request timeout")
	n := fs.Int("n", 1, "client: calls")
	arg := fs.String("arg", "world", "client: argument")
	hold := fs.Bool("hold", false, `client: after "done", wait until stdin closes (the tests inspect the live process)`)
	fs.Parse(os.Args[2:])
	switch os.Args[1] {
	case "server":
		ins, err := dubbo.NewInstance(dubbo.WithName("govoy-rpc-peer-"+*name), dubbo.WithRemoteMetadata())
		if err != nil {
			log.Fatal(err)
		}
		srv, err := ins.NewServer(server.WithServerProtocol(protocol.WithDubbo(), protocol.WithIp(*ip), protocol.WithPort(*port)))
		if err != nil {
			log.Fatal(err)
		}
		opts := []server.ServiceOption{server.WithInterface(*intf), server.WithNotRegister()}
		if *version != "" {
			opts = append(opts, server.WithVersion(*version))
		}
		if *group != "" {
			opts = append(opts, server.WithGroup(*group))
		}
		// A nil *ServiceInfo panics in v3.3.0's export (typed nil in a sync.Map); an empty one makes
		// the dubbo protocol find methods by reflection, as with no info.
		info := &common.ServiceInfo{InterfaceName: *intf}
		if err := srv.Register(&Greeter{name: *name, delay: *delay}, info, opts...); err != nil {
			log.Fatal(err)
		}
		log.Fatal(srv.Serve())
	case "client":
		cli, err := client.NewClient(
			client.WithClientURL("dubbo://"+*addr),
			client.WithClientProtocolDubbo(),
			client.WithClientSerialization(constant.Hessian2Serialization),
			client.WithClientRetries(0),
		)
		if err != nil {
			log.Fatal(err)
		}
		var ro []client.ReferenceOption
		if *version != "" {
			ro = append(ro, client.WithVersion(*version))
		}
		if *group != "" {
			ro = append(ro, client.WithGroup(*group))
		}
		ro = append(ro, client.WithRequestTimeout(*timeout))
		conn, err := cli.Dial(*intf, ro...)
		if err != nil {
			log.Fatal(err)
		}
		for i := 0; i < *n; i++ {
			var resp string
			ctx, cancel := context.WithTimeout(context.Background(), *timeout+5*time.Second)
			err := conn.CallUnary(ctx, []any{*arg}, &resp, "Greet")
			cancel()
			if err != nil {
				fmt.Println("err", strings.ReplaceAll(err.Error(), "\n", " "))
			} else {
				fmt.Println("ok", resp)
			}
		}
		fmt.Println("done")
		if *hold {
			io.Copy(io.Discard, os.Stdin)
		}
	default:
		log.Fatalf("unknown mode %q", os.Args[1])
	}
}
