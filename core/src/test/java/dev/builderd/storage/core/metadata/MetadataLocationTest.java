package dev.builderd.storage.core.metadata;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class MetadataLocationTest {

    @Test
    void libpqUrlsBecomeJdbcWithCredentialsApart() {
        MetadataLocation location = MetadataLocation.parse("postgresql://builderd:s%40cret@db.internal:5433/meta?sslmode=require");
        assertThat(location.dialect()).isEqualTo(MetadataLocation.Dialect.POSTGRESQL);
        assertThat(location.jdbcUrl()).isEqualTo("jdbc:postgresql://db.internal:5433/meta?sslmode=require");
        assertThat(location.user()).isEqualTo("builderd");
        assertThat(location.password()).isEqualTo("s@cret");
        assertThat(location.toString()).doesNotContain("cret");
    }

    @Test
    void postgresSchemeAndJdbcUrlsAreAccepted() {
        assertThat(MetadataLocation.parse("postgres://h/db").jdbcUrl()).isEqualTo("jdbc:postgresql://h/db");
        assertThat(MetadataLocation.parse("jdbc:postgresql://h:1/db").dialect()).isEqualTo(MetadataLocation.Dialect.POSTGRESQL);
    }

    @Test
    void sqliteFiles() {
        assertThat(MetadataLocation.parse("sqlite:/var/lib/x.db").jdbcUrl()).isEqualTo("jdbc:sqlite:/var/lib/x.db");
        assertThat(MetadataLocation.parse("jdbc:sqlite:/tmp/y.db").dialect()).isEqualTo(MetadataLocation.Dialect.SQLITE);
    }

    @Test
    void badUrlsNameTheProblemAndNeverThePassword() {
        assertThatThrownBy(() -> MetadataLocation.parse("mysql://u:topsecret@h/db"))
                .hasMessageContaining("unsupported").hasMessageContaining("postgresql://").hasMessageNotContaining("topsecret");
        assertThatThrownBy(() -> MetadataLocation.parse("postgresql://u:topsecret@h"))
                .hasMessageContaining("needs a host and a database").hasMessageNotContaining("topsecret");
        assertThatThrownBy(() -> MetadataLocation.parse("sqlite:")).hasMessageContaining("names no file");
    }
}
