package org.example;

import java.util.HashMap;
import java.util.Map;
import org.apache.dubbo.config.ApplicationConfig;
import org.apache.dubbo.config.ProtocolConfig;

/** Settings shared by the peers. */
final class Dubbo {
    private Dubbo() {}

    static ApplicationConfig application(String name) {
        ApplicationConfig app = new ApplicationConfig(name);
        app.setQosEnable(false); // its fixed port would clash between parallel tests
        return app;
    }

    /**
     * The dubbo protocol on 127.0.0.1:port only (see LoopbackTransporter), hessian2 for everything:
     * Dubbo 3.2 prefers fastjson2 (serialization id 23) for what it writes on its own, e.g. error
     * responses. heartbeatMillis > 0 sets the server's idle limit to three times that.
     */
    static ProtocolConfig protocol(int port, int heartbeatMillis) {
        ProtocolConfig protocol = new ProtocolConfig("dubbo", port);
        protocol.setHost("127.0.0.1");
        protocol.setServer("loopback");
        protocol.setSerialization("hessian2");
        protocol.setPreferSerialization("hessian2");
        if (heartbeatMillis > 0) {
            protocol.setHeartbeat(heartbeatMillis);
        }
        Map<String, String> params = new HashMap<>();
        params.put(LoopbackTransporter.IP_KEY, "127.0.0.1");
        protocol.setParameters(params);
        return protocol;
    }

    static String oneLine(Throwable e) {
        String msg = String.valueOf(e.getMessage()).replace('\n', ' ').replace('\r', ' ');
        return e.getClass().getName() + ": " + msg;
    }
}
