package zookeeper

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/govoy/govoy/xds-bridge/model"
)

func enc(s string) string { return url.QueryEscape(s) }

func dubboURL(addr, iface, extra string) string {
	return enc(fmt.Sprintf("dubbo://%s/%s?anyhost=true&application=demo-provider&interface=%s&methods=sayHello,sayBye&side=provider&%s",
		addr, iface, iface, extra))
}

func TestBuildDubboInterfaceLevel(t *testing.T) {
	const iface = "org.apache.dubbo.demo.Greeter"
	s := newSnapshot()
	put(s.dubboProviders, "/dubbo", iface, []string{
		dubboURL("127.0.0.2:20880", iface, "version=1.0.0&group=g1&weight=60"),
		dubboURL("127.0.0.3:20880", iface, "version=2.0.0"),
		dubboURL("127.0.0.4:20880", iface, "version=2.0.0"),
		dubboURL("provider.example:20880", iface, "version=2.0.0"),
		dubboURL("127.0.0.9:20880", iface, "version=2.0.0&disabled=true"),
		enc("tri://127.0.0.2:50051/" + iface + "?application=demo-provider&methods=sayHello"),
		enc("injvm://127.0.0.2:1/" + iface),
	})
	put(s.dubboConfigurators, "/dubbo", iface, []string{
		enc("override://0.0.0.0/" + iface + "?category=configurators&dynamic=false&enabled=true&weight=30&version=2.0.0"),
		enc("override://127.0.0.3:20880/" + iface + "?category=configurators&weight=90"),
		enc("override://127.0.0.4/" + iface + "?category=configurators&disabled=true"),
		enc("override://127.0.0.2/" + iface + "?category=configurators&enabled=false&disabled=true"),
	})
	svcs, skipped := build(s, nil)
	if len(svcs) != 2 {
		t.Fatalf("want dubbo and tri services, got %+v", svcs)
	}
	d := svcs[0]
	if d.Name != "dubbo:"+iface || d.Protocol != model.ProtocolDubbo || d.Interfaces[0] != iface {
		t.Fatalf("dubbo service %+v", d)
	}
	if len(d.Endpoints) != 2 {
		t.Fatalf("want 2 dubbo endpoints (127.0.0.4 disabled, hostname skipped), got %+v", d.Endpoints)
	}
	e0, e1 := d.Endpoints[0], d.Endpoints[1]
	if e0.Address != "127.0.0.2" || e0.Port != 20880 || e0.Weight != 60 || e0.Metadata["version"] != "1.0.0" ||
		e0.Metadata["group"] != "g1" || e0.Metadata["application"] != "demo-provider" {
		t.Errorf("endpoint 0 %+v (the 0.0.0.0 override matches only version 2.0.0; the disabled rule is off)", e0)
	}
	if e1.Address != "127.0.0.3" || e1.Weight != 90 {
		t.Errorf("endpoint 1 %+v: host-specific override must win over 0.0.0.0", e1)
	}
	if !slices.Contains(d.Methods, "sayHello") || !slices.Contains(d.Methods, "sayBye") {
		t.Errorf("methods %v", d.Methods)
	}
	if svcs[1].Name != "tri:"+iface || svcs[1].Protocol != model.ProtocolTri {
		t.Errorf("tri service %+v", svcs[1])
	}
	joined := strings.Join(skipped, "\n")
	if !strings.Contains(joined, "provider.example") || !strings.Contains(joined, "injvm") {
		t.Errorf("skipped reasons should name the hostname and the unproxied protocol: %s", joined)
	}
}

func TestBuildSofa(t *testing.T) {
	const iface = "com.alipay.sofa.HelloService"
	s := newSnapshot()
	put(s.sofaProviders, "/sofa-rpc", iface, []string{
		enc("bolt://127.0.0.5:12200?accepts=100000&appName=sofa-app&weight=200&language=java&pid=1&interface=" + iface +
			"&timeout=3000&serialization=hessian2&protocol=bolt&version=1.0&uniqueId=blue&dynamic=true"),
	})
	svcs, _ := build(s, nil)
	if len(svcs) != 1 || svcs[0].Name != "bolt:"+iface || svcs[0].Protocol != model.ProtocolBolt {
		t.Fatalf("got %+v", svcs)
	}
	e := svcs[0].Endpoints[0]
	if e.Address != "127.0.0.5" || e.Port != 12200 || e.Weight != 128 || e.Metadata["group"] != "blue" ||
		e.Metadata["version"] != "1.0" || e.Metadata["application"] != "sofa-app" || e.Metadata["serialization"] != "hessian2" {
		t.Fatalf("endpoint %+v", e)
	}
}

func TestBuildAppLevel(t *testing.T) {
	s := newSnapshot()
	s.appInstances["/services/demo-provider/127.0.0.6:20880"] = []byte(instanceJSON("demo-provider", "127.0.0.6", 20880,
		`[{"port":20880,"protocol":"dubbo"},{"port":50051,"protocol":"tri"}]`))
	s.appInstances["/services/demo-provider/bad"] = []byte(`{"name":"demo-provider","address":"host.example","port":1}`)
	s.mappings["org.apache.dubbo.demo.Greeter"] = []byte("demo-provider,other-app")
	s.mappings["org.apache.dubbo.demo.Echo"] = []byte("demo-provider")
	svcs, skipped := build(s, nil)
	if len(svcs) != 2 || svcs[0].Name != "app:demo-provider:dubbo" || svcs[1].Name != "app:demo-provider:tri" {
		t.Fatalf("got %+v", svcs)
	}
	if got := strings.Join(svcs[0].Interfaces, ","); got != "org.apache.dubbo.demo.Echo,org.apache.dubbo.demo.Greeter" {
		t.Errorf("interfaces %s", got)
	}
	if e := svcs[1].Endpoints[0]; e.Address != "127.0.0.6" || e.Port != 50051 || e.Metadata["revision"] != "abc123" ||
		e.Metadata["application"] != "demo-provider" {
		t.Errorf("tri endpoint %+v", e)
	}
	if len(skipped) != 1 || !strings.Contains(skipped[0], "host.example") {
		t.Errorf("skipped %v", skipped)
	}
}

func instanceJSON(app, ip string, port int, endpoints string) string {
	eps := strconv.Quote(endpoints)
	return fmt.Sprintf(`{"name":%q,"id":"%s:%d","address":%q,"port":%d,"sslPort":null,"payload":{"@class":"org.apache.dubbo.registry.zookeeper.ZookeeperInstance","id":"%s:%d","name":%q,"metadata":{"dubbo.endpoints":%s,"dubbo.metadata.revision":"abc123","dubbo.metadata.storage-type":"local"}},"registrationTimeUTC":1700000000000,"serviceType":"DYNAMIC","uriSpec":null}`,
		app, ip, port, ip, port, ip, port, app, eps)
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Name: "zk", Servers: []string{"127.0.0.1:2181"}, Roots: []Root{{Path: "/dubbo", Layout: LayoutDubbo}}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := map[string]func(*Config){
		"name":            func(c *Config) { c.Name = "" },
		"servers":         func(c *Config) { c.Servers = nil },
		"servers[0]":      func(c *Config) { c.Servers = []string{"zk:2181/chroot"} },
		"session_timeout": func(c *Config) { c.SessionTimeout = -1 },
		"roots":           func(c *Config) { c.Roots = nil },
		"roots[0]":        func(c *Config) { c.Roots = []Root{{Path: "dubbo", Layout: LayoutDubbo}} },
		"roots[1]":        func(c *Config) { c.Roots = append(c.Roots, Root{Path: "/x", Layout: "eureka"}) },
		"mapping_root":    func(c *Config) { c.MappingRoot = "/m/" },
	}
	for field, mut := range bad {
		c := ok
		c.Roots = append([]Root(nil), ok.Roots...)
		mut(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), field+":") {
			t.Errorf("%s: got %v", field, err)
		}
	}
	for in, want := range map[string]Root{
		"/dubbo":             {Path: "/dubbo", Layout: LayoutDubbo},
		"/services":          {Path: "/services", Layout: LayoutDubboApp},
		"/sofa-rpc":          {Path: "/sofa-rpc", Layout: LayoutSofa},
		"dubbo=/dubbo-gray":  {Path: "/dubbo-gray", Layout: LayoutDubbo},
		"dubbo-app=/svc/app": {Path: "/svc/app", Layout: LayoutDubboApp},
	} {
		if got, err := ParseRoot(in); err != nil || got != want {
			t.Errorf("ParseRoot(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseRoot("/registry"); err == nil {
		t.Error("ParseRoot(/registry) must ask for a layout")
	}
}
