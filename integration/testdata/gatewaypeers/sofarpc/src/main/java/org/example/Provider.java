package org.example;

import com.alipay.sofa.rpc.config.ApplicationConfig;
import com.alipay.sofa.rpc.config.ProviderConfig;
import com.alipay.sofa.rpc.config.ServerConfig;

/**
 * SOFARPC bolt provider of GatewayService (version 1.0) on 127.0.0.1.
 *
 * <pre>
 * Provider PORT [THREADS]   prints "LISTENING 127.0.0.1:PORT" once exported
 * </pre>
 *
 * THREADS bounds the business thread pool (default 8): with 1 thread a slow call makes the next
 * request wait in the queue past its timeout, which SOFARPC answers with a timeout error.
 */
public final class Provider {
    public static void main(String[] args) throws Exception {
        if (args.length < 1 || args.length > 2) {
            System.err.println("usage: Provider PORT [THREADS]");
            System.exit(2);
        }
        int port = Integer.parseInt(args[0]);
        int threads = args.length > 1 ? Integer.parseInt(args[1]) : 8;
        export(port, threads);
        System.out.println("LISTENING 127.0.0.1:" + port);
        System.out.flush();
        Thread.currentThread().join();
    }

    static void export(int port, int threads) {
        ServerConfig server = new ServerConfig().setProtocol("bolt").setHost("127.0.0.1").setPort(port)
            .setCoreThreads(threads).setMaxThreads(threads).setQueues(64).setDaemon(false);
        new ProviderConfig<GatewayService>()
            .setApplication(new ApplicationConfig().setAppName("gateway-provider"))
            .setInterfaceId(GatewayService.class.getName())
            .setVersion("1.0")
            .setRef(new GatewayServiceImpl())
            .setRegister(false)
            .setServer(server)
            .export();
    }
}
