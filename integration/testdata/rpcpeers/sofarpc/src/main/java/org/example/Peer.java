package org.example;

import com.alipay.sofa.rpc.config.ApplicationConfig;
import com.alipay.sofa.rpc.config.ConsumerConfig;
import com.alipay.sofa.rpc.config.ProviderConfig;
import com.alipay.sofa.rpc.config.ServerConfig;

/**
 * SOFARPC bolt peers on loopback.
 *
 * <pre>
 * Peer server PORT NAME UNIQUE_ID        serves HelloService.sayHello(x) = NAME:x, prints READY
 * Peer client HOST:PORT UNIQUE_ID N ARG   calls N times, prints "ok RESULT" or "err CLASS: MESSAGE", then "done"
 * </pre>
 */
public final class Peer {
    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("server") && args.length == 4) {
            final String name = args[2];
            ServerConfig server = new ServerConfig().setProtocol("bolt").setHost("127.0.0.1")
                .setPort(Integer.parseInt(args[1])).setDaemon(false);
            new ProviderConfig<HelloService>()
                .setApplication(new ApplicationConfig().setAppName("peer-" + name))
                .setInterfaceId(HelloService.class.getName())
                .setRef(x -> name + ":" + x)
                .setUniqueId(args[3])
                .setRegister(false)
                .setServer(server)
                .export();
            System.out.println("READY");
            System.out.flush();
            Thread.currentThread().join();
        } else if (args.length > 0 && args[0].equals("client") && args.length == 5) {
            HelloService hello = new ConsumerConfig<HelloService>()
                .setApplication(new ApplicationConfig().setAppName("peer-client"))
                .setInterfaceId(HelloService.class.getName())
                .setProtocol("bolt")
                .setUniqueId(args[2])
                .setTimeout(10000)
                .setRegister(false)
                .setDirectUrl("bolt://" + args[1])
                .refer();
            int n = Integer.parseInt(args[3]);
            for (int i = 0; i < n; i++) {
                try {
                    System.out.println("ok " + hello.sayHello(args[4]));
                } catch (Exception e) {
                    System.out.println("err " + e.getClass().getSimpleName() + ": " + String.valueOf(e.getMessage()).replace('\n', ' '));
                }
            }
            System.out.println("done");
            System.out.flush();
            System.exit(0);
        } else {
            System.err.println("usage: Peer server PORT NAME UNIQUE_ID | Peer client HOST:PORT UNIQUE_ID N ARG");
            System.exit(2);
        }
    }
}
