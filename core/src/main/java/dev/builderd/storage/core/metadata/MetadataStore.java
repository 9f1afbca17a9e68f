package dev.builderd.storage.core.metadata;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import dev.builderd.storage.core.error.UnavailableException;
import dev.builderd.storage.core.model.TenantId;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.SQLException;
import org.flywaydb.core.Flyway;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.HandleCallback;
import org.jdbi.v3.core.Jdbi;
import org.jdbi.v3.core.JdbiException;

/**
 * The metadata database: a connection pool, the schema (migrated by Flyway at open), and
 * transactions. SQLite gets one connection, so its transactions are serial; PostgreSQL gets a
 * pool, and {@link #lockTenant} takes a row lock so that checks such as the concurrent-build
 * limit hold across connections and nodes.
 */
public final class MetadataStore implements AutoCloseable {

    private final MetadataLocation location;
    private final HikariDataSource dataSource;
    private final Jdbi jdbi;

    private MetadataStore(MetadataLocation location, HikariDataSource dataSource) {
        this.location = location;
        this.dataSource = dataSource;
        this.jdbi = Jdbi.create(dataSource);
    }

    /** Connects, migrates the schema to the current version, and returns the store. */
    public static MetadataStore open(MetadataLocation location) {
        HikariConfig config = new HikariConfig();
        config.setPoolName("builderd-metadata");
        config.setJdbcUrl(location.jdbcUrl());
        if (location.user() != null) {
            config.setUsername(location.user());
        }
        if (location.password() != null) {
            config.setPassword(location.password());
        }
        config.setConnectionTimeout(10_000);
        config.setInitializationFailTimeout(10_000);
        if (location.dialect() == MetadataLocation.Dialect.SQLITE) {
            createParentDirectory(location);
            // One connection: SQLite has a single writer, and serial transactions need no retry logic.
            config.setMaximumPoolSize(1);
            config.addDataSourceProperty("journal_mode", "WAL");
            config.addDataSourceProperty("synchronous", "FULL");
            config.addDataSourceProperty("foreign_keys", "true");
            config.addDataSourceProperty("busy_timeout", "10000");
        } else {
            config.setMaximumPoolSize(16);
        }
        HikariDataSource dataSource;
        try {
            dataSource = new HikariDataSource(config);
        } catch (RuntimeException e) {
            throw new UnavailableException("cannot connect to the metadata store (" + location + "): " + rootMessage(e), e);
        }
        try {
            Flyway.configure().dataSource(dataSource).locations("classpath:db/migration").load().migrate();
        } catch (RuntimeException e) {
            dataSource.close();
            throw new UnavailableException("cannot migrate the metadata store (" + location + "): " + rootMessage(e), e);
        }
        return new MetadataStore(location, dataSource);
    }

    private static void createParentDirectory(MetadataLocation location) {
        Path file = Path.of(location.jdbcUrl().substring("jdbc:sqlite:".length()));
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
        } catch (java.io.IOException e) {
            throw new UnavailableException("cannot create the directory of the SQLite metadata file " + file + ": " + e.getMessage(), e);
        }
    }

    /** Runs {@code callback} in one transaction; a database failure becomes {@link UnavailableException}. */
    public <T> T inTransaction(HandleCallback<T, RuntimeException> callback) {
        try {
            return jdbi.inTransaction(callback);
        } catch (JdbiException e) {
            throw new UnavailableException("metadata store failed: " + rootMessage(e), e);
        }
    }

    /** Runs a read without an explicit transaction. */
    public <T> T read(HandleCallback<T, RuntimeException> callback) {
        try {
            return jdbi.withHandle(callback);
        } catch (JdbiException e) {
            throw new UnavailableException("metadata store failed: " + rootMessage(e), e);
        }
    }

    /**
     * Serializes, until the end of the transaction of {@code handle}, every transaction that locks
     * the same tenant. Returns false if the tenant does not exist.
     */
    public boolean lockTenant(Handle handle, TenantId tenant) {
        String sql = location.dialect() == MetadataLocation.Dialect.POSTGRESQL
                ? "SELECT tenant_id FROM tenants WHERE tenant_id = :t FOR UPDATE"
                : "SELECT tenant_id FROM tenants WHERE tenant_id = :t";
        return handle.createQuery(sql).bind("t", tenant.value()).mapTo(String.class).findOne().isPresent();
    }

    /** Whether the database answers a trivial query. */
    public boolean isReachable() {
        try (var connection = dataSource.getConnection()) {
            return connection.isValid(2);
        } catch (SQLException e) {
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
        dataSource.close();
    }
}
