package dev.builderd.storage.blob;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Iterator;
import java.util.Optional;

/**
 * A circuit breaker around a remote store, so that a dead or hanging backend makes requests fail
 * at once with {@link BackendUnavailableException} instead of tying up a worker for a timeout
 * each. After {@code failureThreshold} consecutive failures the circuit opens for
 * {@code openDuration}; then one call is let through as a trial, and its outcome closes or
 * reopens the circuit.
 *
 * <p>Only failures of the backend count: a missing key, a key taken by {@code CREATE_NEW}, a body
 * of the wrong length, a blob that fails verification, and any failure of the caller's own input
 * stream (a client that broke off) say nothing about the backend's health.
 */
public final class CircuitBreakingBlobStore implements BlobStore {

    /** What the breaker knows, for health reports. */
    public record State(boolean open, int consecutiveFailures, Optional<String> lastFailure, Optional<Instant> openUntil) {
    }

    private final BlobStore delegate;
    private final int failureThreshold;
    private final Duration openDuration;
    private final Clock clock;
    private int consecutiveFailures;
    private Instant openUntil;
    private boolean trialInFlight;
    private String lastFailure;

    public CircuitBreakingBlobStore(BlobStore delegate, int failureThreshold, Duration openDuration, Clock clock) {
        if (failureThreshold < 1) {
            throw new IllegalArgumentException("the failure threshold must be at least 1");
        }
        this.delegate = delegate;
        this.failureThreshold = failureThreshold;
        this.openDuration = openDuration;
        this.clock = clock;
    }

    @Override
    public BlobInfo put(BlobKey key, InputStream data, long length, WriteMode mode) throws IOException {
        admit();
        CallerStream caller = new CallerStream(data);
        try {
            BlobInfo info = delegate.put(key, caller, length, mode);
            succeeded();
            return info;
        } catch (IOException | RuntimeException e) {
            judge(e, caller.failed);
            throw e;
        }
    }

    @Override
    public InputStream open(BlobKey key, ByteRange range) throws IOException {
        return call(() -> delegate.open(key, range));
    }

    @Override
    public Optional<BlobInfo> stat(BlobKey key) throws IOException {
        return call(() -> delegate.stat(key));
    }

    @Override
    public boolean delete(BlobKey key) throws IOException {
        return call(() -> delegate.delete(key));
    }

    @Override
    public int deleteAll(java.util.List<BlobKey> keys) throws IOException {
        return call(() -> delegate.deleteAll(keys));
    }

    @Override
    public Iterator<BlobInfo> list(String prefix, BlobKey startAfter) throws IOException {
        Iterator<BlobInfo> blobs = call(() -> delegate.list(prefix, startAfter));
        return new Iterator<>() {
            @Override
            public boolean hasNext() {
                try {
                    return blobs.hasNext();
                } catch (UncheckedIOException e) {
                    judge(e.getCause(), false);
                    throw e;
                }
            }

            @Override
            public BlobInfo next() {
                return blobs.next();
            }
        };
    }

    @Override
    public String backendName() {
        return delegate.backendName();
    }

    /** The store this breaker guards. */
    public BlobStore delegate() {
        return delegate;
    }

    public synchronized State state() {
        boolean open = openUntil != null && clock.instant().isBefore(openUntil);
        return new State(open, consecutiveFailures, Optional.ofNullable(lastFailure), Optional.ofNullable(open ? openUntil : null));
    }

    private interface Call<T> {
        T run() throws IOException;
    }

    private <T> T call(Call<T> call) throws IOException {
        admit();
        try {
            T result = call.run();
            succeeded();
            return result;
        } catch (IOException | RuntimeException e) {
            judge(e, false);
            throw e;
        }
    }

    private synchronized void admit() throws BackendUnavailableException {
        if (openUntil == null) {
            return;
        }
        if (clock.instant().isBefore(openUntil) || trialInFlight) {
            throw new BackendUnavailableException("the " + delegate.backendName() + " backend is unavailable: "
                    + consecutiveFailures + " calls in a row failed, the last with: " + lastFailure
                    + "; failing fast until " + openUntil);
        }
        trialInFlight = true;
    }

    private synchronized void succeeded() {
        consecutiveFailures = 0;
        openUntil = null;
        trialInFlight = false;
    }

    private void judge(Throwable failure, boolean callerFailed) {
        if (callerFailed || !isBackendFailure(failure)) {
            synchronized (this) {
                trialInFlight = false;
            }
            return;
        }
        synchronized (this) {
            trialInFlight = false;
            consecutiveFailures++;
            lastFailure = failure.getMessage() == null ? failure.getClass().getSimpleName() : failure.getMessage();
            if (consecutiveFailures >= failureThreshold) {
                openUntil = clock.instant().plus(openDuration);
            }
        }
    }

    private static boolean isBackendFailure(Throwable failure) {
        return !(failure instanceof BlobNotFoundException || failure instanceof BlobAlreadyExistsException
                || failure instanceof UploadLengthMismatchException || failure instanceof BackendUnavailableException
                || failure instanceof SymbolicLinkRefusedException || failure instanceof BlobKeyConflictException
                || failure instanceof IntegrityViolationException
                || failure instanceof IllegalArgumentException);
    }

    /** Remembers whether the caller's stream itself failed, which is no fault of the backend. */
    private static final class CallerStream extends FilterInputStream {
        volatile boolean failed;

        CallerStream(InputStream in) {
            super(in);
        }

        @Override
        public int read() throws IOException {
            try {
                return super.read();
            } catch (IOException | RuntimeException e) {
                failed = true;
                throw e;
            }
        }

        @Override
        public int read(byte[] buffer, int offset, int length) throws IOException {
            try {
                return in.read(buffer, offset, length);
            } catch (IOException | RuntimeException e) {
                failed = true;
                throw e;
            }
        }
    }
}
