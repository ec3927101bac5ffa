package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"go.uber.org/zap/zaptest"

	"github.com/govoy/govoy/xds-bridge/internal/testenv"
	"github.com/govoy/govoy/xds-bridge/model"
)

const (
	greeter = "org.apache.dubbo.demo.GreeterService"
	hello   = "com.alipay.sofa.rpc.HelloService"
	bound   = 60 * time.Second
)

// registrant is a separate ZooKeeper session acting as a provider (or an admin writing rules).
type registrant struct {
	t    *testing.T
	conn *zk.Conn
}

func newRegistrant(t *testing.T, addr string, session time.Duration) *registrant {
	t.Helper()
	conn, _, err := zk.Connect([]string{addr}, session, zk.WithLogInfo(false), zk.WithLogger(nopLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	return &registrant{t: t, conn: conn}
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}

// ensure creates the persistent parents of p, as Dubbo and SOFA do before registering.
func (r *registrant) ensure(p string) {
	r.t.Helper()
	if p == "/" {
		return
	}
	r.ensure(path.Dir(p))
	_, err := r.conn.Create(p, nil, 0, zk.WorldACL(zk.PermAll))
	if err != nil && !errors.Is(err, zk.ErrNodeExists) {
		r.t.Fatalf("create %s: %v", p, err)
	}
}

func (r *registrant) create(p string, data []byte, flags int32) {
	r.t.Helper()
	r.ensure(path.Dir(p))
	if _, err := r.conn.Create(p, data, flags, zk.WorldACL(zk.PermAll)); err != nil {
		r.t.Fatalf("create %s: %v", p, err)
	}
}

func (r *registrant) remove(p string) {
	r.t.Helper()
	if err := r.conn.Delete(p, -1); err != nil {
		r.t.Fatalf("delete %s: %v", p, err)
	}
}

func dubboProviderPath(ip string, port int, extra string) string {
	return "/dubbo/" + greeter + "/providers/" + dubboURL(fmt.Sprintf("%s:%d", ip, port), greeter, extra)
}

func startSource(t *testing.T, cfg Config) (*testenv.RecordingSink, context.CancelFunc) {
	t.Helper()
	cfg.Logger = zaptest.NewLogger(t)
	src, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sink := testenv.NewRecordingSink()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink) }()
	stop := func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	}
	t.Cleanup(stop)
	return sink, stop
}

func endpointsOf(st map[string]model.Service, name string) map[string]model.Endpoint {
	out := map[string]model.Endpoint{}
	for _, e := range st[name].Endpoints {
		out[fmt.Sprintf("%s:%d", e.Address, e.Port)] = e
	}
	return out
}

func TestDubboInterfaceLevel(t *testing.T) {
	z := testenv.StartZooKeeper(t)
	admin := newRegistrant(t, z.Addr, 4*time.Second)
	p1 := newRegistrant(t, z.Addr, 2*time.Second)
	p2 := newRegistrant(t, z.Addr, 2*time.Second)
	p1.create(dubboProviderPath("127.0.0.2", 20880, "version=1.0.0&group=g1&weight=100"), nil, zk.FlagEphemeral)
	p2.create(dubboProviderPath("127.0.0.3", 20880, "version=2.0.0&group=g1"), nil, zk.FlagEphemeral)
	// Dubbo 3 creates these too; they are not interfaces.
	admin.ensure("/dubbo/mapping/" + greeter)
	admin.ensure("/dubbo/config/dubbo")

	sink, _ := startSource(t, Config{Name: "zk", Servers: []string{z.Addr}, SessionTimeout: 2 * time.Second,
		Roots: []Root{{Path: "/dubbo", Layout: LayoutDubbo}}})
	svc := "dubbo:" + greeter
	sink.WaitFor(t, bound, "both providers", func(st map[string]model.Service, _ []testenv.Call) bool {
		return len(endpointsOf(st, svc)) == 2
	})
	if calls := sink.Calls(); calls[0].Kind != "replace" {
		t.Fatalf("first call %s, want replace", calls[0].Kind)
	}
	st := sink.State()
	if len(st) != 1 {
		t.Fatalf("want only %s, got %v", svc, st)
	}
	e := endpointsOf(st, svc)["127.0.0.2:20880"]
	if e.Weight != 100 || !e.Healthy || e.Metadata[model.MetaVersion] != "1.0.0" || e.Metadata[model.MetaGroup] != "g1" ||
		e.Metadata[model.MetaApplication] != "demo-provider" {
		t.Fatalf("endpoint %+v", e)
	}
	if got := strings.Join(st[svc].Methods, ","); got != "sayBye,sayHello" {
		t.Fatalf("methods %s", got)
	}

	// Configurators: weight for one host, disable another.
	admin.create("/dubbo/"+greeter+"/configurators/"+enc("override://127.0.0.2/"+greeter+"?category=configurators&dynamic=false&enabled=true&weight=40"), nil, 0)
	sink.WaitFor(t, bound, "weight override", func(st map[string]model.Service, _ []testenv.Call) bool {
		return endpointsOf(st, svc)["127.0.0.2:20880"].Weight == 40
	})
	disable := "/dubbo/" + greeter + "/configurators/" + enc("override://127.0.0.3:20880/"+greeter+"?category=configurators&disabled=true")
	admin.create(disable, nil, 0)
	sink.WaitFor(t, bound, "disabled provider gone", func(st map[string]model.Service, _ []testenv.Call) bool {
		_, ok := endpointsOf(st, svc)["127.0.0.3:20880"]
		return !ok && len(endpointsOf(st, svc)) == 1
	})
	admin.remove(disable)
	sink.WaitFor(t, bound, "re-enabled provider", func(st map[string]model.Service, _ []testenv.Call) bool {
		return len(endpointsOf(st, svc)) == 2
	})

	// A provider removing its node, then another one's session ending.
	p3 := newRegistrant(t, z.Addr, 2*time.Second)
	node := dubboProviderPath("127.0.0.4", 20881, "version=2.0.0")
	p3.create(node, nil, zk.FlagEphemeral)
	sink.WaitFor(t, bound, "third provider", func(st map[string]model.Service, _ []testenv.Call) bool {
		return len(endpointsOf(st, svc)) == 3
	})
	p3.remove(node)
	sink.WaitFor(t, bound, "third provider removed", func(st map[string]model.Service, _ []testenv.Call) bool {
		return len(endpointsOf(st, svc)) == 2
	})
	p2.conn.Close()
	sink.WaitFor(t, bound, "closed session's provider gone", func(st map[string]model.Service, _ []testenv.Call) bool {
		_, ok := endpointsOf(st, svc)["127.0.0.3:20880"]
		return !ok && len(endpointsOf(st, svc)) == 1
	})
	// A provider whose session really expires (cut off past its timeout) disappears too.
	proxy := testenv.NewProxy(t, z.Addr)
	p4 := newRegistrant(t, proxy.Addr, time.Second)
	p4.create(dubboProviderPath("127.0.0.6", 20880, "version=2.0.0"), nil, zk.FlagEphemeral)
	sink.WaitFor(t, bound, "cut-off provider registered", func(st map[string]model.Service, _ []testenv.Call) bool {
		return len(endpointsOf(st, svc)) == 2
	})
	proxy.Block()
	sink.WaitFor(t, bound, "expired provider gone", func(st map[string]model.Service, _ []testenv.Call) bool {
		_, ok := endpointsOf(st, svc)["127.0.0.6:20880"]
		return !ok && len(endpointsOf(st, svc)) == 1
	})
	// Last provider gone: the service goes (the store decides whether to hold it).
	p1.conn.Close()
	sink.WaitFor(t, bound, "service deleted", func(st map[string]model.Service, _ []testenv.Call) bool {
		_, ok := st[svc]
		return !ok
	})
	if n := sink.Count("replace"); n != 1 {
		t.Fatalf("%d replaces, want only the first sync", n)
	}
	// Interface node removed entirely, then registered again: watches follow.
	admin.remove("/dubbo/" + greeter + "/configurators/" + enc("override://127.0.0.2/"+greeter+"?category=configurators&dynamic=false&enabled=true&weight=40"))
	admin.remove("/dubbo/" + greeter + "/configurators")
	admin.remove("/dubbo/" + greeter + "/providers")
	admin.create(dubboProviderPath("127.0.0.5", 20880, "version=3.0.0"), nil, zk.FlagEphemeral)
	sink.WaitFor(t, bound, "re-created interface", func(st map[string]model.Service, _ []testenv.Call) bool {
		_, ok := endpointsOf(st, svc)["127.0.0.5:20880"]
		return ok
	})
}

func TestAppLevelAndSofa(t *testing.T) {
	z := testenv.StartZooKeeper(t)
	p := newRegistrant(t, z.Addr, 2*time.Second)
	p.create("/services/demo-provider/127.0.0.6:20880",
		[]byte(instanceJSON("demo-provider", "127.0.0.6", 20880, `[{"port":20880,"protocol":"dubbo"},{"port":50051,"protocol":"tri"}]`)),
		zk.FlagEphemeral)
	p.create("/dubbo/mapping/"+greeter, []byte("demo-provider"), 0)
	p.create("/sofa-rpc/"+hello+"/providers/"+enc("bolt://127.0.0.7:12200?appName=sofa-app&weight=100&interface="+hello+"&serialization=hessian2&protocol=bolt&version=1.0&uniqueId=blue"),
		nil, zk.FlagEphemeral)

	sink, _ := startSource(t, Config{Name: "zk", Servers: []string{z.Addr}, SessionTimeout: 2 * time.Second,
		Roots: []Root{{Path: "/services", Layout: LayoutDubboApp}, {Path: "/sofa-rpc", Layout: LayoutSofa}}})
	sink.WaitFor(t, bound, "app and sofa services", func(st map[string]model.Service, _ []testenv.Call) bool {
		return len(st) == 3
	})
	st := sink.State()
	app := st["app:demo-provider:tri"]
	if app.Protocol != model.ProtocolTri || strings.Join(app.Interfaces, ",") != greeter ||
		len(app.Endpoints) != 1 || app.Endpoints[0].Port != 50051 || app.Endpoints[0].Address != "127.0.0.6" {
		t.Fatalf("app service %+v", app)
	}
	sofa := st["bolt:"+hello]
	if sofa.Protocol != model.ProtocolBolt || sofa.Endpoints[0].Metadata[model.MetaGroup] != "blue" {
		t.Fatalf("sofa service %+v", sofa)
	}

	// Mapping change (data watch), instance data change, second instance, instance gone.
	if _, err := p.conn.Set("/dubbo/mapping/"+greeter, []byte("demo-provider,other"), -1); err != nil {
		t.Fatal(err)
	}
	p.create("/dubbo/mapping/org.apache.dubbo.demo.EchoService", []byte("demo-provider"), 0)
	sink.WaitFor(t, bound, "mapping update", func(st map[string]model.Service, _ []testenv.Call) bool {
		return len(st["app:demo-provider:dubbo"].Interfaces) == 2
	})
	if _, err := p.conn.Set("/services/demo-provider/127.0.0.6:20880",
		[]byte(instanceJSON("demo-provider", "127.0.0.6", 20880, `[{"port":20880,"protocol":"dubbo"}]`)), -1); err != nil {
		t.Fatal(err)
	}
	sink.WaitFor(t, bound, "tri endpoint dropped", func(st map[string]model.Service, _ []testenv.Call) bool {
		_, tri := st["app:demo-provider:tri"]
		return !tri
	})
	p2 := newRegistrant(t, z.Addr, 2*time.Second)
	p2.create("/services/demo-provider/127.0.0.8:20880",
		[]byte(instanceJSON("demo-provider", "127.0.0.8", 20880, `[{"port":20880,"protocol":"dubbo"}]`)), zk.FlagEphemeral)
	sink.WaitFor(t, bound, "second instance", func(st map[string]model.Service, _ []testenv.Call) bool {
		return len(st["app:demo-provider:dubbo"].Endpoints) == 2
	})
	p2.conn.Close()
	sink.WaitFor(t, bound, "second instance gone", func(st map[string]model.Service, _ []testenv.Call) bool {
		return len(st["app:demo-provider:dubbo"].Endpoints) == 1
	})
}

// The source's own session expires (it is cut off longer than the session timeout): on the new
// session it re-reads everything and states the world with one Replace, changes made meanwhile
// included; while cut off it reports an error and changes nothing.
func TestOwnSessionExpiryResyncs(t *testing.T) {
	z := testenv.StartZooKeeper(t)
	proxy := testenv.NewProxy(t, z.Addr)
	p1 := newRegistrant(t, z.Addr, 10*time.Second)
	p1.create(dubboProviderPath("127.0.0.2", 20880, "version=1.0.0"), nil, zk.FlagEphemeral)

	sink, _ := startSource(t, Config{Name: "zk", Servers: []string{proxy.Addr}, SessionTimeout: 2 * time.Second,
		Roots: []Root{{Path: "/dubbo", Layout: LayoutDubbo}}})
	svc := "dubbo:" + greeter
	sink.WaitFor(t, bound, "first sync", func(st map[string]model.Service, _ []testenv.Call) bool {
		return len(endpointsOf(st, svc)) == 1
	})

	proxy.Block()
	sink.WaitFor(t, bound, "connection loss reported", func(_ map[string]model.Service, calls []testenv.Call) bool {
		return calls[len(calls)-1].Kind == "error"
	})
	p2 := newRegistrant(t, z.Addr, 10*time.Second)
	p2.create(dubboProviderPath("127.0.0.3", 20880, "version=1.0.0"), nil, zk.FlagEphemeral)
	// Stay cut off well past the session timeout so the server expires the session.
	time.Sleep(5 * time.Second)
	if sink.Count("replace") != 1 || sink.Count("delete") != 0 || len(endpointsOf(sink.State(), svc)) != 1 {
		t.Fatalf("state changed while cut off: %v", sink.Calls())
	}
	proxy.Unblock()
	sink.WaitFor(t, bound, "resync with Replace", func(st map[string]model.Service, calls []testenv.Call) bool {
		return len(endpointsOf(st, svc)) == 2 && calls[len(calls)-1].Kind == "replace"
	})
	if n := sink.Count("replace"); n != 2 {
		t.Fatalf("%d replaces, want 2", n)
	}
	// Watches are armed again in the new session.
	p2.conn.Close()
	sink.WaitFor(t, bound, "watch after resync", func(st map[string]model.Service, _ []testenv.Call) bool {
		return len(endpointsOf(st, svc)) == 1
	})
}

// ZooKeeper killed and restarted: the last view stands (an error, no Replace, no Delete), then the
// source follows changes again.
func TestRegistryRestartKeepsLastKnownGood(t *testing.T) {
	z := testenv.StartZooKeeper(t)
	// The provider's long session outlives the restart, as in production, however slow the JVM is
	// to come back on a loaded machine. The source's session may or may not survive: either way it
	// must not state an empty world or delete anything. (A short source session also keeps the zk
	// client's connect-response wait, 10x two thirds of the session timeout, well inside the bound.)
	p1 := newRegistrant(t, z.Addr, 30*time.Second)
	p1.create(dubboProviderPath("127.0.0.2", 20880, "version=1.0.0"), nil, zk.FlagEphemeral)
	sink, _ := startSource(t, Config{Name: "zk", Servers: []string{z.Addr}, SessionTimeout: 3 * time.Second,
		Roots: []Root{{Path: "/dubbo", Layout: LayoutDubbo}}})
	svc := "dubbo:" + greeter
	sink.WaitFor(t, bound, "first sync", func(st map[string]model.Service, _ []testenv.Call) bool {
		return len(endpointsOf(st, svc)) == 1
	})

	z.Kill()
	sink.WaitFor(t, bound, "loss reported", func(_ map[string]model.Service, calls []testenv.Call) bool {
		return calls[len(calls)-1].Kind == "error"
	})
	if sink.Count("replace") != 1 || sink.Count("delete") != 0 || len(endpointsOf(sink.State(), svc)) != 1 {
		t.Fatalf("state changed while ZooKeeper was down: %v", sink.Calls())
	}
	z.Restart(t)
	p2 := newRegistrant(t, z.Addr, 30*time.Second)
	p2.create(dubboProviderPath("127.0.0.3", 20880, "version=1.0.0"), nil, zk.FlagEphemeral)
	sink.WaitFor(t, bound, "recovery", func(st map[string]model.Service, _ []testenv.Call) bool {
		return len(endpointsOf(st, svc)) == 2
	})
	for _, c := range sink.Calls() {
		if c.Kind == "replace" && len(c.Services) == 0 {
			t.Fatalf("empty Replace after restart: %v", sink.Calls())
		}
		if c.Kind == "delete" {
			t.Fatalf("delete after restart: %v", sink.Calls())
		}
	}
}

func TestNoServerReportsError(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	sink, _ := startSource(t, Config{Name: "zk", Servers: []string{addr}, SessionTimeout: time.Second,
		Roots: []Root{{Path: "/dubbo", Layout: LayoutDubbo}}})
	sink.WaitFor(t, bound, "error without a server", func(_ map[string]model.Service, calls []testenv.Call) bool {
		return len(calls) > 0 && calls[0].Kind == "error" && strings.Contains(calls[0].Err.Error(), "no session")
	})
	if sink.Count("replace") != 0 {
		t.Fatal("replace without a server")
	}
}

// An ACL-protected registry is read with digest credentials, as Dubbo's registry username/password.
func TestDigestAuth(t *testing.T) {
	z := testenv.StartZooKeeper(t)
	admin := newRegistrant(t, z.Addr, 4*time.Second)
	if err := admin.conn.AddAuth("digest", []byte("dubbo:secret")); err != nil {
		t.Fatal(err)
	}
	acl := zk.DigestACL(zk.PermAll, "dubbo", "secret")
	p := "/dubbo"
	for _, part := range []string{greeter, "providers"} {
		if _, err := admin.conn.Create(p, nil, 0, acl); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			t.Fatal(err)
		}
		p += "/" + part
	}
	if _, err := admin.conn.Create(p, nil, 0, acl); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.conn.Create(dubboProviderPath("127.0.0.2", 20880, "version=1.0.0"), nil, zk.FlagEphemeral, acl); err != nil {
		t.Fatal(err)
	}
	sink, _ := startSource(t, Config{Name: "zk", Servers: []string{z.Addr}, SessionTimeout: 2 * time.Second,
		Roots: []Root{{Path: "/dubbo", Layout: LayoutDubbo}}, Username: "dubbo", Password: "secret"})
	sink.WaitFor(t, bound, "provider behind ACL", func(st map[string]model.Service, calls []testenv.Call) bool {
		return len(endpointsOf(st, "dubbo:"+greeter)) == 1
	})
	if calls := sink.Calls(); calls[0].Kind != "replace" || len(calls[0].Services) != 1 {
		t.Fatalf("first call must be a Replace with the protected service: %v", calls)
	}

	// Without credentials the same znodes cannot be read: nothing is made up.
	anon, _ := startSource(t, Config{Name: "zk2", Servers: []string{z.Addr}, SessionTimeout: 2 * time.Second,
		Roots: []Root{{Path: "/dubbo", Layout: LayoutDubbo}}})
	anon.WaitFor(t, bound, "anonymous source reports the ACL", func(_ map[string]model.Service, calls []testenv.Call) bool {
		for _, c := range calls {
			if c.Kind == "error" && strings.Contains(c.Err.Error(), "not authenticated") {
				return true
			}
		}
		return false
	})
	if st := anon.State(); len(st) != 0 {
		t.Fatalf("anonymous source read protected data: %v", st)
	}
}

// A burst of registrations and removals while the source is reading: watches are re-armed after
// every event, so the final view is exact.
func TestBurstOfProviders(t *testing.T) {
	z := testenv.StartZooKeeper(t)
	p := newRegistrant(t, z.Addr, 4*time.Second)
	p.ensure("/dubbo/" + greeter + "/providers")
	sink, _ := startSource(t, Config{Name: "zk", Servers: []string{z.Addr}, SessionTimeout: 2 * time.Second,
		Roots: []Root{{Path: "/dubbo", Layout: LayoutDubbo}}})
	sink.WaitFor(t, bound, "first sync", func(_ map[string]model.Service, calls []testenv.Call) bool { return len(calls) > 0 })
	const n = 120
	var paths []string
	for i := range n {
		node := dubboProviderPath(fmt.Sprintf("127.0.%d.%d", 1+i/200, 1+i%200), 20880, "version=1.0.0")
		p.create(node, nil, zk.FlagEphemeral)
		paths = append(paths, node)
		if i%3 == 2 {
			p.remove(paths[i-1]) // interleave removals
		}
	}
	svc := "dubbo:" + greeter
	want := n - n/3
	sink.WaitFor(t, bound, fmt.Sprintf("%d providers", want), func(st map[string]model.Service, _ []testenv.Call) bool {
		return len(endpointsOf(st, svc)) == want
	})
	for i, node := range paths {
		if i%3 != 1 {
			p.remove(node)
		}
	}
	sink.WaitFor(t, bound, "all removed", func(st map[string]model.Service, _ []testenv.Call) bool {
		_, ok := st[svc]
		return !ok
	})
}
