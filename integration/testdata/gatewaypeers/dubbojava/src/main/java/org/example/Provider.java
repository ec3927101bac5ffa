package org.example;

import java.util.Arrays;
import org.apache.dubbo.config.ApplicationConfig;
import org.apache.dubbo.config.ProtocolConfig;
import org.apache.dubbo.config.RegistryConfig;
import org.apache.dubbo.config.ServiceConfig;
import org.apache.dubbo.config.bootstrap.DubboBootstrap;

/**
 * Serves GatewayService (version 1.0.0, group g1) on 127.0.0.1:PORT and prints "LISTENING
 * 127.0.0.1:PORT" when exported. Run with a hosts file mapping the machine's name to 127.0.0.1 so
 * Dubbo finds no other address: java -Djdk.net.hosts.file=FILE -Ddubbo.network.interface.ignored=.* ...
 */
public final class Provider {

    static final class Impl implements GatewayService {
        public String sayHello(String name, int times) { return "hello " + name + " x" + times; }

        public User getUser(int id) {
            User u = new User();
            u.setId(id);
            u.setName("user-" + id);
            u.setTags(Arrays.asList("a", "b"));
            return u;
        }

        public User rename(User user, String name) {
            user.setName(name);
            return user;
        }

        public String fail(String msg) { throw new IllegalStateException("provider failed: " + msg); }
    }

    public static void main(String[] args) throws InterruptedException {
        if (args.length != 1) {
            System.err.println("usage: Provider PORT");
            System.exit(2);
        }
        ApplicationConfig app = new ApplicationConfig("govoy-gateway-java");
        app.setQosEnable(false); // its fixed port would clash between parallel tests
        ProtocolConfig protocol = new ProtocolConfig("dubbo", Integer.parseInt(args[0]));
        protocol.setHost("127.0.0.1");
        // Dubbo 3.2 prefers fastjson2 (serialization id 23) for what it writes on its own, e.g.
        // error responses; the gateway reads hessian2 only.
        protocol.setSerialization("hessian2");
        protocol.setPreferSerialization("hessian2");
        // Bind the socket to loopback too: with anyhost Dubbo binds 0.0.0.0.
        protocol.setParameters(java.util.Collections.singletonMap("anyhost", "false"));
        ServiceConfig<GatewayService> svc = new ServiceConfig<>();
        svc.setInterface(GatewayService.class);
        svc.setRef(new Impl());
        svc.setVersion("1.0.0");
        svc.setGroup("g1");
        DubboBootstrap.getInstance().application(app).registry(new RegistryConfig("N/A"))
            .protocol(protocol).service(svc).start();
        System.out.println("LISTENING 127.0.0.1:" + args[0]);
        System.out.flush();
        Thread.currentThread().join(); // serve until killed
    }
}
