package dev.builderd.storage.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.FileBlobStore;
import dev.builderd.storage.core.CacheService.CacheType;
import dev.builderd.storage.core.Tokens.Authentication;
import dev.builderd.storage.core.error.ForbiddenException;
import dev.builderd.storage.core.error.InvalidInputException;
import dev.builderd.storage.core.error.NotFoundException;
import dev.builderd.storage.core.metadata.MetadataLocation;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.model.BuildId;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.BuildStatus;
import dev.builderd.storage.core.model.FileName;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.Principal.Scope;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.Tier;
import dev.builderd.storage.testing.MovableClock;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Tenant tokens through the core: scopes and build tokens enforced by every service, expiry on a
 * clock the test moves, revocation, and who may issue what. Runs on SQLite (where a node trusts
 * tokens it looked up for a while) here, and on PostgreSQL in {@link PostgresTokensTest}.
 */
class TokensTest {

    static final Principal ADMIN = new Principal.Admin();
    static final TenantId ACME = TenantId.of("acme");
    static final TenantId GLOBEX = TenantId.of("globex");
    static final byte[] BODY = "content".getBytes(java.nio.charset.StandardCharsets.UTF_8);

    @TempDir
    Path dataRoot;
    final MovableClock clock = new MovableClock();
    MetadataStore metadata;
    BuilderdStorage storage;
    BuildRef b1;
    BuildRef b2;

    MetadataLocation metadataLocation() {
        return MetadataLocation.sqlite(dataRoot.resolve("metadata/builderd.db"));
    }

    @BeforeEach
    void open() throws IOException {
        metadata = MetadataStore.open(metadataLocation());
        storage = new BuilderdStorage(CoreConfig.defaults(Layout.under(dataRoot)), metadata,
                Stores.single(new FileBlobStore(dataRoot)), "admin-token-for-tests", clock);
        storage.tenants().put(ADMIN, ACME, Tier.PRO, null);
        storage.tenants().put(ADMIN, GLOBEX, Tier.PRO, null);
        b1 = storage.builds().create(ADMIN, ACME, Optional.of(BuildId.of("b1")), null).build().ref();
        b2 = storage.builds().create(ADMIN, ACME, Optional.of(BuildId.of("b2")), null).build().ref();
        upload(ADMIN, b1, "a.bin");
        putCache(ADMIN, ACME, "npm/left-pad");
    }

    @AfterEach
    void close() {
        storage.close();
        metadata.close();
    }

    @Test
    void tenantTokensAuthenticateUntilRevokedAndReachOnlyTheirTenant() {
        var issued = issue(ADMIN, ACME, Tokens.Request.DEFAULT);
        Principal acme = caller(issued);

        assertThat(acme).isEqualTo(new Principal.Tenant(ACME, issued.tokenId(), Scope.WRITE, Optional.empty()));
        assertThat(storage.tenants().get(acme, ACME).tier()).isEqualTo(Tier.PRO);
        assertForbidden(() -> storage.builds().list(acme, GLOBEX), "belongs to tenant 'acme'", "cannot reach tenant 'globex'");
        assertThat(storage.tokens().authenticate(issued.token() + "x")).isInstanceOf(Authentication.Refused.class);
        assertThat(storage.tokens().authenticate("admin-token-for-tests").caller()).contains(ADMIN);

        storage.tenants().revokeToken(ADMIN, ACME, issued.tokenId());
        assertThat(refusal(issued.token())).contains("was revoked");
    }

    @Test
    void aWrongSecretWithALiveTokensIdIsRefusedAsUnknownEvenWhileTheTokenIsTrusted() {
        var issued = issue(ADMIN, ACME, Tokens.Request.DEFAULT);
        caller(issued);
        caller(issued);
        String forged = issued.token().substring(0, issued.token().lastIndexOf('_') + 1) + "x".repeat(43);

        assertThat(refusal(forged)).isEqualTo("the token is not valid: unknown or malformed");
        assertThat(refusal("bdt_nosuchid_" + "y".repeat(43))).isEqualTo("the token is not valid: unknown or malformed");
        assertThat(refusal("bdt__")).isEqualTo("the token is not valid: unknown or malformed");
    }

    @Test
    void aReadTokenReadsEveryRouteFamilyAndWritesNone() throws IOException {
        Principal reader = caller(issue(ADMIN, ACME, new Tokens.Request(Scope.READ, Optional.empty(), Optional.empty())));

        assertThat(storage.tenants().get(reader, ACME).id()).isEqualTo(ACME);
        assertThat(storage.quotas().usage(reader, ACME).tenant()).isEqualTo(ACME);
        assertThat(storage.builds().list(reader, ACME)).hasSize(2);
        assertThat(storage.builds().get(reader, b1).build().ref()).isEqualTo(b1);
        assertThat(storage.artifacts().list(reader, b1)).hasSize(1);
        assertThat(read(storage.artifacts().describe(reader, b1, FileName.of("a.bin")).open(ByteRange.ALL))).isEqualTo(BODY);
        assertThat(read(storage.caches().open(reader, ACME, CacheType.DEPENDENCIES, "npm/left-pad", ByteRange.ALL).content()))
                .isEqualTo(BODY);
        assertThat(storage.caches().types(reader, ACME)).isNotEmpty();
        assertThat(storage.retention().policy(reader, ACME)).isNotNull();

        String scopes = "this token has scope 'read'";
        assertForbidden(() -> upload(reader, b1, "b.bin"), scopes, "writing to build acme/b1 needs scope 'write'");
        assertForbidden(() -> storage.artifacts().delete(reader, b1, FileName.of("a.bin")), scopes, "needs scope 'write'");
        assertForbidden(() -> storage.artifacts().gzip(reader, b1, FileName.of("a.bin")), scopes);
        assertForbidden(() -> storage.logs().put(reader, b1, FileName.of("build.log"), new ByteArrayInputStream(BODY), BODY.length), scopes);
        assertForbidden(() -> storage.builds().complete(reader, b1, BuildStatus.SUCCEEDED), scopes);
        assertForbidden(() -> storage.builds().renewLease(reader, b1, null), scopes);
        assertForbidden(() -> storage.builds().create(reader, ACME, Optional.empty(), null), scopes, "changing tenant 'acme'");
        assertForbidden(() -> storage.builds().delete(reader, b1), scopes);
        assertForbidden(() -> putCache(reader, ACME, "npm/other"), scopes, "writing to the caches of tenant 'acme'");
        assertForbidden(() -> storage.caches().delete(reader, ACME, CacheType.DEPENDENCIES, "npm/left-pad"), scopes);
        assertForbidden(() -> storage.caches().pin(reader, b1, CacheType.DEPENDENCIES, List.of("npm/left-pad")), scopes);
        assertForbidden(() -> issue(reader, ACME, new Tokens.Request(Scope.READ, Optional.of(b1.build()), Optional.empty())),
                scopes, "needs scope 'write'");

        assertThat(storage.artifacts().list(ADMIN, b1)).hasSize(1);
        assertThat(storage.builds().get(ADMIN, b1).build().status()).isEqualTo(BuildStatus.ACTIVE);
    }

    @Test
    void aBuildTokenReachesItsBuildAndTheCachesAndNothingElse() throws IOException {
        var issued = issue(ADMIN, ACME, new Tokens.Request(Scope.WRITE, Optional.of(b1.build()), Optional.empty()));
        Principal worker = caller(issued);

        assertThat(issued.info().expires()).as("a build token expires by default").contains(clock.instant().plus(Tokens.BUILD_TOKEN_LIFETIME));
        assertThat(storage.builds().get(worker, b1).build().ref()).isEqualTo(b1);
        assertThat(upload(worker, b1, "rootfs.ext4").size()).isEqualTo(BODY.length);
        storage.logs().put(worker, b1, FileName.of("build.log"), new ByteArrayInputStream(BODY), BODY.length);
        assertThat(read(storage.logs().open(worker, b1, FileName.of("build.log")))).isEqualTo(BODY);
        assertThat(read(storage.caches().open(worker, ACME, CacheType.DEPENDENCIES, "npm/left-pad", ByteRange.ALL).content()))
                .isEqualTo(BODY);
        putCache(worker, ACME, "npm/fetched-by-the-build");
        storage.caches().pin(worker, b1, CacheType.DEPENDENCIES, List.of("npm/left-pad"));
        storage.builds().renewLease(worker, b1, null);

        String bound = "this token is bound to build acme/b1";
        assertForbidden(() -> storage.builds().get(worker, b2), bound, "reading build acme/b2 is outside that build");
        assertForbidden(() -> upload(worker, b2, "x.bin"), bound);
        assertForbidden(() -> storage.artifacts().list(worker, b2), bound);
        assertForbidden(() -> storage.caches().pin(worker, b2, CacheType.DEPENDENCIES, List.of("npm/left-pad")), bound);
        assertForbidden(() -> storage.builds().list(worker, ACME), bound);
        assertForbidden(() -> storage.builds().create(worker, ACME, Optional.empty(), null), bound);
        assertForbidden(() -> storage.builds().delete(worker, b1), bound);
        assertForbidden(() -> storage.tenants().get(worker, ACME), bound);
        assertForbidden(() -> storage.quotas().usage(worker, ACME), bound);
        assertForbidden(() -> storage.caches().types(worker, ACME), bound);
        assertForbidden(() -> storage.caches().delete(worker, ACME, CacheType.DEPENDENCIES, "npm/left-pad"), bound);
        assertForbidden(() -> storage.tenants().tokens(worker, ACME), bound);
        assertForbidden(() -> issue(worker, ACME, new Tokens.Request(Scope.READ, Optional.of(b1.build()), Optional.empty())), bound);
        assertForbidden(() -> storage.builds().get(worker, new BuildRef(GLOBEX, b1.build())), "cannot reach tenant 'globex'");

        assertThat(storage.builds().complete(worker, b1, BuildStatus.SUCCEEDED).build().status()).isEqualTo(BuildStatus.SUCCEEDED);
        assertThat(storage.artifacts().list(worker, b1)).extracting(a -> a.name().value()).contains("a.bin", "rootfs.ext4");
    }

    @Test
    void aReadBuildTokenOnlyReadsItsBuild() {
        Principal reader = caller(issue(ADMIN, ACME, new Tokens.Request(Scope.READ, Optional.of(b1.build()), Optional.empty())));

        assertThat(storage.artifacts().list(reader, b1)).hasSize(1);
        assertForbidden(() -> upload(reader, b1, "b.bin"), "this token has scope 'read'");
        assertForbidden(() -> putCache(reader, ACME, "npm/other"), "this token has scope 'read'");
    }

    @Test
    void anExpiredTokenIsRefusedThoughItWasTrusted() {
        var issued = issue(ADMIN, ACME, new Tokens.Request(Scope.WRITE, Optional.empty(), Optional.of(Duration.ofSeconds(60))));
        caller(issued);
        clock.advance(Duration.ofSeconds(59));
        caller(issued);

        clock.advance(Duration.ofSeconds(1));

        assertThat(refusal(issued.token())).isEqualTo("the token " + issued.tokenId() + " expired at " + issued.info().expires().orElseThrow());
        assertThat(storage.tenants().tokens(ADMIN, ACME)).filteredOn(t -> t.tokenId().equals(issued.tokenId()))
                .singleElement().satisfies(t -> assertThat(t.expires()).isEqualTo(issued.info().expires()));
    }

    @Test
    void deletingABuildEndsItsTokensThoughTrustedAndABuildOfTheSameIdDoesNotBringThemBack() {
        var issued = issue(ADMIN, ACME, new Tokens.Request(Scope.WRITE, Optional.of(b1.build()), Optional.empty()));
        caller(issued);
        caller(issued);

        storage.builds().delete(ADMIN, b1);

        assertThat(refusal(issued.token())).isEqualTo("the token is not valid: unknown or malformed");
        storage.builds().create(ADMIN, ACME, Optional.of(b1.build()), null);
        assertThat(refusal(issued.token())).isEqualTo("the token is not valid: unknown or malformed");
        assertThat(storage.tenants().tokens(ADMIN, ACME)).extracting(Tokens.TokenInfo::tokenId).doesNotContain(issued.tokenId());
    }

    @Test
    void aTenantAdminTokenManagesItsOwnTenantsTokensOnly() {
        var admin = issue(ADMIN, ACME, new Tokens.Request(Scope.ADMIN, Optional.empty(), Optional.empty()));
        Principal tenantAdmin = caller(admin);
        storage.tenants().get(ADMIN, GLOBEX);

        var reader = issue(tenantAdmin, ACME, new Tokens.Request(Scope.READ, Optional.empty(), Optional.of(Duration.ofHours(1))));
        var builder = issue(tenantAdmin, ACME, new Tokens.Request(Scope.WRITE, Optional.of(b2.build()), Optional.empty()));
        assertThat(caller(reader)).isEqualTo(new Principal.Tenant(ACME, reader.tokenId(), Scope.READ, Optional.empty()));
        assertThat(storage.tenants().tokens(tenantAdmin, ACME)).extracting(Tokens.TokenInfo::tokenId)
                .containsExactlyInAnyOrder(admin.tokenId(), reader.tokenId(), builder.tokenId());

        storage.tenants().revokeToken(tenantAdmin, ACME, reader.tokenId());
        assertThat(refusal(reader.token())).contains("was revoked");
        assertThat(storage.tenants().tokens(tenantAdmin, ACME)).filteredOn(t -> t.tokenId().equals(reader.tokenId()))
                .singleElement().satisfies(t -> assertThat(t.revoked()).isPresent());

        assertForbidden(() -> issue(tenantAdmin, ACME, new Tokens.Request(Scope.ADMIN, Optional.empty(), Optional.empty())),
                "issuing a token of scope 'admin' needs the admin token");
        assertForbidden(() -> storage.tenants().tokens(tenantAdmin, GLOBEX), "cannot reach tenant 'globex'");
        assertForbidden(() -> issue(tenantAdmin, GLOBEX, Tokens.Request.DEFAULT), "cannot reach tenant 'globex'");
        assertForbidden(() -> storage.tenants().purge(tenantAdmin, ACME), "needs the admin token");
        assertForbidden(() -> storage.tenants().put(tenantAdmin, ACME, Tier.DEDICATED, null), "needs the admin token");

        Principal writer = caller(issue(ADMIN, ACME, Tokens.Request.DEFAULT));
        assertThat(caller(issue(writer, ACME, new Tokens.Request(Scope.READ, Optional.of(b1.build()), Optional.empty()))))
                .as("a write token issues build tokens").isInstanceOf(Principal.Tenant.class);
        assertForbidden(() -> issue(writer, ACME, new Tokens.Request(Scope.READ, Optional.empty(), Optional.empty())),
                "this token has scope 'write'", "needs scope 'admin'");
        assertForbidden(() -> storage.tenants().tokens(writer, ACME), "needs scope 'admin'");
        assertForbidden(() -> storage.tenants().revokeToken(writer, ACME, admin.tokenId()), "needs scope 'admin'");
    }

    @Test
    void tokenRequestsAreCheckedAndNamedWhenWrong() {
        assertThatThrownBy(() -> new Tokens.Request(Scope.ADMIN, Optional.of(b1.build()), Optional.empty()))
                .isInstanceOf(InvalidInputException.class).hasMessageContaining("a build token has scope read or write");
        assertThatThrownBy(() -> new Tokens.Request(Scope.READ, Optional.empty(), Optional.of(Duration.ZERO)))
                .isInstanceOf(InvalidInputException.class).hasMessageContaining("lifetime is 1 s to 366 days, not 0 s");
        assertThatThrownBy(() -> Scope.parse("owner")).isInstanceOf(InvalidInputException.class)
                .hasMessageContaining("unknown token scope 'owner'");
        assertThatThrownBy(() -> issue(ADMIN, ACME, new Tokens.Request(Scope.WRITE, Optional.of(BuildId.of("nope")), Optional.empty())))
                .isInstanceOf(NotFoundException.class).hasMessageContaining("build 'nope' of tenant 'acme' does not exist");
    }

    @Test
    void aRevocationEndsOnlyThatTokenAtOnceThoughItWasTrusted() {
        var revoked = issue(ADMIN, ACME, Tokens.Request.DEFAULT);
        var kept = issue(ADMIN, ACME, Tokens.Request.DEFAULT);
        // Twice each: on SQLite the second call is answered from the node's trust, not the store.
        for (int i = 0; i < 2; i++) {
            caller(revoked);
            caller(kept);
        }

        storage.tenants().revokeToken(ADMIN, ACME, revoked.tokenId());

        assertThat(refusal(revoked.token())).contains("was revoked");
        assertThat(caller(kept)).isEqualTo(new Principal.Tenant(ACME, kept.tokenId()));
    }

    @Test
    void aPurgeEndsTheTenantsTrustedTokensAtOnce() {
        var issued = issue(ADMIN, ACME, Tokens.Request.DEFAULT);
        caller(issued);
        caller(issued);

        storage.tenants().purge(ADMIN, ACME);

        assertThat(refusal(issued.token())).isEqualTo("the token is not valid: unknown or malformed");
    }

    @Test
    void aTokenRevokedWhileOthersAuthenticateItIsRefusedRightAfter() throws Exception {
        for (int round = 0; round < 20; round++) {
            var issued = issue(ADMIN, ACME, Tokens.Request.DEFAULT);
            AtomicBoolean stop = new AtomicBoolean();
            List<Thread> hammering = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                hammering.add(Thread.ofPlatform().start(() -> {
                    while (!stop.get()) {
                        storage.tokens().authenticate(issued.token());
                    }
                }));
            }
            try {
                storage.tenants().revokeToken(ADMIN, ACME, issued.tokenId());
                // Lookups that read the row before the revocation committed may still be storing
                // their answers now: none of them may be trusted.
                for (int i = 0; i < 200; i++) {
                    assertThat(storage.tokens().authenticate(issued.token()).caller())
                            .as("round %d, call %d after the revocation", round, i).isEmpty();
                }
            } finally {
                stop.set(true);
                for (Thread thread : hammering) {
                    thread.join();
                }
            }
        }
    }

    Tokens.IssuedToken issue(Principal caller, TenantId tenant, Tokens.Request request) {
        return storage.tenants().issueToken(caller, tenant, request);
    }

    Principal caller(Tokens.IssuedToken issued) {
        Authentication result = storage.tokens().authenticate(issued.token());
        assertThat(result).as("authenticating %s", issued).isInstanceOf(Authentication.Accepted.class);
        return result.caller().orElseThrow();
    }

    String refusal(String token) {
        Authentication result = storage.tokens().authenticate(token);
        assertThat(result).isInstanceOf(Authentication.Refused.class);
        return ((Authentication.Refused) result).reason();
    }

    dev.builderd.storage.core.model.ArtifactInfo upload(Principal caller, BuildRef ref, String name) {
        return storage.artifacts().upload(caller, ref, FileName.of(name), new ByteArrayInputStream(BODY), BODY.length, null);
    }

    void putCache(Principal caller, TenantId tenant, String key) {
        storage.caches().put(caller, tenant, CacheType.DEPENDENCIES, key, new ByteArrayInputStream(BODY), BODY.length);
    }

    static byte[] read(InputStream in) throws IOException {
        try (in) {
            return in.readAllBytes();
        }
    }

    static void assertForbidden(ThrowingCallable call, String... phrases) {
        var thrown = assertThatThrownBy(call).isInstanceOf(ForbiddenException.class);
        for (String phrase : phrases) {
            thrown.hasMessageContaining(phrase);
        }
    }
}
