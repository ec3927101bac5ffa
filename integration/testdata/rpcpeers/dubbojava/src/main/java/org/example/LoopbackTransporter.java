package org.example;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import org.apache.dubbo.common.URL;
import org.apache.dubbo.remoting.ChannelHandler;
import org.apache.dubbo.remoting.Client;
import org.apache.dubbo.remoting.RemotingException;
import org.apache.dubbo.remoting.RemotingServer;
import org.apache.dubbo.remoting.transport.netty4.NettyClient;
import org.apache.dubbo.remoting.transport.netty4.NettyServer;

/**
 * A Transporter extension ("server=loopback" on a ProtocolConfig) that binds Dubbo's Netty server
 * to the loopback address named by the URL parameter "loopback.ip".
 *
 * <p>Why: Dubbo 3.2's AbstractServer binds 0.0.0.0 whenever the bind host is 127.* or localhost
 * (NetUtils.isInvalidLocalHost), and ServiceConfig rejects such a host in DUBBO_IP_TO_BIND, so no
 * setting keeps a provider on loopback. Transporter is Dubbo's SPI for the server socket; this one
 * is netty4's with the bind address kept.
 */
public final class LoopbackTransporter implements org.apache.dubbo.remoting.Transporter {
    public static final String IP_KEY = "loopback.ip";

    @Override
    public RemotingServer bind(URL url, ChannelHandler handler) throws RemotingException {
        return new Server(url, handler);
    }

    @Override
    public Client connect(URL url, ChannelHandler handler) throws RemotingException {
        return new NettyClient(url, handler);
    }

    static final class Server extends NettyServer {
        Server(URL url, ChannelHandler handler) throws RemotingException {
            super(url, handler);
        }

        // Called by NettyServer.doOpen (from AbstractServer's constructor), so it reads the URL only.
        @Override
        public InetSocketAddress getBindAddress() {
            String ip = getUrl().getParameter(IP_KEY);
            if (ip == null || ip.isEmpty()) {
                throw new IllegalArgumentException("server=loopback needs the URL parameter " + IP_KEY);
            }
            InetAddress addr;
            try {
                addr = InetAddress.getByName(ip);
            } catch (UnknownHostException e) {
                throw new IllegalArgumentException(IP_KEY + "=" + ip + ": " + e.getMessage(), e);
            }
            if (!addr.isLoopbackAddress()) {
                throw new IllegalArgumentException(IP_KEY + "=" + ip + " is not a loopback address");
            }
            int port = getUrl().getParameter("bind.port", getUrl().getPort());
            return new InetSocketAddress(addr, port);
        }
    }
}
