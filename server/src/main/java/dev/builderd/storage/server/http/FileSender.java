package dev.builderd.storage.server.http;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import org.eclipse.jetty.ee10.servlet.HttpOutput;

/**
 * Sends a range of a local file through Jetty with pooled direct buffers: the bytes go from the
 * page cache to the socket with one copy into and one out of native memory, never through the
 * Java heap (which would add two more copies and garbage). The pool bounds the native memory
 * used: {@value #POOLED} buffers of {@value #BUFFER_BYTES} bytes; a send that finds the pool
 * empty allocates its own buffer.
 */
final class FileSender {

    static final int BUFFER_BYTES = 1 << 20;
    private static final int POOLED = 16;

    private final BlockingQueue<ByteBuffer> pool = new ArrayBlockingQueue<>(POOLED);

    /** Writes {@code length} bytes of {@code file} from {@code offset} to {@code out}, blocking until sent. */
    void send(FileChannel file, long offset, long length, HttpOutput out) throws IOException {
        ByteBuffer buffer = pool.poll();
        if (buffer == null) {
            buffer = ByteBuffer.allocateDirect(BUFFER_BYTES);
        }
        try {
            long position = offset;
            long end = offset + length;
            while (position < end) {
                buffer.clear().limit((int) Math.min(BUFFER_BYTES, end - position));
                int n = file.read(buffer, position);
                if (n < 0) {
                    throw new IOException("the file ended " + (end - position) + " bytes early");
                }
                position += n;
                buffer.flip();
                out.write(buffer);
            }
            out.flush();
        } finally {
            pool.offer(buffer);
        }
    }
}
