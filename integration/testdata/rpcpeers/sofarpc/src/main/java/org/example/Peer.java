package org.example;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import com.alipay.sofa.rpc.config.ApplicationConfig;
import com.alipay.sofa.rpc.config.ConsumerConfig;
import com.alipay.sofa.rpc.config.ProviderConfig;
import com.alipay.sofa.rpc.config.ServerConfig;
import com.alipay.sofa.rpc.context.RpcInternalContext;
import com.alipay.sofa.rpc.core.exception.SofaRpcException;

/**
 * SOFARPC bolt peers on loopback.
 *
 * <pre>
 * Peer server PORT NAME UNIQUE_IDS       serves HelloService under each comma-separated uniqueId
 *                                        (an empty one: none): sayHello(x) = NAME:x, slow(x, ms)
 *                                        the same after ms; prints "CALL METHOD ARG from=HOST:PORT"
 *                                        as each call arrives, and READY once exported
 * Peer console                           prints READY, then runs stdin commands, one a line:
 *     call HOST:PORT UNIQUE_ID TIMEOUT_MS N PARALLEL METHOD ARG MILLIS
 *   N calls of METHOD (sayHello or slow) with ARG ("ARG-i" when N > 1), at once when PARALLEL is
 *   true; prints one "ok RESULT" / "err CLASS code=ERROR_TYPE: MESSAGE" line per call in call
 *   order, then "end". UNIQUE_ID "-" means none. One consumer per address, uniqueId and timeout.
 * </pre>
 */
public final class Peer {
    public static void main(String[] args) throws Exception {
        if (args.length == 4 && args[0].equals("server")) {
            server(Integer.parseInt(args[1]), args[2], args[3]);
        } else if (args.length == 1 && args[0].equals("console")) {
            console();
            System.exit(0);
        } else {
            System.err.println("usage: Peer server PORT NAME UNIQUE_IDS | Peer console");
            System.exit(2);
        }
    }

    private static void server(int port, final String name, String uniqueIds) throws Exception {
        ServerConfig server = new ServerConfig().setProtocol("bolt").setHost("127.0.0.1")
            .setPort(port).setDaemon(false);
        HelloService impl = new HelloService() {
            @Override
            public String sayHello(String x) {
                say("CALL sayHello " + x + " from=" + from());
                return name + ":" + x;
            }

            @Override
            public String slow(String x, int millis) {
                say("CALL slow " + x + " from=" + from());
                try {
                    Thread.sleep(millis);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return name + ":" + x;
            }
        };
        for (String id : uniqueIds.split(",", -1)) {
            ProviderConfig<HelloService> p = new ProviderConfig<HelloService>()
                .setApplication(new ApplicationConfig().setAppName("peer-" + name))
                .setInterfaceId(HelloService.class.getName())
                .setRef(impl)
                .setRegister(false)
                .setServer(server);
            if (!id.isEmpty()) { // SOFARPC refuses an empty uniqueId: leave it unset
                p.setUniqueId(id);
            }
            p.export();
        }
        say("READY");
        Thread.currentThread().join();
    }

    /** The caller's address (the proxy's upstream connection), as host:port. */
    private static String from() {
        InetSocketAddress a = RpcInternalContext.getContext().getRemoteAddress();
        return a == null ? "?" : a.getHostString() + ":" + a.getPort();
    }

    private static synchronized void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    private static HelloService consumer(String addr, String uniqueId, int timeoutMillis) {
        ConsumerConfig<HelloService> c = new ConsumerConfig<HelloService>()
            .setApplication(new ApplicationConfig().setAppName("peer-client"))
            .setInterfaceId(HelloService.class.getName())
            .setProtocol("bolt")
            .setTimeout(timeoutMillis)
            .setRegister(false)
            .setDirectUrl("bolt://" + addr);
        if (!uniqueId.isEmpty()) {
            c.setUniqueId(uniqueId);
        }
        return c.refer();
    }

    private static String invoke(HelloService hello, String method, String arg, int millis) {
        try {
            String r = method.equals("slow") ? hello.slow(arg, millis) : hello.sayHello(arg);
            return "ok " + r;
        } catch (Exception e) {
            String code = e instanceof SofaRpcException ? " code=" + ((SofaRpcException) e).getErrorType() : "";
            return "err " + e.getClass().getSimpleName() + code + ": " + String.valueOf(e.getMessage()).replace('\n', ' ');
        }
    }

    private static void console() throws Exception {
        Map<String, HelloService> consumers = new HashMap<>();
        ExecutorService pool = Executors.newCachedThreadPool();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        say("READY");
        for (String line; (line = in.readLine()) != null; ) {
            String[] f = line.trim().split(" ", -1);
            if (f.length != 9 || !f[0].equals("call")) {
                say("bad " + line);
                continue;
            }
            String uniqueId = f[2].equals("-") ? "" : f[2];
            int timeout = Integer.parseInt(f[3]);
            int n = Integer.parseInt(f[4]);
            boolean parallel = Boolean.parseBoolean(f[5]);
            final String method = f[6];
            final int millis = Integer.parseInt(f[8]);
            final HelloService hello = consumers.computeIfAbsent(f[1] + "|" + uniqueId + "|" + timeout,
                k -> consumer(f[1], uniqueId, timeout));
            List<Future<String>> results = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                final String arg = n > 1 ? f[7] + "-" + i : f[7];
                if (parallel) {
                    results.add(pool.submit(() -> invoke(hello, method, arg, millis)));
                } else {
                    results.add(java.util.concurrent.CompletableFuture.completedFuture(invoke(hello, method, arg, millis)));
                }
            }
            StringBuilder out = new StringBuilder();
            for (Future<String> r : results) {
                out.append(r.get()).append('\n');
            }
            out.append("end");
            say(out.toString());
        }
    }
}
