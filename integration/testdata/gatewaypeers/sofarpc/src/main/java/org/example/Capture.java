package org.example;

import com.alipay.sofa.rpc.config.ApplicationConfig;
import com.alipay.sofa.rpc.config.ConsumerConfig;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Captures what a real SOFARPC 5.12.0 consumer sends and the provider answers, one Bolt frame per
 * file: OUTDIR/NAME.request.bin and OUTDIR/NAME.response.bin. The consumer talks to the provider
 * through a recording relay on loopback.
 *
 * <pre>
 * Capture OUTDIR
 * </pre>
 */
public final class Capture {
    public static void main(String[] args) throws Exception {
        Path out = Paths.get(args[0]);
        Files.createDirectories(out);
        ServerSocket free = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
        int providerPort = free.getLocalPort();
        free.close();
        Provider.export(providerPort, 4);

        ByteArrayOutputStream up = new ByteArrayOutputStream();
        ByteArrayOutputStream down = new ByteArrayOutputStream();
        ServerSocket relay = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
        Thread t = new Thread(() -> {
            try {
                while (true) {
                    Socket c = relay.accept();
                    Socket p = new Socket("127.0.0.1", providerPort);
                    pump(c.getInputStream(), p.getOutputStream(), up);
                    pump(p.getInputStream(), c.getOutputStream(), down);
                }
            } catch (Exception e) {
                // relay closed
            }
        });
        t.setDaemon(true);
        t.start();

        GatewayService svc = consumer(relay.getLocalPort(), "1.0");
        User u = new User();
        u.setId(5);
        u.setName("old");
        u.setAge(41);
        u.setActive(true);
        u.setScore(2.25);
        u.setTags(Arrays.asList("x", "y"));
        Map<String, String> attrs = new LinkedHashMap<>();
        attrs.put("team", "blue");
        u.setAttrs(attrs);
        Map<String, String> words = new LinkedHashMap<>();
        words.put("one", "1");
        words.put("three", "333");

        List<String> names = new ArrayList<>();
        Map<String, Supplier<Object>> calls = new LinkedHashMap<>();
        calls.put("string", () -> svc.sayHello("world", 3));
        calls.put("long", () -> svc.twice(1L << 40));
        calls.put("list", () -> svc.reverse(Arrays.asList("a", "b", "c")));
        calls.put("map", () -> svc.lengths(words));
        calls.put("pojo", () -> svc.rename(u, "new"));
        calls.put("pojo-result", () -> svc.getUser(7));
        calls.put("array-refs", () -> svc.users(new String[] {"ann", "bob"}));
        calls.put("exception", () -> svc.fail("on purpose"));
        GatewayService missing = consumer(relay.getLocalPort(), "9.9");
        calls.put("unknown-service", () -> missing.sayHello("x", 1));
        for (Map.Entry<String, Supplier<Object>> e : calls.entrySet()) {
            Object r;
            try {
                r = e.getValue().get();
            } catch (Exception ex) {
                r = ex.getClass().getName() + ": " + ex.getMessage();
            }
            System.out.println(e.getKey() + " -> " + r);
            names.add(e.getKey());
            Thread.sleep(300); // let the relay copy the answer
        }
        save(out, names, up.toByteArray(), "request");
        save(out, names, down.toByteArray(), "response");
        System.exit(0);
    }

    static GatewayService consumer(int port, String version) {
        return new ConsumerConfig<GatewayService>()
            .setApplication(new ApplicationConfig().setAppName("gateway-client"))
            .setInterfaceId(GatewayService.class.getName())
            .setVersion(version)
            .setProtocol("bolt")
            .setTimeout(10000)
            .setRegister(false)
            .setDirectUrl("bolt://127.0.0.1:" + port)
            .refer();
    }

    static void pump(InputStream in, OutputStream out, ByteArrayOutputStream rec) {
        Thread t = new Thread(() -> {
            byte[] buf = new byte[8192];
            try {
                int n;
                while ((n = in.read(buf)) > 0) {
                    synchronized (rec) {
                        rec.write(buf, 0, n);
                    }
                    out.write(buf, 0, n);
                    out.flush();
                }
            } catch (Exception e) {
                // connection closed
            }
        });
        t.setDaemon(true);
        t.start();
    }

    /** Splits a Bolt v1 stream into RPC frames (heartbeats skipped), in order, named after the calls. */
    static void save(Path dir, List<String> names, byte[] stream, String kind) throws Exception {
        ByteBuffer b = ByteBuffer.wrap(stream);
        int i = 0;
        while (b.remaining() > 0) {
            int start = b.position();
            if (b.get(start) != 1) {
                throw new IllegalStateException("not bolt v1 at " + start);
            }
            boolean response = b.get(start + 1) == 0;
            int cmd = b.getShort(start + 2);
            int head = response ? 20 : 22;
            int lens = start + (response ? 12 : 14);
            int total = head + b.getShort(lens) + b.getShort(lens + 2) + b.getInt(lens + 4);
            byte[] frame = Arrays.copyOfRange(stream, start, start + total);
            b.position(start + total);
            if (cmd == 0) {
                continue; // heartbeat
            }
            Files.write(dir.resolve(names.get(i++) + "." + kind + ".bin"), frame);
        }
    }
}
