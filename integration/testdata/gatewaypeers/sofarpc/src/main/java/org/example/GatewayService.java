package org.example;

import java.util.List;
import java.util.Map;

/** The service the gateway tests call: one method per kind of argument and result. */
public interface GatewayService {
    String sayHello(String name, int times);

    long twice(long x);

    List<String> reverse(List<String> items);

    Map<String, Integer> lengths(Map<String, String> in);

    User rename(User user, String name);

    User getUser(int id);

    List<User> users(String[] names);

    String fail(String message);

    String slow(int millis);
}
