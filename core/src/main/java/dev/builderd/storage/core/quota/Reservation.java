package dev.builderd.storage.core.quota;

import dev.builderd.storage.core.error.QuotaExceededException;
import dev.builderd.storage.core.model.TenantId;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import org.jdbi.v3.core.Handle;

/**
 * Bytes of a tenant's quota held for one write in flight. Commit it with the size really
 * written; closing it without a commit releases it (a failed or interrupted write leaks nothing).
 * Not for concurrent use.
 */
public final class Reservation implements AutoCloseable {

    /** An upload of unknown length grows its reservation by this much at a time. */
    static final long INCREMENT = 8L << 20;

    private final Quotas quotas;
    private final TenantId tenant;
    private final Category category;
    private final String id;
    private long bytes;
    private boolean ended;

    Reservation(Quotas quotas, TenantId tenant, Category category, String id, long bytes) {
        this.quotas = quotas;
        this.tenant = tenant;
        this.category = category;
        this.id = id;
        this.bytes = bytes;
    }

    TenantId tenant() {
        return tenant;
    }

    Category category() {
        return category;
    }

    String id() {
        return id;
    }

    /** The bytes held. */
    public long bytes() {
        return bytes;
    }

    /**
     * The body a store should read: as it is when its {@code length} is known (the reservation
     * holds it, and the store refuses a body of another length); otherwise counted as it is read:
     * past the bytes held, the reservation grows (by {@value #INCREMENT} bytes at a time, or just
     * what is needed near the limit); when the quota has no room left, the read fails with a
     * {@link QuotaStreamException}, so that the store keeps nothing of the upload.
     *
     * @param length the body's length, or -1 if unknown
     */
    public InputStream meter(InputStream body, long length) {
        return length < 0 ? meter(body) : body;
    }

    private InputStream meter(InputStream body) {
        return new FilterInputStream(body) {
            private long read;

            @Override
            public int read() throws IOException {
                int b = super.read();
                if (b >= 0) {
                    counted(1);
                }
                return b;
            }

            @Override
            public int read(byte[] buffer, int offset, int length) throws IOException {
                int n = in.read(buffer, offset, length);
                if (n > 0) {
                    counted(n);
                }
                return n;
            }

            private void counted(int n) throws QuotaStreamException {
                read += n;
                if (read > bytes) {
                    grow(read - bytes);
                }
            }
        };
    }

    private void grow(long needed) throws QuotaStreamException {
        try {
            try {
                quotas.extend(this, Math.max(needed, INCREMENT));
                bytes += Math.max(needed, INCREMENT);
            } catch (QuotaExceededException tooMuch) {
                quotas.extend(this, needed);
                bytes += needed;
            }
        } catch (QuotaExceededException e) {
            throw new QuotaStreamException(e);
        }
    }

    /** Commits in the caller's transaction (the one that records the write): {@code actual} bytes stored, {@code replaced} gone. */
    public void commit(Handle h, long actual, long replaced) {
        quotas.commit(h, this, actual, replaced);
        ended = true;
    }

    /** Commits in a transaction of its own. */
    public void commit(long actual, long replaced) {
        quotas.commit(this, actual, replaced);
        ended = true;
    }

    /** Releases the bytes unless the reservation was committed. */
    @Override
    public void close() {
        if (!ended) {
            ended = true;
            quotas.release(this);
        }
    }

    /** A quota refusal raised while a body streams, as the {@link IOException} a store expects from its input. */
    public static final class QuotaStreamException extends IOException {
        private final QuotaExceededException refusal;

        QuotaStreamException(QuotaExceededException refusal) {
            super(refusal.getMessage(), refusal);
            this.refusal = refusal;
        }

        public QuotaExceededException refusal() {
            return refusal;
        }
    }
}
