package org.example;

/** The service the gateway calls with generic invocations. */
public interface GatewayService {
    String sayHello(String name, int times);

    User getUser(int id);

    User rename(User user, String name);

    String fail(String msg);
}
