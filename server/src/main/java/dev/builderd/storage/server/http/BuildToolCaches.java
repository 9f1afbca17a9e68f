package dev.builderd.storage.server.http;

import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.core.CacheService;
import dev.builderd.storage.core.CacheService.CacheRead;
import dev.builderd.storage.core.CacheService.CacheType;
import dev.builderd.storage.core.error.InvalidInputException;
import dev.builderd.storage.core.error.NotFoundException;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import io.javalin.config.RoutesConfig;
import io.javalin.http.Context;
import java.io.ByteArrayInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The cache protocols real build tools speak, each mapped onto a tenant's {@code dependencies}
 * cache, so that quotas, eviction, pinning and encryption apply to them as to every other entry.
 * The tenant is in the path and must be the token's; the credential is the tenant's token, as
 * {@code Authorization: Bearer} or as the password of HTTP Basic credentials (what Gradle, and
 * Bazel and ccache from a URL's user info, send).
 *
 * <table>
 * <caption>routes and where their entries go</caption>
 * <tr><th>tool</th><th>route</th><th>dependencies key</th></tr>
 * <tr><td>Bazel HTTP remote cache</td><td>{@code GET|HEAD|PUT /cache/bazel/{t}/ac|cas/{sha256}}</td>
 *     <td>{@code bazel/ac/<hex>}, {@code bazel/cas/<hex>} (CAS content verified against its hash)</td></tr>
 * <tr><td>Gradle HTTP build cache</td><td>{@code GET|HEAD|PUT /cache/gradle/{t}/{key}}</td><td>{@code gradle/<key>}</td></tr>
 * <tr><td>ccache HTTP storage</td><td>{@code GET|HEAD|PUT|DELETE /cache/ccache/{t}/<key>}</td>
 *     <td>{@code ccache/<key>}: the layouts {@code subdirs} and {@code flat} name the same entry</td></tr>
 * <tr><td>Turborepo remote cache (API v8)</td><td>{@code GET|HEAD|PUT /cache/turbo/{t}/v8/artifacts/{hash}},
 *     {@code GET .../v8/artifacts/status}, {@code POST .../v8/artifacts/events}</td><td>{@code turbo/<hash>}</td></tr>
 * </table>
 *
 * <p>A miss is 404 in every protocol; a bad key is 400 naming the rule; an entry larger than the
 * configured limit is 413 (checked against {@code Content-Length} before the body is read, and
 * while reading a body of unknown length), and nothing is kept.
 */
final class BuildToolCaches {

    /** Where every route of this class starts. */
    static final String ROOT = "/cache";

    /** Authenticates the caller of a protocol route; throws the API's 401 when it cannot. */
    @FunctionalInterface
    interface Authenticator {
        Principal caller(Context ctx);
    }

    /** Sends a cache entry as the API sends one: content type, length, and the body unless {@code withBody} is false. */
    @FunctionalInterface
    interface EntrySender {
        void send(Context ctx, CacheRead read, boolean withBody) throws IOException;
    }

    /**
     * How one protocol names its entries: the key as the tool sends it must match {@code pattern},
     * and {@code key} turns the match into the key within the dependencies cache.
     */
    record KeyRule(String tool, Pattern pattern, String rule, Function<Matcher, String> key) {

        String dependenciesKey(String sent) {
            Matcher matcher = pattern.matcher(sent == null ? "" : sent);
            if (!matcher.matches()) {
                throw new InvalidInputException(tool + ": " + rule + "; was '" + printable(sent) + "'");
            }
            return key.apply(matcher);
        }

        private static String printable(String sent) {
            String text = sent == null ? "" : sent.length() > 80 ? sent.substring(0, 80) + "…" : sent;
            return text.replaceAll("[^\\x20-\\x7e]", "?");
        }
    }

    static final KeyRule BAZEL = new KeyRule("Bazel", Pattern.compile("(ac|cas)/([0-9a-f]{64})"),
            "the path after the tenant is ac/ or cas/ and the SHA-256 of the entry in 64 lowercase hex digits",
            m -> "bazel/" + m.group(1) + "/" + m.group(2));
    static final KeyRule GRADLE = new KeyRule("Gradle", Pattern.compile("[0-9a-f]{16,128}"),
            "a build cache key is 16 to 128 lowercase hex digits", m -> "gradle/" + m.group());
    /**
     * ccache 4 names an entry by a digest written as two hex digits and base-32-hex digits; layout
     * {@code subdirs} (its default) puts a slash after the first two, {@code flat} does not, and
     * {@code bazel} sends {@code ac/} and 64 hex digits. All are stored without the slash.
     */
    static final KeyRule CCACHE = new KeyRule("ccache", Pattern.compile("(?:ac/)?([0-9a-v]{2})/?([0-9a-v]{8,126})"),
            "an entry is named by ccache's key: lowercase digits and letters a to v, 10 to 128 of them,"
                    + " optionally split after the first two by '/' (layout=subdirs) or after ac/ (layout=bazel)",
            m -> "ccache/" + m.group(1) + m.group(2));
    static final KeyRule TURBO = new KeyRule("Turborepo", Pattern.compile("[0-9a-f]{16,64}"),
            "an artifact hash is 16 to 64 lowercase hex digits", m -> "turbo/" + m.group());

    /**
     * A Turborepo artifact is stored with its {@code x-artifact-duration} and {@code x-artifact-tag}
     * in one line in front of its content, so that they are written, evicted and encrypted with it.
     */
    private static final Pattern TURBO_META = Pattern.compile("builderd-turbo-artifact duration=([0-9]{1,18}) tag=([A-Za-z0-9+/=_.:-]{0,512})");
    private static final int TURBO_META_MAX = 600;
    private static final byte[] NO_PREFIX = new byte[0];

    private final CacheService caches;
    private final Authenticator authenticator;
    private final EntrySender sender;
    private final long maxEntryBytes;

    /** @param maxEntryBytes the largest entry accepted; a larger one is refused with 413 */
    BuildToolCaches(CacheService caches, Authenticator authenticator, EntrySender sender, long maxEntryBytes) {
        this.caches = caches;
        this.authenticator = authenticator;
        this.sender = sender;
        this.maxEntryBytes = maxEntryBytes;
    }

    /** Registers the routes of every protocol. */
    void register(RoutesConfig routes) {
        routes.exception(EntryTooLarge.class, (e, ctx) -> Problems.respond(ctx, Problems.CONTENT_TOO_LARGE, e.getMessage()));

        String bazel = ROOT + "/bazel/{tenant}/<key>";
        routes.get(bazel, ctx -> send(ctx, BAZEL, true));
        routes.head(bazel, ctx -> send(ctx, BAZEL, false));
        routes.put(bazel, ctx -> store(ctx, authenticator.caller(ctx), BAZEL, NO_PREFIX));

        String gradle = ROOT + "/gradle/{tenant}/{key}";
        routes.get(gradle, ctx -> send(ctx, GRADLE, true));
        routes.head(gradle, ctx -> send(ctx, GRADLE, false));
        routes.put(gradle, ctx -> store(ctx, authenticator.caller(ctx), GRADLE, NO_PREFIX));

        String ccache = ROOT + "/ccache/{tenant}/<key>";
        routes.get(ccache, ctx -> send(ctx, CCACHE, true));
        routes.head(ccache, ctx -> send(ctx, CCACHE, false));
        routes.put(ccache, ctx -> store(ctx, authenticator.caller(ctx), CCACHE, NO_PREFIX));
        routes.delete(ccache, ctx -> {
            caches.delete(authenticator.caller(ctx), tenant(ctx), CacheType.DEPENDENCIES, CCACHE.dependenciesKey(ctx.pathParam("key")));
            ctx.status(204);
        });

        // Turborepo appends /v8/... to its --api URL; teamId and slug (from TURBO_TEAM) are not
        // needed, because the tenant is in the path and the token must be the tenant's.
        String turbo = ROOT + "/turbo/{tenant}/v8/artifacts";
        routes.get(turbo + "/status", ctx -> {
            authenticator.caller(ctx).requireCacheRead(tenant(ctx));
            ctx.json(Map.of("status", "enabled"));
        });
        routes.post(turbo + "/events", ctx -> {
            authenticator.caller(ctx).requireCacheRead(tenant(ctx));
            // Hit and miss events are what /metrics counts already: the body is dropped unread (RequestBodies reads it).
            ctx.status(200);
        });
        routes.get(turbo + "/{key}", ctx -> sendTurbo(ctx, true));
        routes.head(turbo + "/{key}", ctx -> sendTurbo(ctx, false));
        routes.put(turbo + "/{key}", this::storeTurbo);
    }

    private void send(Context ctx, KeyRule rule, boolean withBody) throws IOException {
        sender.send(ctx, open(ctx, rule), withBody);
    }

    private CacheRead open(Context ctx, KeyRule rule) {
        Principal caller = authenticator.caller(ctx);
        return caches.open(caller, tenant(ctx), CacheType.DEPENDENCIES, rule.dependenciesKey(ctx.pathParam("key")), ByteRange.ALL);
    }

    /** Stores the body as the entry, streaming; {@code prefix} is written in front of it (and counted in its size). */
    private void store(Context ctx, Principal caller, KeyRule rule, byte[] prefix) {
        String key = rule.dependenciesKey(ctx.pathParam("key"));
        long length = ctx.req().getContentLengthLong();
        if (length > maxEntryBytes) {
            throw new EntryTooLarge(length, maxEntryBytes);
        }
        InputStream body = new SizeLimit(RequestBodies.of(ctx), maxEntryBytes);
        caches.put(caller, tenant(ctx), CacheType.DEPENDENCIES, key, new SequenceInputStream(new ByteArrayInputStream(prefix), body),
                length < 0 ? -1 : prefix.length + length);
        ctx.status(201);
    }

    private void storeTurbo(Context ctx) {
        Principal caller = authenticator.caller(ctx);
        String duration = ctx.header("x-artifact-duration");
        String tag = ctx.header("x-artifact-tag");
        String meta = "builderd-turbo-artifact duration=" + (duration == null ? "0" : duration.strip())
                + " tag=" + (tag == null ? "" : tag.strip());
        if (!TURBO_META.matcher(meta).matches()) {
            throw new InvalidInputException("Turborepo: x-artifact-duration is a whole number of milliseconds and x-artifact-tag"
                    + " at most 512 characters of base64; were '" + KeyRule.printable(duration) + "' and '" + KeyRule.printable(tag) + "'");
        }
        byte[] line = (meta + "\n").getBytes(StandardCharsets.US_ASCII);
        store(ctx, caller, TURBO, line);
        ctx.status(202).json(Map.of("urls", List.of(ctx.path())));
    }

    /** Sends an artifact without its metadata line, which goes into the headers Turborepo reads. */
    private void sendTurbo(Context ctx, boolean withBody) throws IOException {
        CacheRead read = open(ctx, TURBO);
        InputStream content = read.content();
        try {
            byte[] line = readLine(content);
            Matcher meta = TURBO_META.matcher(new String(line, StandardCharsets.US_ASCII).stripTrailing());
            if (line.length == 0 || line[line.length - 1] != '\n' || !meta.matches()) {
                // Written some other way (say, through /v1): to Turborepo that is a miss, and it writes the artifact anew.
                throw new NotFoundException("the entry of Turborepo artifact " + ctx.pathParam("key") + " was not written by"
                        + " Turborepo through this route");
            }
            ctx.header("x-artifact-duration", meta.group(1));
            if (!meta.group(2).isEmpty()) {
                ctx.header("x-artifact-tag", meta.group(2));
            }
            sender.send(ctx, new CacheRead(read.size() - line.length, ByteRange.ALL, content), withBody);
        } finally {
            content.close();
        }
    }

    /** Reads up to and including the first newline, at most {@link #TURBO_META_MAX} bytes. */
    private static byte[] readLine(InputStream in) throws IOException {
        byte[] line = new byte[TURBO_META_MAX];
        int n = 0;
        int b;
        while (n < line.length && (b = in.read()) >= 0) {
            line[n++] = (byte) b;
            if (b == '\n') {
                break;
            }
        }
        return Arrays.copyOf(line, n);
    }

    private static TenantId tenant(Context ctx) {
        return TenantId.of(ctx.pathParam("tenant"));
    }

    /** A body past the size limit: answered with 413, and nothing is kept. */
    static final class EntryTooLarge extends RuntimeException {
        EntryTooLarge(long length, long limit) {
            super((length < 0 ? "the body" : "the entry of " + length + " bytes") + " is larger than the " + limit
                    + " bytes this daemon accepts for a build-tool cache entry (UNKEY_BUILDERD_BUILD_TOOL_CACHE_MAX_ENTRY_MB);"
                    + " nothing was stored", null, false, false);
        }
    }

    /** Fails the read that passes {@code limit} bytes, so that the store discards what it wrote. */
    private static final class SizeLimit extends FilterInputStream {
        private final long limit;
        private long read;

        SizeLimit(InputStream in, long limit) {
            super(in);
            this.limit = limit;
        }

        @Override
        public int read() throws IOException {
            int b = super.read();
            if (b >= 0) {
                count(1);
            }
            return b;
        }

        @Override
        public int read(byte[] buffer, int offset, int length) throws IOException {
            int n = super.read(buffer, offset, length);
            if (n > 0) {
                count(n);
            }
            return n;
        }

        private void count(int n) {
            read += n;
            if (read > limit) {
                throw new EntryTooLarge(-1, limit);
            }
        }
    }
}
