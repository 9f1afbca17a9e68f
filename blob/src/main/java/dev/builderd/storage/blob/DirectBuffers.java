package dev.builderd.storage.blob;

import java.nio.ByteBuffer;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;

/**
 * A bounded pool of direct buffers of one size. Native memory is freed only when the garbage
 * collector finds a buffer unreachable, and a read path that makes little heap garbage triggers
 * few collections: without reuse, every large read would leave its buffers behind until the JVM
 * runs out of direct memory and forces a full collection. A buffer is given back only when nothing
 * can touch it any more.
 */
final class DirectBuffers {

    private final int bufferBytes;
    private final BlockingQueue<ByteBuffer> pool;

    DirectBuffers(int bufferBytes, int pooled) {
        this.bufferBytes = bufferBytes;
        this.pool = new ArrayBlockingQueue<>(pooled);
    }

    /** A cleared buffer of {@code bufferBytes} bytes, pooled or new. */
    ByteBuffer take() {
        ByteBuffer buffer = pool.poll();
        return buffer != null ? buffer.clear() : ByteBuffer.allocateDirect(bufferBytes);
    }

    /** Back to the pool (dropped if the pool is full); {@code null} is ignored. */
    void give(ByteBuffer buffer) {
        if (buffer != null) {
            pool.offer(buffer);
        }
    }
}
