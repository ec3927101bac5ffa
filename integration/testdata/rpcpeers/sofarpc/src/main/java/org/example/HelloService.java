package org.example;

/** The service the peers serve and call. */
public interface HelloService {
    String sayHello(String name);

    /** Answers like sayHello after sleeping millis: a slow provider for timeout tests. */
    String slow(String name, int millis);
}
