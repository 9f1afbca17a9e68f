package dev.builderd.storage.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import org.junit.jupiter.api.Test;

class PostgresServerTest {

    @Test
    void givesEachCallerItsOwnDatabaseOnOneServer() throws SQLException {
        PostgresServer server = PostgresServer.shared();
        PostgresServer.Database first = server.newDatabase();
        PostgresServer.Database second = server.newDatabase();

        assertThat(PostgresServer.shared()).isSameAs(server);
        assertThat(first.name()).isNotEqualTo(second.name());
        assertThat(first.url()).isEqualTo("postgresql://postgres@127.0.0.1:" + server.port() + "/" + first.name());
        assertThat(first.jdbcUrl()).isEqualTo("jdbc:postgresql://127.0.0.1:" + server.port() + "/" + first.name());

        // A table made in one database must not be visible in the other.
        execute(first, "CREATE TABLE marker (v int)");
        execute(first, "INSERT INTO marker VALUES (42)");
        assertThat(queryString(first, "SELECT current_database() || ':' || (SELECT v FROM marker)"))
                .isEqualTo(first.name() + ":42");
        assertThat(queryString(second, "SELECT current_database() || ':' || count(*) FROM pg_tables WHERE tablename = 'marker'"))
                .isEqualTo(second.name() + ":0");
    }

    @Test
    void listensOnLoopbackOnly() throws SQLException {
        PostgresServer.Database db = PostgresServer.shared().newDatabase();
        assertThat(queryString(db, "SELECT current_setting('listen_addresses')")).isEqualTo("127.0.0.1");
    }

    private static void execute(PostgresServer.Database db, String sql) throws SQLException {
        try (Connection c = DriverManager.getConnection(db.jdbcUrl(), db.user(), db.password());
                Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }

    private static String queryString(PostgresServer.Database db, String sql) throws SQLException {
        try (Connection c = DriverManager.getConnection(db.jdbcUrl(), db.user(), db.password());
                Statement s = c.createStatement();
                ResultSet rs = s.executeQuery(sql)) {
            assertThat(rs.next()).isTrue();
            return rs.getString(1);
        }
    }
}
