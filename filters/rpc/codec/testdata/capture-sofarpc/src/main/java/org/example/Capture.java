package org.example;

import com.alipay.sofa.rpc.config.ApplicationConfig;
import com.alipay.sofa.rpc.config.ConsumerConfig;

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
import java.util.List;

/**
 * Runs a real SOFARPC consumer (bolt) against a fake provider on loopback. The provider saves each
 * request frame and answers each call with one of the hijack frames govoy's bolt codec produced;
 * the consumer's exceptions show how a real client takes them. Exits 1 if a call did not fail.
 */
public final class Capture {
    // hijack frame file, and the exception class name the consumer must raise for it
    static final String[][] HIJACKS = {
        {"hijack-timeout-v1.bin", "SofaTimeOutException"},
        {"hijack-busy-v1.bin", "SofaRpcException"},
        {"hijack-no-route-v1.bin", "SofaRpcException"},
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

        ConsumerConfig<HelloService> consumer = new ConsumerConfig<HelloService>()
            .setApplication(new ApplicationConfig().setAppName("hello-client"))
            .setInterfaceId(HelloService.class.getName())
            .setProtocol("bolt")
            .setUniqueId("blue")
            .setTimeout(3000)
            .setRegister(false)
            .setDirectUrl("bolt://127.0.0.1:" + ss.getLocalPort());
        HelloService hello = consumer.refer();
        boolean failed = false;
        for (String[] h : HIJACKS) {
            try {
                String r = hello.sayHello("world");
                System.out.println(h[0] + ": consumer got a result: " + r);
                failed = true;
            } catch (Exception e) {
                String name = e.getClass().getSimpleName();
                System.out.println(h[0] + ": " + (name.equals(h[1]) ? "ok" : "UNEXPECTED") + ", consumer raised " + name + ": " + e.getMessage());
                failed |= !name.equals(h[1]);
            }
        }
        System.exit(failed ? 1 : 0);
    }

    static void serve(ServerSocket ss, List<byte[]> answers, Path out) {
        int calls = 0;
        try {
            while (true) {
                Socket s = ss.accept();
                DataInputStream in = new DataInputStream(s.getInputStream());
                OutputStream o = s.getOutputStream();
                while (true) {
                    byte[] head = new byte[22]; // bolt v1 request header
                    in.readFully(head);
                    ByteBuffer h = ByteBuffer.wrap(head);
                    if (h.get(0) != 1) {
                        throw new IllegalStateException("not bolt v1: " + h.get(0));
                    }
                    short cmd = h.getShort(2);
                    int id = h.getInt(5);
                    int rest = h.getShort(14) + h.getShort(16) + h.getInt(18);
                    byte[] frame = new byte[22 + rest];
                    System.arraycopy(head, 0, frame, 0, 22);
                    in.readFully(frame, 22, rest);
                    byte[] reply;
                    if (cmd == 0) { // heartbeat: ack
                        Files.write(out.resolve("sofarpc-heartbeat.bin"), frame);
                        reply = ByteBuffer.allocate(20).put((byte) 1).put((byte) 0).putShort((short) 0).put((byte) 1)
                            .putInt(id).put(head[9]).array();
                    } else {
                        calls++;
                        Files.write(out.resolve("sofarpc-request-" + calls + ".bin"), frame);
                        reply = answers.get((calls - 1) % answers.size()).clone();
                        ByteBuffer.wrap(reply).putInt(5, id);
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
