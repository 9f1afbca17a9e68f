package dev.builderd.storage.core;

import static org.assertj.core.api.Assertions.assertThat;

import dev.builderd.storage.core.Tokens.Authentication;
import dev.builderd.storage.core.model.BuildId;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.Principal.Scope;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.Tier;
import dev.builderd.storage.testing.MovableClock;
import java.time.Clock;
import java.time.Duration;
import java.util.Optional;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Revocation and expiry across two nodes on one real PostgreSQL: what one node ends, the other
 * refuses on the very next call, though it had just accepted the token (no node trusts a token
 * it looked up before when the store is shared).
 */
class PostgresTokenRevocationTest extends TwoNodeTest {

    private static final Principal ADMIN = new Principal.Admin();
    private static final TenantId ACME = TenantId.of("acme");
    private final MovableClock movable = new MovableClock();

    @Override
    Clock clock() {
        return movable;
    }

    @BeforeEach
    void tenant() {
        a.tenants().put(ADMIN, ACME, Tier.PRO, null);
    }

    @Test
    void aTokenRevokedThroughOneNodeIsRefusedByTheOtherAtOnce() {
        var issued = a.tenants().issueToken(ADMIN, ACME, Tokens.Request.DEFAULT);
        assertAccepted(b, issued.token());
        assertAccepted(b, issued.token());

        a.tenants().revokeToken(ADMIN, ACME, issued.tokenId());

        assertThat(b.tokens().authenticate(issued.token())).isInstanceOfSatisfying(Authentication.Refused.class,
                refused -> assertThat(refused.reason()).contains("was revoked"));
    }

    @Test
    void aTokenExpiresOnBothNodesAtOnce() {
        var issued = a.tenants().issueToken(ADMIN, ACME, new Tokens.Request(Scope.READ, Optional.empty(),
                Optional.of(Duration.ofMinutes(5))));
        movable.advance(Duration.ofMinutes(5).minusMillis(1));
        assertAccepted(b, issued.token());
        assertAccepted(a, issued.token());

        movable.advance(Duration.ofMillis(1));

        for (BuilderdStorage node : new BuilderdStorage[] {b, a}) {
            assertThat(node.tokens().authenticate(issued.token())).isInstanceOfSatisfying(Authentication.Refused.class,
                    refused -> assertThat(refused.reason()).contains("expired at"));
        }
    }

    @Test
    void aBuildDeletedThroughOneNodeEndsItsTokensOnTheOther() {
        BuildRef build = a.builds().create(ADMIN, ACME, Optional.of(BuildId.of("b1")), null).build().ref();
        var issued = a.tenants().issueToken(ADMIN, ACME, new Tokens.Request(Scope.WRITE, Optional.of(build.build()),
                Optional.empty()));
        assertAccepted(b, issued.token());

        a.builds().delete(ADMIN, build);

        assertThat(b.tokens().authenticate(issued.token())).isInstanceOf(Authentication.Refused.class);
    }

    private static void assertAccepted(BuilderdStorage node, String token) {
        assertThat(node.tokens().authenticate(token)).isInstanceOf(Authentication.Accepted.class);
    }
}
