package dev.builderd.storage.core;

import dev.builderd.storage.core.error.ConflictException;
import dev.builderd.storage.core.error.NotFoundException;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.model.BuildRef;
import java.time.Duration;
import java.util.Locale;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.jdbi.v3.core.Handle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps uploads and state changes of one build apart, across every node sharing the metadata
 * store: an upload registers while the build is active, and the build cannot be completed, expired
 * or deleted while uploads to it run on any node, so no upload can land in a build that has
 * already been closed. Uploads and closings are rows of {@code build_activity}, each registered in
 * a transaction holding the build's row lock; while the work runs, the node renews its rows every
 * {@link #RENEWAL}, so the rows of a node that died stop counting within {@link #EXPIRY}. A node
 * drops its own rows when it starts.
 */
final class BuildActivity implements AutoCloseable {

    /** How long a row counts without renewal: how long a dead node's uploads block their build. */
    static final Duration EXPIRY = Duration.ofSeconds(30);
    private static final Duration RENEWAL = EXPIRY.dividedBy(3);
    private static final Logger LOG = LoggerFactory.getLogger(BuildActivity.class);

    /** A registered upload; closing it unregisters it. */
    interface Upload extends AutoCloseable {
        @Override
        void close();
    }

    private enum Kind {
        UPLOAD, CLOSING;

        String column() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    private final MetadataStore metadata;
    private final String node;
    private final KeyedLocks<BuildRef> locks = new KeyedLocks<>();
    private final ScheduledExecutorService renewals;

    BuildActivity(MetadataStore metadata, String node) {
        this.metadata = metadata;
        this.node = node;
        // What this node registered before it stopped ended with it.
        metadata.inTransaction(h -> h.createUpdate("DELETE FROM build_activity WHERE node = :node").bind("node", node).execute());
        this.renewals = Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform().name("build-activity").daemon().factory());
        renewals.scheduleWithFixedDelay(this::renew, RENEWAL.toMillis(), RENEWAL.toMillis(), TimeUnit.MILLISECONDS);
    }

    /**
     * Runs {@code checkActive} (which throws if the build cannot take uploads) and registers an
     * upload; 409 if the build is being closed through any node.
     */
    Upload beginUpload(BuildRef ref, Runnable checkActive) {
        String id;
        try (KeyedLocks.Held held = locks.lock(ref)) {
            checkActive.run();
            id = register(ref, Kind.UPLOAD, "upload to", (status, others) -> {
                if (others.closing() > 0) {
                    throw new ConflictException("cannot upload to build " + ref + ": it is being completed or deleted");
                }
                if (!"ACTIVE".equals(status)) {
                    throw new ConflictException("build " + ref + " is " + status.toLowerCase(Locale.ROOT) + " and takes no more uploads");
                }
            });
        }
        return () -> unregister(id);
    }

    /** Runs {@code change} if no upload to the build is in flight on any node, keeping uploads out meanwhile; otherwise 409. */
    <T> T closeBuild(BuildRef ref, String action, Supplier<T> change) {
        try (KeyedLocks.Held held = locks.lock(ref)) {
            String id = register(ref, Kind.CLOSING, action, (status, others) -> {
                if (others.uploads() > 0) {
                    throw new ConflictException("cannot " + action + " build " + ref + " while " + others.uploads()
                            + " upload(s) to it are in progress; retry when they finish");
                }
            });
            try {
                return change.get();
            } finally {
                unregister(id);
            }
        }
    }

    /** Whether uploads to the build are in flight on any node. */
    boolean hasUploads(BuildRef ref) {
        return metadata.read(h -> live(h, ref)).uploads() > 0;
    }

    /**
     * Whether uploads to the build are in flight on any node, holding the build's row lock until
     * the end of {@code h}'s transaction: a change of the build in that transaction can then not
     * race an upload registering.
     */
    boolean hasUploads(Handle h, BuildRef ref) {
        lock(h, ref);
        return live(h, ref).uploads() > 0;
    }

    /** Locks the build's row until the end of {@code h}'s transaction and returns its status; empty if there is no such build. */
    private Optional<String> lock(Handle h, BuildRef ref) {
        return h.createQuery("SELECT status FROM builds WHERE tenant_id = :t AND build_id = :b" + metadata.forUpdate())
                .bind("t", ref.tenant().value()).bind("b", ref.build().value()).mapTo(String.class).findOne();
    }

    /** Runs {@code work} under this node's lock of the build (short work only, such as rewriting its manifest). */
    <T> T underLock(BuildRef ref, Supplier<T> work) {
        try (KeyedLocks.Held held = locks.lock(ref)) {
            return work.get();
        }
    }

    /** What the other live rows of a build are. */
    private record Others(int uploads, int closing) {
    }

    /** A check of the build's status and live rows, made under its row lock; throws to refuse. */
    private interface Check {
        void accept(String status, Others others);
    }

    /**
     * Inserts a row of {@code kind} for the build after {@code check} accepted the live rows, all
     * under the build's row lock, so two nodes never both pass their checks. A build that does
     * not exist gets the usual 404 from the caller's own check, before this.
     */
    private String register(BuildRef ref, Kind kind, String action, Check check) {
        String id = UUID.randomUUID().toString();
        // Not synced: a crash ends the work the row is for, and the node drops its rows when it starts.
        metadata.inUnsyncedTransaction(h -> {
            String status = lock(h, ref).orElseThrow(
                    () -> new NotFoundException("cannot " + action + " build " + ref + ": it does not exist"));
            check.accept(status, live(h, ref));
            h.createUpdate("""
                    INSERT INTO build_activity (activity_id, tenant_id, build_id, kind, node, expires_at)
                    VALUES (:id, :t, :b, :kind, :node, :expires)""")
                    .bind("id", id).bind("t", ref.tenant().value()).bind("b", ref.build().value())
                    .bind("kind", kind.column()).bind("node", node).bind("expires", System.currentTimeMillis() + EXPIRY.toMillis())
                    .execute();
            return null;
        });
        return id;
    }

    private static Others live(Handle h, BuildRef ref) {
        return h.createQuery("""
                SELECT COALESCE(SUM(CASE WHEN kind = 'upload' THEN 1 ELSE 0 END), 0),
                       COALESCE(SUM(CASE WHEN kind = 'closing' THEN 1 ELSE 0 END), 0)
                FROM build_activity WHERE tenant_id = :t AND build_id = :b AND expires_at > :now""")
                .bind("t", ref.tenant().value()).bind("b", ref.build().value()).bind("now", System.currentTimeMillis())
                .map((rs, ctx) -> new Others(rs.getInt(1), rs.getInt(2))).one();
    }

    private void unregister(String id) {
        try {
            metadata.inUnsyncedTransaction(h -> h.createUpdate("DELETE FROM build_activity WHERE activity_id = :id").bind("id", id).execute());
        } catch (RuntimeException e) {
            // The row stops counting at its expiry; the work itself is over.
            LOG.warn("event=build_activity_unregister_failed: {}; the row expires within {}", e.getMessage(), EXPIRY);
        }
    }

    private void renew() {
        try {
            metadata.inUnsyncedTransaction(h -> h.createUpdate("UPDATE build_activity SET expires_at = :expires WHERE node = :node")
                    .bind("expires", System.currentTimeMillis() + EXPIRY.toMillis()).bind("node", node).execute());
        } catch (RuntimeException e) {
            LOG.warn("event=build_activity_renewal_failed: {}; uploads in flight here may stop counting in {}", e.getMessage(), EXPIRY);
        }
    }

    /** Stops renewing this node's rows. */
    @Override
    public void close() {
        renewals.shutdownNow();
    }
}
