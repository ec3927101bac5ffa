// Command dubbogo is a real dubbo-go v3.3.0 provider (dubbo protocol, hessian2) that the gateway's
// end-to-end test calls through the HTTP-TCP bridge with generic invocations ($invoke). It serves
// org.example.GatewayService (version 1.0.0, group g1) on 127.0.0.1:-port and prints
// "LISTENING 127.0.0.1:port" once the port accepts connections.
//
//	go build -o /tmp/dubbogo . && /tmp/dubbogo -port 20880
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"strconv"
	"time"

	"dubbo.apache.org/dubbo-go/v3"
	"dubbo.apache.org/dubbo-go/v3/common"
	_ "dubbo.apache.org/dubbo-go/v3/imports"
	"dubbo.apache.org/dubbo-go/v3/protocol"
	"dubbo.apache.org/dubbo-go/v3/server"
	hessian "github.com/apache/dubbo-go-hessian2"
)

// User is a POJO: generic callers send and receive it as a map with a "class" key.
type User struct {
	ID   int32
	Name string
	Tags []string
}

func (User) JavaClassName() string { return "org.example.User" }

// GatewayService is the provider; each method exercises one kind of value.
type GatewayService struct{}

func (GatewayService) SayHello(_ context.Context, name string, times int32) (string, error) {
	return fmt.Sprintf("hello %s x%d", name, times), nil
}

func (GatewayService) GetUser(_ context.Context, id int32) (*User, error) {
	return &User{ID: id, Name: "user-" + strconv.Itoa(int(id)), Tags: []string{"a", "b"}}, nil
}

func (GatewayService) Rename(_ context.Context, u *User, name string) (*User, error) {
	if u == nil {
		return nil, errors.New("no user")
	}
	u.Name = name
	return u, nil
}

func (GatewayService) Fail(_ context.Context, msg string) (string, error) {
	return "", errors.New("provider failed: " + msg)
}

func main() {
	port := flag.Int("port", 0, "listen port on 127.0.0.1")
	flag.Parse()
	if *port <= 0 {
		log.Fatal("-port is required")
	}
	hessian.RegisterPOJO(&User{})
	// Remote metadata: no registry here, and the local MetadataService would bind the same port on
	// every interface.
	ins, err := dubbo.NewInstance(dubbo.WithName("govoy-gateway-peer"), dubbo.WithRemoteMetadata())
	if err != nil {
		log.Fatal(err)
	}
	srv, err := ins.NewServer(server.WithServerProtocol(protocol.WithDubbo(), protocol.WithIp("127.0.0.1"), protocol.WithPort(*port)))
	if err != nil {
		log.Fatal(err)
	}
	// A non-nil ServiceInfo without methods: v3.3.0's Register stores a typed nil otherwise and
	// Serve dereferences it; the methods still come from reflection on the handler.
	info := &common.ServiceInfo{InterfaceName: "org.example.GatewayService"}
	if err := srv.Register(&GatewayService{}, info, server.WithInterface("org.example.GatewayService"),
		server.WithVersion("1.0.0"), server.WithGroup("g1"), server.WithNotRegister()); err != nil {
		log.Fatal(err)
	}
	go func() {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(*port))
		for i := 0; i < 300; i++ {
			if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				c.Close()
				fmt.Println("LISTENING", addr)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		log.Fatal("provider did not start listening")
	}()
	if err := srv.Serve(); err != nil {
		log.Fatal(err)
	}
}
