package dev.builderd.storage.testing;

import java.util.Objects;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * One server per JVM, started lazily: the "shared" instance behind {@link PostgresServer#shared()},
 * {@link S3ProxyServer#shared()}, {@link S3ProxyServer#sharedTls()}, {@link AzuriteServer#shared()}
 * and {@link CephServer#shared()}.
 *
 * <p>Contract of {@link #get()}:
 * <ul>
 *   <li>It is thread-safe: concurrent callers wait for one start and all get the same server.
 *   <li>It starts the server at most once: the first call runs the start function; later calls
 *       return the server it made.
 *   <li>A failed start is remembered: the first call throws the start function's exception as it
 *       is; every later call throws at once, without trying (and waiting) again, an
 *       {@link IllegalStateException} with the same message and the original exception as its
 *       cause.
 *   <li>After a successful start it registers a JVM shutdown hook (a thread of the given name)
 *       that runs the stop function on the server. A failed start registers nothing: the start
 *       function cleans up after itself, or keeps what explains the failure.
 * </ul>
 *
 * @param <T> the server type
 */
final class SharedServer<T> {

    private final String stopThreadName;
    private final Supplier<? extends T> start;
    private final Consumer<? super T> stop;

    private T server;
    private RuntimeException failure;

    /**
     * @param stopThreadName the name of the shutdown-hook thread, for thread dumps
     * @param start starts and returns a server, or throws why it cannot
     * @param stop stops a started server; runs in the shutdown hook, so it must not throw
     */
    SharedServer(String stopThreadName, Supplier<? extends T> start, Consumer<? super T> stop) {
        this.stopThreadName = Objects.requireNonNull(stopThreadName, "stopThreadName");
        this.start = Objects.requireNonNull(start, "start");
        this.stop = Objects.requireNonNull(stop, "stop");
    }

    /**
     * The server, started on the first call.
     *
     * @throws RuntimeException on the first call, whatever the start function threw
     * @throws IllegalStateException on later calls after a failed start, caused by that failure
     */
    synchronized T get() {
        if (server != null) {
            return server;
        }
        if (failure != null) {
            throw new IllegalStateException(failure.getMessage(), failure);
        }
        T started;
        try {
            started = Objects.requireNonNull(start.get(), "the start function returned null");
        } catch (RuntimeException e) {
            failure = e;
            throw e;
        }
        server = started;
        ServerFiles.stopAtExit(stopThreadName, () -> stop.accept(started));
        return started;
    }
}
