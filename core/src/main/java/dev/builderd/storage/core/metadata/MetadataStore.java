package dev.builderd.storage.core.metadata;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.builderd.storage.core.error.UnavailableException;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.TenantInfo;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.SQLException;
import java.util.Optional;
import org.flywaydb.core.Flyway;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.HandleCallback;
import org.jdbi.v3.core.Jdbi;
import org.jdbi.v3.core.JdbiException;

/**
 * The metadata database: connection pools, the schema (migrated by Flyway at open), and
 * transactions. SQLite has a single writer, so its transactions run on one connection, one after
 * the other, while reads use a pool of read-only connections (WAL mode lets them run alongside
 * the writer). PostgreSQL uses one pool for both, and {@link #lockTenant} takes a row lock so that
 * checks such as the concurrent-build limit hold across connections and nodes.
 */
public final class MetadataStore implements AutoCloseable {

    /** PostgreSQL's clock as epoch milliseconds, in SQL: times that nodes compare are the database's, so nodes' clocks need not agree. */
    public static final String DATABASE_NOW_MILLIS = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

    private static final int SQLITE_READERS = 4;
    /** How long {@link #isReachable} waits for the database. */
    private static final int REACHABLE_SECONDS = 2;

    private final MetadataLocation location;
    private final HikariDataSource writer;
    private final HikariDataSource reader;
    private final Jdbi writes;
    private final Jdbi reads;
    /** SQLite's single writer shares each durable commit among the transactions waiting for it. */
    private final GroupCommit groupCommit;

    private MetadataStore(MetadataLocation location, HikariDataSource writer, HikariDataSource reader) {
        this.location = location;
        this.writer = writer;
        this.reader = reader;
        this.writes = Jdbi.create(writer);
        this.reads = reader == writer ? writes : Jdbi.create(reader);
        this.groupCommit = location.dialect() == MetadataLocation.Dialect.SQLITE ? new GroupCommit(writes) : null;
    }

    /** Connects, migrates the schema to the current version, and returns the store. */
    public static MetadataStore open(MetadataLocation location) {
        boolean sqlite = location.dialect() == MetadataLocation.Dialect.SQLITE;
        if (sqlite) {
            createParentDirectory(location);
        }
        HikariDataSource writer = connect(location, sqlite ? Role.SQLITE_WRITER : Role.SHARED);
        try {
            Flyway.configure().dataSource(writer).locations("classpath:db/migration").load().migrate();
        } catch (RuntimeException e) {
            writer.close();
            throw new UnavailableException("cannot migrate the metadata store (" + location + "): " + rootMessage(e), e);
        }
        HikariDataSource reader = sqlite ? connect(location, Role.SQLITE_READER) : writer;
        return new MetadataStore(location, writer, reader);
    }

    private enum Role { SHARED, SQLITE_WRITER, SQLITE_READER }

    private static HikariDataSource connect(MetadataLocation location, Role role) {
        HikariConfig config = new HikariConfig();
        config.setPoolName("builderd-metadata-" + role.name().toLowerCase(java.util.Locale.ROOT));
        config.setJdbcUrl(location.jdbcUrl());
        if (location.user() != null) {
            config.setUsername(location.user());
        }
        if (location.password() != null) {
            config.setPassword(location.password());
        }
        config.setConnectionTimeout(10_000);
        config.setInitializationFailTimeout(10_000);
        switch (role) {
            case SHARED -> config.setMaximumPoolSize(16);
            case SQLITE_WRITER -> {
                // One connection: SQLite has a single writer, and serial transactions need no retry logic.
                config.setMaximumPoolSize(1);
                config.addDataSourceProperty("journal_mode", "WAL");
                config.addDataSourceProperty("synchronous", "FULL");
                config.addDataSourceProperty("foreign_keys", "true");
                config.addDataSourceProperty("busy_timeout", "10000");
            }
            case SQLITE_READER -> {
                config.setMaximumPoolSize(SQLITE_READERS);
                config.setReadOnly(true);
                config.addDataSourceProperty("open_mode", "1");
                config.addDataSourceProperty("busy_timeout", "10000");
            }
        }
        try {
            return new HikariDataSource(config);
        } catch (RuntimeException e) {
            throw new UnavailableException("cannot connect to the metadata store (" + location + "): " + rootMessage(e), e);
        }
    }

    private static void createParentDirectory(MetadataLocation location) {
        Path file = Path.of(location.jdbcUrl().substring("jdbc:sqlite:".length()));
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
        } catch (java.io.IOException e) {
            throw new UnavailableException("cannot create the directory of the SQLite metadata file " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Runs {@code callback} in one transaction; a database failure becomes {@link UnavailableException}.
     * On SQLite, transactions submitted together may share one commit (each in its own savepoint:
     * one that throws is rolled back alone); it returns once its changes are durable.
     */
    public <T> T inTransaction(HandleCallback<T, RuntimeException> callback) {
        return inTransaction(callback, true);
    }

    /**
     * Like {@link #inTransaction} (atomic, isolated, in order with every other transaction), but
     * on SQLite its commit may not be on disk yet when it returns: a crash of the machine may lose
     * it, never a later durable transaction's (the log is written in order, and a durable commit
     * makes every earlier one durable with it). It saves waiting for the disk where a restart of
     * this node rebuilds the state anyway: quota reservations, which the start-up sweep drops
     * ({@code Quotas.sweep}) because the writes they were for died with the node. On PostgreSQL,
     * where other nodes act on what this commits, it is durable.
     */
    public <T> T inUnsyncedTransaction(HandleCallback<T, RuntimeException> callback) {
        return inTransaction(callback, false);
    }

    private <T> T inTransaction(HandleCallback<T, RuntimeException> callback, boolean durable) {
        try {
            return groupCommit != null ? groupCommit.inTransaction(callback, durable) : writes.inTransaction(callback);
        } catch (JdbiException e) {
            throw failure(e);
        }
    }

    /**
     * A database failure as the caller's error: a full disk under the database is 507 like any
     * full disk (the write is refused, nothing was stored); anything else makes the store unavailable.
     */
    private static dev.builderd.storage.core.error.StorageException failure(JdbiException e) {
        String message = rootMessage(e);
        boolean diskFull = message.contains("SQLITE_FULL") || message.contains("No space left on device")
                || e.getCause() instanceof SQLException sql && "53100".equals(sql.getSQLState());
        if (diskFull) {
            return new dev.builderd.storage.core.error.QuotaExceededException(
                    "the storage device of the metadata store is full; nothing was stored (" + message + ")");
        }
        return new UnavailableException("metadata store failed: " + message, e);
    }

    /** Runs a read-only callback without an explicit transaction; it sees every committed transaction. */
    public <T> T read(HandleCallback<T, RuntimeException> callback) {
        try {
            return reads.withHandle(callback);
        } catch (JdbiException e) {
            throw new UnavailableException("metadata store failed: " + rootMessage(e), e);
        }
    }

    /**
     * Runs a read-only callback in one read transaction: all its queries see the same committed
     * state (PostgreSQL's repeatable read; a SQLite read transaction), such as a backup's view of
     * a tenant at one point in time.
     */
    public <T> T readConsistent(HandleCallback<T, RuntimeException> callback) {
        try {
            return reads.withHandle(h -> location.dialect() == MetadataLocation.Dialect.POSTGRESQL
                    ? h.inTransaction(org.jdbi.v3.core.transaction.TransactionIsolationLevel.REPEATABLE_READ, callback::withHandle)
                    : h.inTransaction(callback::withHandle));
        } catch (JdbiException e) {
            throw new UnavailableException("metadata store failed: " + rootMessage(e), e);
        }
    }

    /**
     * Serializes, until the end of the transaction of {@code handle}, every transaction that locks
     * the same tenant. Returns false if the tenant does not exist.
     */
    public boolean lockTenant(Handle handle, TenantId tenant) {
        return lockedTenant(handle, tenant).isPresent();
    }

    /**
     * Locks the tenant's row as {@link #lockTenant} does and returns it, so that a transaction that
     * needs the tenant's tier reads the row once; empty when there is no such tenant.
     */
    public Optional<TenantInfo> lockedTenant(Handle handle, TenantId tenant) {
        return TenantRows.find(handle, tenant, forUpdate());
    }

    /**
     * The clause that makes a {@code SELECT} in a transaction lock the rows it reads until the
     * transaction ends: {@code FOR UPDATE} on PostgreSQL; nothing on SQLite, whose single writer
     * runs one transaction at a time.
     */
    public String forUpdate() {
        return location.dialect() == MetadataLocation.Dialect.POSTGRESQL ? " FOR UPDATE" : "";
    }

    /** Whether the database answers a trivial query. */
    public boolean isReachable() {
        // Bounded: the pool waits up to its connection timeout for a database that is down, and a
        // readiness probe must answer sooner than an orchestrator gives up on it.
        var check = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try (var connection = writer.getConnection()) {
                return connection.isValid(REACHABLE_SECONDS);
            } catch (SQLException e) {
                return false;
            }
        }, task -> Thread.ofVirtual().name("metadata-reachable").start(task));
        try {
            return check.get(REACHABLE_SECONDS, java.util.concurrent.TimeUnit.SECONDS);
        } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    public MetadataLocation location() {
        return location;
    }

    private static String rootMessage(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        return root.getMessage() == null ? root.getClass().getSimpleName() : root.getMessage();
    }

    @Override
    public void close() {
        if (reader != writer) {
            reader.close();
        }
        writer.close();
    }
}
