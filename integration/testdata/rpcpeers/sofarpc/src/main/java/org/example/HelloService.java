package org.example;

/** The service the peers serve and call. */
public interface HelloService {
    String sayHello(String name);
}
