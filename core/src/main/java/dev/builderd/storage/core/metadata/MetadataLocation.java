package dev.builderd.storage.core.metadata;

import java.net.URI;
import java.net.URISyntaxException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Objects;

/**
 * Where the metadata lives: an SQLite file (the embedded default) or a PostgreSQL database.
 *
 * @param password never printed by {@link #toString()}
 */
public record MetadataLocation(Dialect dialect, String jdbcUrl, String user, String password) {

    /** The two supported engines. */
    public enum Dialect { SQLITE, POSTGRESQL }

    public MetadataLocation {
        Objects.requireNonNull(dialect, "dialect");
        Objects.requireNonNull(jdbcUrl, "jdbcUrl");
    }

    /** An SQLite database in {@code file}. */
    public static MetadataLocation sqlite(Path file) {
        return new MetadataLocation(Dialect.SQLITE, "jdbc:sqlite:" + file.toAbsolutePath(), null, null);
    }

    /**
     * Parses {@code postgresql://user:password@host:port/database?params} (or {@code postgres://},
     * or a {@code jdbc:postgresql:} URL), {@code sqlite:/path/file.db} or {@code jdbc:sqlite:...}.
     *
     * @throws IllegalArgumentException naming what is wrong and the accepted forms
     */
    public static MetadataLocation parse(String url) {
        String accepted = "use postgresql://user:password@host:port/database or sqlite:/path/to/file.db";
        if (url.startsWith("jdbc:sqlite:") || url.startsWith("sqlite:")) {
            String file = url.substring(url.indexOf("sqlite:") + "sqlite:".length());
            if (file.isBlank()) {
                throw new IllegalArgumentException("the SQLite URL names no file; " + accepted);
            }
            return sqlite(Path.of(file));
        }
        if (url.startsWith("jdbc:postgresql:")) {
            return new MetadataLocation(Dialect.POSTGRESQL, url, null, null);
        }
        if (url.startsWith("postgresql://") || url.startsWith("postgres://")) {
            return parsePostgresUri(url, accepted);
        }
        throw new IllegalArgumentException("unsupported metadata URL scheme in '" + redact(url) + "'; " + accepted);
    }

    private static MetadataLocation parsePostgresUri(String url, String accepted) {
        URI uri;
        try {
            uri = new URI(url);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("malformed PostgreSQL URL '" + redact(url) + "': " + e.getReason() + "; " + accepted);
        }
        if (uri.getHost() == null || uri.getPath() == null || uri.getPath().length() < 2) {
            throw new IllegalArgumentException("PostgreSQL URL '" + redact(url) + "' needs a host and a database; " + accepted);
        }
        String user = null;
        String password = null;
        if (uri.getRawUserInfo() != null) {
            String[] parts = uri.getRawUserInfo().split(":", 2);
            user = URLDecoder.decode(parts[0], StandardCharsets.UTF_8);
            password = parts.length > 1 ? URLDecoder.decode(parts[1], StandardCharsets.UTF_8) : null;
        }
        String jdbc = "jdbc:postgresql://" + uri.getHost() + (uri.getPort() > 0 ? ":" + uri.getPort() : "")
                + uri.getRawPath() + (uri.getRawQuery() != null ? "?" + uri.getRawQuery() : "");
        return new MetadataLocation(Dialect.POSTGRESQL, jdbc, user, password);
    }

    /** The URL without its password, for messages. */
    static String redact(String url) {
        return url.replaceAll("(//[^:/@]*:)[^@]*@", "$1****@");
    }

    @Override
    public String toString() {
        return dialect + " " + jdbcUrl + (user != null ? " as " + user : "");
    }
}
