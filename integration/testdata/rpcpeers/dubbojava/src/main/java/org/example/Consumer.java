package org.example;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.apache.dubbo.config.ApplicationConfig;
import org.apache.dubbo.config.MethodConfig;
import org.apache.dubbo.config.ReferenceConfig;
import org.apache.dubbo.config.bootstrap.DubboBootstrap;
import org.apache.dubbo.rpc.RpcContext;
import org.apache.dubbo.rpc.RpcException;
import org.apache.dubbo.rpc.service.GenericService;

/**
 * A Dubbo consumer kept running so one JVM serves a whole test. It calls providers directly (no
 * registry) and reads one command a line from stdin, KEY=VALUE fields after "call":
 *
 * <pre>call addr=HOST:PORT[,HOST:PORT...] [intf=org.example.Greeter] [version=V] [group=G] [method=Greet]
 *      [timeout=MS] [n=1] [parallel=false] [arg=S] [millis=MS] [attach=KEY:VALUE]
 *      [serialization=hessian2] [oneway=false] [generic=false]</pre>
 *
 * It makes n calls (one after the other, or all at once with parallel=true, call i sleeping
 * millis*(n-i) so that answers come back in reverse order) and prints one line per call, in call
 * order: "ok RESULT" or "err CLASS [code=N]: MESSAGE", then "end". org.example.Greeter is called
 * through its Java interface (Greet, Slow with millis, Fail) unless generic=true; any other
 * interface through GenericService ($invoke) with one String argument (Slow: and millis). With
 * n > 1 call i gets arg "ARG-i". Several addresses make one Dubbo cluster, as a registry would.
 * Connections are Dubbo's shared one per address; the heartbeat interval (first argument, ms)
 * applies to them.
 */
public final class Consumer {
    private final int heartbeat;
    private final Map<String, ReferenceConfig<?>> refs = new HashMap<>();
    private final ExecutorService pool = Executors.newCachedThreadPool();

    private Consumer(int heartbeat) {
        this.heartbeat = heartbeat;
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: Consumer HEARTBEAT_MS < commands");
            System.exit(2);
        }
        ApplicationConfig app = Dubbo.application("govoy-rpc-java-consumer");
        // Else Dubbo 3 registers the consumer as an instance and serves its MetadataService on
        // 0.0.0.0:20880: a consumer needs no port.
        app.setRegisterConsumer(false);
        DubboBootstrap.getInstance().application(app);
        Consumer c = new Consumer(Integer.parseInt(args[0]));
        System.out.println("READY");
        System.out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null; ) {
            line = line.trim();
            if (line.isEmpty()) {
                continue;
            }
            try {
                for (String out : c.run(line.split(" +"))) {
                    System.out.println(out);
                }
            } catch (Exception e) {
                System.out.println("bad " + Dubbo.oneLine(e));
            }
            System.out.println("end");
            System.out.flush();
        }
        System.exit(0); // Dubbo's non-daemon threads would keep the JVM up
    }

    private List<String> run(String[] f) throws Exception {
        if (f.length < 2 || !f[0].equals("call")) {
            throw new IllegalArgumentException("want: call KEY=VALUE...");
        }
        Map<String, String> kv = new HashMap<>();
        for (int i = 1; i < f.length; i++) {
            String[] p = f[i].split("=", 2);
            if (p.length != 2) {
                throw new IllegalArgumentException("field " + f[i] + ": want KEY=VALUE");
            }
            kv.put(p[0], p[1]);
        }
        String addr = kv.remove("addr");
        if (addr == null) {
            throw new IllegalArgumentException("addr is required");
        }
        String intf = kv.getOrDefault("intf", Greeter.class.getName());
        String version = kv.getOrDefault("version", ""), group = kv.getOrDefault("group", "");
        String method = kv.getOrDefault("method", "Greet");
        int timeout = Integer.parseInt(kv.getOrDefault("timeout", "5000"));
        int n = Integer.parseInt(kv.getOrDefault("n", "1"));
        boolean parallel = Boolean.parseBoolean(kv.getOrDefault("parallel", "false"));
        String arg = kv.getOrDefault("arg", "world");
        int millis = Integer.parseInt(kv.getOrDefault("millis", "0"));
        String[] attach = kv.containsKey("attach") ? kv.get("attach").split(":", 2) : null;
        String serialization = kv.getOrDefault("serialization", "hessian2");
        boolean oneway = Boolean.parseBoolean(kv.getOrDefault("oneway", "false"));
        boolean generic = Boolean.parseBoolean(kv.getOrDefault("generic", "false")) || !intf.equals(Greeter.class.getName());
        for (String k : new String[] {"intf", "version", "group", "method", "timeout", "n", "parallel", "arg", "millis", "attach",
            "serialization", "oneway", "generic"}) {
            kv.remove(k);
        }
        if (!kv.isEmpty()) {
            throw new IllegalArgumentException("unknown fields " + kv.keySet());
        }
        Object target = reference(addr, intf, version, group, timeout, serialization, oneway ? method : "", generic).get();
        List<Callable<String>> calls = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String a = n > 1 ? arg + "-" + i : arg;
            int sleep = parallel ? millis * (n - i) : millis;
            calls.add(() -> {
                if (attach != null) {
                    RpcContext.getClientAttachment().setAttachment(attach[0], attach[1]);
                }
                return once(target, method, a, sleep);
            });
        }
        List<String> out = new ArrayList<>();
        if (parallel) {
            for (Future<String> r : pool.invokeAll(calls)) {
                out.add(r.get());
            }
        } else {
            for (Callable<String> c : calls) {
                out.add(c.call());
            }
        }
        return out;
    }

    private static String once(Object target, String method, String arg, int millis) {
        try {
            Object res;
            if (target instanceof Greeter) {
                Greeter g = (Greeter) target;
                switch (method) {
                    case "Greet": res = g.Greet(arg); break;
                    case "Slow": res = g.Slow(arg, millis); break;
                    case "Fail": res = g.Fail(arg); break;
                    default: throw new IllegalArgumentException("Greeter has no method " + method);
                }
            } else {
                GenericService g = (GenericService) target;
                res = method.equals("Slow")
                    ? g.$invoke(method, new String[] {"java.lang.String", "int"}, new Object[] {arg, millis})
                    : g.$invoke(method, new String[] {"java.lang.String"}, new Object[] {arg});
            }
            return "ok " + res;
        } catch (RpcException e) {
            return "err " + e.getClass().getName() + " code=" + e.getCode() + ": "
                + String.valueOf(e.getMessage()).replace('\n', ' ').replace('\r', ' ');
        } catch (IllegalArgumentException e) {
            throw e;
        } catch (RuntimeException e) {
            return "err " + Dubbo.oneLine(e);
        }
    }

    private ReferenceConfig<?> reference(String addr, String intf, String version, String group, int timeout,
                                         String serialization, String onewayMethod, boolean generic) {
        String key = String.join(" ", addr, intf, version, group, String.valueOf(timeout), serialization, onewayMethod,
            String.valueOf(generic));
        return refs.computeIfAbsent(key, k -> {
            ReferenceConfig<Object> ref = new ReferenceConfig<>();
            if (!generic) {
                ref.setInterface(Greeter.class);
            } else {
                ref.setInterface(intf);
                ref.setGeneric("true");
            }
            // hessian2 both ways by default: Dubbo 3.2 consumers otherwise prefer fastjson2.
            StringBuilder urls = new StringBuilder();
            for (String a : addr.split(",")) {
                urls.append(urls.length() == 0 ? "" : ";").append("dubbo://").append(a).append("?serialization=").append(serialization)
                    .append("&prefer.serialization=").append(serialization).append("&heartbeat=").append(heartbeat);
            }
            ref.setUrl(urls.toString());
            Map<String, String> params = new HashMap<>();
            params.put("serialization", serialization);
            params.put("prefer.serialization", serialization);
            params.put("heartbeat", String.valueOf(heartbeat));
            ref.setParameters(params);
            if (!version.isEmpty()) {
                ref.setVersion(version);
            }
            if (!group.isEmpty()) {
                ref.setGroup(group);
            }
            ref.setTimeout(timeout);
            ref.setRetries(0);
            ref.setCheck(false);
            if (!onewayMethod.isEmpty()) {
                MethodConfig m = new MethodConfig();
                m.setName(onewayMethod);
                m.setReturn(false); // oneway: the request says no response is expected
                ref.setMethods(java.util.Collections.singletonList(m));
            }
            return ref;
        });
    }
}
