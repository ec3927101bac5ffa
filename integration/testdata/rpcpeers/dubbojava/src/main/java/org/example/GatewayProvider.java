package org.example;

import java.util.Arrays;
import org.apache.dubbo.config.RegistryConfig;
import org.apache.dubbo.config.ServiceConfig;
import org.apache.dubbo.config.bootstrap.DubboBootstrap;

/**
 * Serves GatewayService (version 1.0.0, group g1) on 127.0.0.1:PORT for the HTTP-to-Dubbo
 * gateway's test (integration/gateway_test.go) and prints "LISTENING 127.0.0.1:PORT" once exported.
 */
public final class GatewayProvider {
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
            System.err.println("usage: GatewayProvider PORT");
            System.exit(2);
        }
        int port = Integer.parseInt(args[0]);
        ServiceConfig<GatewayService> svc = new ServiceConfig<>();
        svc.setInterface(GatewayService.class);
        svc.setRef(new Impl());
        svc.setVersion("1.0.0");
        svc.setGroup("g1");
        DubboBootstrap.getInstance().application(Dubbo.application("govoy-gateway-java"))
            .registry(new RegistryConfig(RegistryConfig.NO_AVAILABLE))
            .protocol(Dubbo.protocol(port, 0)).service(svc).start();
        System.out.println("LISTENING 127.0.0.1:" + port);
        System.out.flush();
        Thread.currentThread().join(); // serve until killed
    }
}
