package org.example;

/** The service the captured consumer calls. */
public interface DemoService {
    String sayHello(String name, Order order);
}
