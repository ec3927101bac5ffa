package org.example;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import org.apache.dubbo.common.Version;
import org.apache.dubbo.common.constants.CommonConstants;
import org.apache.dubbo.config.RegistryConfig;
import org.apache.dubbo.config.ServiceConfig;
import org.apache.dubbo.config.bootstrap.DubboBootstrap;
import org.apache.dubbo.remoting.Channel;
import org.apache.dubbo.remoting.RemotingException;
import org.apache.dubbo.remoting.exchange.Request;
import org.apache.dubbo.rpc.ProtocolServer;
import org.apache.dubbo.rpc.RpcContext;
import org.apache.dubbo.rpc.RpcServiceContext;
import org.apache.dubbo.rpc.protocol.dubbo.DubboProtocol;

/**
 * Serves org.example.Greeter on 127.0.0.1:PORT, once per VERSION:GROUP export (either may be
 * empty), without a registry:
 *
 * <pre>java ... org.example.Provider PORT NAME HEARTBEAT_MS 1.0.0: 2.0.0: 1.0.0:gray</pre>
 *
 * Prints "LISTENING 127.0.0.1:PORT" once exported and "CALL METHOD NAME/VERSION/GROUP ARG
 * from=HOST:PORT [x-tag=VALUE]" when a call starts, so tests see where a request landed, over which
 * connection, and with which x-tag attachment. The stdin command "readonly" sends Dubbo's read-only
 * event to every connected consumer (as a closing provider does) and prints "READONLY N".
 */
public final class Provider {
    static final class Impl implements Greeter {
        private final String who;

        Impl(String name, String version, String group) {
            this.who = name + "/" + version + "/" + group;
        }

        private void log(String method, String arg) {
            RpcServiceContext ctx = RpcContext.getServiceContext();
            String tag = RpcContext.getServerAttachment().getAttachment("x-tag");
            System.out.println("CALL " + method + " " + who + " " + arg + " from=" + ctx.getRemoteHost() + ":" + ctx.getRemotePort()
                + (tag == null ? "" : " x-tag=" + tag));
            System.out.flush();
        }

        public String Greet(String arg) {
            log("Greet", arg);
            return who + ":" + arg;
        }

        public String Slow(String arg, int millis) {
            log("Slow", arg);
            try {
                Thread.sleep(millis);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return who + ":" + arg;
        }

        public String Fail(String msg) {
            log("Fail", msg);
            throw new IllegalStateException(who + " failed: " + msg);
        }
    }

    public static void main(String[] args) throws InterruptedException {
        if (args.length < 4) {
            System.err.println("usage: Provider PORT NAME HEARTBEAT_MS VERSION:GROUP...");
            System.exit(2);
        }
        int port = Integer.parseInt(args[0]);
        String name = args[1];
        DubboBootstrap boot = DubboBootstrap.getInstance()
            .application(Dubbo.application("govoy-rpc-java-" + name))
            .registry(new RegistryConfig(RegistryConfig.NO_AVAILABLE))
            .protocol(Dubbo.protocol(port, Integer.parseInt(args[2])));
        for (int i = 3; i < args.length; i++) {
            String[] vg = args[i].split(":", -1);
            if (vg.length != 2) {
                System.err.println("export " + args[i] + ": want VERSION:GROUP");
                System.exit(2);
            }
            ServiceConfig<Greeter> svc = new ServiceConfig<>();
            svc.setInterface(Greeter.class);
            svc.setRef(new Impl(name, vg[0], vg[1]));
            if (!vg[0].isEmpty()) {
                svc.setVersion(vg[0]);
            }
            if (!vg[1].isEmpty()) {
                svc.setGroup(vg[1]);
            }
            boot.service(svc);
        }
        boot.start();
        System.out.println("LISTENING 127.0.0.1:" + port);
        System.out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        try {
            for (String line; (line = in.readLine()) != null; ) {
                if (line.trim().equals("readonly")) {
                    System.out.println("READONLY " + sendReadOnly());
                    System.out.flush();
                }
            }
        } catch (IOException | RemotingException e) {
            System.out.println("ERROR " + Dubbo.oneLine(e));
            System.out.flush();
        }
        Thread.currentThread().join(); // serve until killed
    }

    /**
     * Tells every connected consumer that this provider takes no new requests, as Dubbo's
     * HeaderExchangeServer does when it starts closing (a oneway event request carrying "R"), but
     * keeps serving: consumers that honour it send their next calls elsewhere.
     */
    private static int sendReadOnly() throws RemotingException {
        int n = 0;
        for (ProtocolServer ps : DubboProtocol.getDubboProtocol().getServers()) {
            for (Channel ch : ps.getRemotingServer().getChannels()) {
                Request req = new Request();
                req.setEvent(CommonConstants.READONLY_EVENT);
                req.setTwoWay(false);
                req.setVersion(Version.getProtocolVersion());
                ch.send(req, true);
                n++;
            }
        }
        return n;
    }
}
