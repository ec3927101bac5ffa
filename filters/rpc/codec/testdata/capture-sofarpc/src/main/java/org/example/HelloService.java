package org.example;

/** The service the captured consumer calls. */
public interface HelloService {
    String sayHello(String name);
}
