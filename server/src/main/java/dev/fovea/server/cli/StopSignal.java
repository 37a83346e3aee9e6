package dev.fovea.server.cli;

import java.util.concurrent.CountDownLatch;
import sun.misc.Signal;

/**
 * SIGTERM and SIGINT, taken over from the JVM so that {@code fovea serve} decides its exit status. Left to the JVM, a
 * signal runs the shutdown hooks and then exits with 128 + the signal's number whatever the hooks did (a
 * {@code System.exit} from another thread meanwhile just blocks), so a server that drained cleanly could never exit
 * 0. With this, the main thread waits for the signal, stops the server and returns its own status.
 *
 * <p>{@code sun.misc.Signal} (module jdk.unsupported) is the JDK's only way to handle a signal; it is exported to
 * class-path code and has been stable since JDK 1.2.
 */
final class StopSignal {

    private static final String[] NAMES = {"TERM", "INT"};

    private final CountDownLatch received = new CountDownLatch(1);
    private volatile int number;

    private StopSignal() {}

    /** Handles SIGTERM and SIGINT from now on; a second signal while the server stops changes nothing. */
    static StopSignal install() {
        StopSignal stop = new StopSignal();
        for (String name : NAMES) {
            Signal.handle(new Signal(name), signal -> {
                if (stop.received.getCount() > 0) {
                    stop.number = signal.getNumber();
                    stop.received.countDown();
                }
            });
        }
        return stop;
    }

    /** Blocks until a stop signal arrives; returns its number. */
    int await() throws InterruptedException {
        received.await();
        return number;
    }
}
