package dev.builderd.storage.core;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.Tier;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fuzzes {@link Tokens#authenticate}, which sees every {@code Authorization} header: whatever the
 * text, it answers without throwing, and it names a principal only for the exact admin token or
 * the exact text of a live tenant token; a near miss of a real token (one character changed,
 * cut, extended, case-changed, padded) authenticates no one.
 */
final class TokensFuzzTest {

    private static final String ADMIN_TOKEN = "admin-token-for-fuzzing-0123456789";
    private static final TenantId MALLORY = TenantId.of("mallory");

    @TempDir
    static Path dataRoot;
    private static FuzzedStorage opened;
    private static BuilderdStorage storage;
    private static String malloryToken;

    @BeforeAll
    static void open() throws IOException {
        opened = FuzzedStorage.open(dataRoot, ADMIN_TOKEN);
        storage = opened.storage();
        storage.tenants().put(new Principal.Admin(), MALLORY, Tier.FREE, null);
        malloryToken = storage.tenants().issueToken(new Principal.Admin(), MALLORY, Tokens.Request.DEFAULT).token();
    }

    @AfterAll
    static void close() {
        opened.close();
    }

    @FuzzTest(maxDuration = "1m")
    void anyTextAuthenticatesOnlyAsItsExactToken(FuzzedDataProvider data) {
        assertAuthenticatesExactly(data.consumeRemainingAsString());
    }

    @FuzzTest(maxDuration = "1m")
    void nearMissesOfARealTokenAuthenticateNoOne(FuzzedDataProvider data) {
        String real = data.consumeBoolean() ? malloryToken : ADMIN_TOKEN;
        int at = data.consumeInt(0, real.length());
        String edit = data.consumeString(4);
        String candidate = switch (data.consumeInt(0, 4)) {
            case 0 -> real.substring(0, at) + edit + real.substring(Math.min(real.length(), at + 1));
            case 1 -> real.substring(0, at);
            case 2 -> real.substring(0, at) + edit + real.substring(at);
            case 3 -> real.toUpperCase(java.util.Locale.ROOT);
            default -> edit + real + edit;
        };
        assertAuthenticatesExactly(candidate);
    }

    private static void assertAuthenticatesExactly(String text) {
        Optional<Principal> principal = storage.tokens().authenticate(text).caller();
        if (text.equals(ADMIN_TOKEN)) {
            assertThat(principal).containsInstanceOf(Principal.Admin.class);
        } else if (text.equals(malloryToken)) {
            assertThat(principal).hasValueSatisfying(p -> assertThat(p).isInstanceOfSatisfying(Principal.Tenant.class,
                    tenant -> assertThat(tenant.tenant()).isEqualTo(MALLORY)));
        } else {
            assertThat(principal).as("'%s' is no token", text).isEmpty();
        }
    }
}
