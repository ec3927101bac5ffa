package org.example;

import org.apache.dubbo.config.ApplicationConfig;
import org.apache.dubbo.config.ReferenceConfig;
import org.apache.dubbo.config.bootstrap.DubboBootstrap;

import java.io.DataInputStream;
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
import java.util.HashMap;
import java.util.List;

/**
 * Runs a real Java Dubbo consumer (dubbo protocol, hessian2) against a fake provider on loopback.
 * The provider saves each request frame and answers each call with one of the hijack frames
 * govoy's dubbo codec produced; the consumer's exceptions must carry the hijack message.
 * Exits 1 otherwise.
 */
public final class Capture {
    static final String[][] HIJACKS = {
        {"hijack-timeout.bin", "upstream timeout"},
        {"hijack-no-provider.bin", "no provider for org.example.DemoService"},
        {"hijack-rate-limited.bin", "rate limited"},
    };

    public static void main(String[] args) throws Exception {
        Path in = Paths.get(args[0]);
        Path out = Paths.get(args[1]);
        List<byte[]> answers = new ArrayList<>();
        for (String[] h : HIJACKS) {
            answers.add(Files.readAllBytes(in.resolve(h[0])));
        }
        ServerSocket ss = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
        Thread provider = new Thread(() -> serve(ss, answers, out));
        provider.setDaemon(true);
        provider.start();

        ApplicationConfig app = new ApplicationConfig("demo-consumer");
        app.setQosEnable(false);
        ReferenceConfig<DemoService> ref = new ReferenceConfig<>();
        ref.setInterface(DemoService.class);
        ref.setUrl("dubbo://127.0.0.1:" + ss.getLocalPort() + "?serialization=hessian2");
        ref.setGroup("g1");
        ref.setVersion("1.0.0");
        ref.setTimeout(2500);
        ref.setRetries(0);
        ref.setCheck(false);
        DubboBootstrap.getInstance().application(app).reference(ref).start();
        DemoService demo = ref.get();

        Order order = new Order();
        order.id = 9;
        order.items = Arrays.asList("a", "b");
        order.price = 1.5;
        order.meta = new HashMap<>();
        order.meta.put("k", "v");
        boolean failed = false;
        for (String[] h : HIJACKS) {
            try {
                String r = demo.sayHello("world", order);
                System.out.println(h[0] + ": consumer got a result: " + r);
                failed = true;
            } catch (Exception e) {
                boolean found = false;
                StringBuilder chain = new StringBuilder();
                for (Throwable t = e; t != null; t = t.getCause()) {
                    chain.append(" <- ").append(t.getClass().getSimpleName());
                    found |= t.getMessage() != null && t.getMessage().contains(h[1]);
                }
                System.out.println(h[0] + ": " + (found ? "ok" : "UNEXPECTED") + ", consumer raised" + chain + ": " + e.getMessage());
                failed |= !found;
            }
        }
        System.exit(failed ? 1 : 0);
    }

    static void serve(ServerSocket ss, List<byte[]> answers, Path out) {
        int calls = 0;
        int beats = 0;
        try {
            while (true) {
                Socket s = ss.accept();
                DataInputStream in = new DataInputStream(s.getInputStream());
                OutputStream o = s.getOutputStream();
                while (true) {
                    byte[] head = new byte[16];
                    in.readFully(head);
                    ByteBuffer h = ByteBuffer.wrap(head);
                    if (h.getShort(0) != (short) 0xdabb) {
                        throw new IllegalStateException("bad magic");
                    }
                    int len = h.getInt(12);
                    byte[] frame = new byte[16 + len];
                    System.arraycopy(head, 0, frame, 0, 16);
                    in.readFully(frame, 16, len);
                    byte[] reply;
                    if ((head[2] & 0x20) != 0) { // event: heartbeat
                        beats++;
                        Files.write(out.resolve("java-heartbeat-" + beats + ".bin"), frame);
                        reply = ByteBuffer.allocate(17).put((byte) 0xda).put((byte) 0xbb)
                            .put((byte) (0x20 | (head[2] & 0x1f))).put((byte) 20).put(head, 4, 8).putInt(1).put((byte) 'N').array();
                    } else {
                        calls++;
                        Files.write(out.resolve("java-request-" + calls + ".bin"), frame);
                        reply = answers.get((calls - 1) % answers.size()).clone();
                        System.arraycopy(head, 4, reply, 4, 8);
                    }
                    o.write(reply);
                    o.flush();
                }
            }
        } catch (Exception e) {
            System.err.println("provider: " + e);
        }
    }
}
