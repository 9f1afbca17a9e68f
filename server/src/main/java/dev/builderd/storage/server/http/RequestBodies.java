package dev.builderd.storage.server.http;

import io.javalin.config.JavalinConfig;
import io.javalin.http.Context;
import jakarta.servlet.ServletInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.Set;

/**
 * How request bodies meet an answer decided before they are read: an upload refused by its
 * quota, its scope or a conflict, or accepted without its bytes (a docker layer stored already),
 * must reach its client as that answer, over HTTP and HTTPS alike.
 *
 * <ul>
 *   <li>A route takes its body through {@link #of}, which opens it at the first read: opening the
 *       servlet stream makes Jetty tell a client that sent {@code Expect: 100-continue} to go on,
 *       and a request answered before it reads should not be asked to send (curl asks from 1 MiB).
 *       Such a client, never told to go on, sends nothing, and nothing is read after the answer.
 *   <li>Otherwise, what is left of the body after the route is read and dropped before the answer
 *       goes out ({@link #register}): the server would close the connection with the body
 *       unread, the kernel would reset it, and a client still sending (most write the whole body
 *       before they read) would see the reset instead of the answer. After a success all of it is
 *       read, as the client was promised; after a refusal up to {@value #MAX_BYTES} bytes, and a
 *       longer body is left unread and the connection closed after the answer, as Jetty does:
 *       reading gigabytes to throw them away costs more than the client's retry. Nothing is read
 *       for a caller that did not authenticate (401) or is refused for flooding (429): that would
 *       be work on behalf of nobody.
 * </ul>
 */
final class RequestBodies {

    /** The most of a refused request's body that is read so that its client hears the answer. */
    static final long MAX_BYTES = 8L << 20;

    private static final Set<String> METHODS_WITH_BODIES = Set.of("PUT", "POST", "PATCH");
    private static final Set<Integer> NOT_FOR = Set.of(401, 429);
    /** Set on the request once its route opened the body (and Jetty told an asking client to go on). */
    private static final String OPENED = "builderd.body-opened";

    private RequestBodies() {
    }

    /** The request's body, opened at its first read; closing it before then opens nothing. */
    static InputStream of(Context ctx) {
        return new InputStream() {
            private InputStream body;

            private InputStream body() throws IOException {
                if (body == null) {
                    ctx.attribute(OPENED, true);
                    body = ctx.req().getInputStream();
                }
                return body;
            }

            @Override
            public int read() throws IOException {
                return body().read();
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                return body().read(b, off, len);
            }

            @Override
            public void close() throws IOException {
                if (body != null) {
                    body.close();
                }
            }
        };
    }

    /** Reads every request's unread body after its route, within the bounds above. */
    static void register(JavalinConfig config) {
        config.routes.after(RequestBodies::drain);
    }

    private static void drain(Context ctx) {
        long length = ctx.req().getContentLengthLong();
        boolean refused = ctx.statusCode() >= 400;
        boolean neverAskedToSend = "100-continue".equalsIgnoreCase(ctx.header("Expect")) && ctx.attribute(OPENED) == null;
        if (!METHODS_WITH_BODIES.contains(ctx.req().getMethod()) || length == 0 || NOT_FOR.contains(ctx.statusCode())
                || ctx.res().isCommitted() || neverAskedToSend || (refused && length > MAX_BYTES)) {
            return;
        }
        try {
            ServletInputStream in = ctx.req().getInputStream();
            if (in.isFinished()) {
                return;
            }
            // A refused body of unknown length (chunked) is read up to the same bound.
            long left = refused ? MAX_BYTES : Long.MAX_VALUE;
            byte[] sink = new byte[64 * 1024];
            int n;
            while (left > 0 && (n = in.read(sink, 0, (int) Math.min(sink.length, left))) >= 0) {
                left -= n;
            }
        } catch (IOException e) {
            // The body ended early or the client left: there is nothing more to read, and the answer stands.
        }
    }
}
