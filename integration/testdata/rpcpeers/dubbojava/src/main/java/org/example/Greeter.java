package org.example;

/**
 * The test service, named and cased like the dubbo-go peers' (testdata/rpcpeers/dubbogo) so that
 * consumers and providers of both languages call each other.
 */
public interface Greeter {
    /** Answers "NAME/VERSION/GROUP:arg" (which provider process and which export answered). */
    String Greet(String arg);

    /** Answers like Greet after sleeping millis. */
    String Slow(String arg, int millis);

    /** Throws IllegalStateException("NAME failed: msg"). */
    String Fail(String msg);
}
