package dev.builderd.storage.core;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.util.concurrent.atomic.AtomicReference;
import java.util.zip.GZIPOutputStream;

/**
 * Turns a stream into its gzip-compressed form in constant memory: a virtual thread compresses
 * into a pipe that the returned stream reads. If compressing fails, the returned stream throws
 * at its end rather than reporting a clean end of a truncated archive.
 */
final class GzipPipe {

    private static final int PIPE_BYTES = 1 << 20;

    private GzipPipe() {
    }

    static InputStream compress(InputStream source) throws IOException {
        PipedInputStream pipe = new PipedInputStream(PIPE_BYTES);
        PipedOutputStream sink = new PipedOutputStream(pipe);
        AtomicReference<IOException> failure = new AtomicReference<>();
        Thread.ofVirtual().name("gzip-compress").start(() -> {
            try (source; GZIPOutputStream gzip = new GZIPOutputStream(sink, 1 << 16)) {
                source.transferTo(gzip);
            } catch (IOException e) {
                failure.set(e);
                try {
                    sink.close();
                } catch (IOException ignored) {
                    // The reader sees the failure recorded above.
                }
            }
        });
        return new FilterInputStream(pipe) {
            @Override
            public int read(byte[] buffer, int offset, int length) throws IOException {
                int n = super.read(buffer, offset, length);
                if (n < 0 && failure.get() != null) {
                    throw new IOException("compressing failed: " + failure.get().getMessage(), failure.get());
                }
                return n;
            }

            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }
        };
    }
}
