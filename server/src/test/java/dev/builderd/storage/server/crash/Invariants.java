package dev.builderd.storage.server.crash;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SortedMap;
import java.util.concurrent.TimeUnit;

/**
 * The checks after a restart, against the clients' view ({@link ClientModel}) and what the
 * backend really holds ({@link BackendView}):
 * <ol>
 *   <li>every acknowledged write is readable and matches its SHA-256; a write or delete whose
 *       answer was lost shows its before or its after, whole; nothing never sent is visible;
 *   <li>each build's manifest lists exactly the artifacts that are readable, and
 *       {@code checksums.sha256} matches it: from the API, as stored beside the artifacts, and
 *       through {@code sha256sum -c} inside {@code rootfs/} on the filesystem backend;
 *   <li>the backend holds exactly the blobs the API serves (no orphan of an interrupted write or
 *       delete), with the same sizes where they are stored in plaintext;
 *   <li>after reconciliation the quota ledger equals those bytes per category, with nothing reserved;
 *   <li>no temporary file of an upload outlives the daemon that wrote it.
 * </ol>
 * The daemon repairs what a crash left in the background after it starts (serving does not
 * wait), so a caller repeats {@link #check} until it finds nothing or a deadline passes; then
 * {@link #settle} makes the model certain again with what the last check observed.
 */
final class Invariants {

    private static final Set<String> SERVICE_FILES = Set.of("manifest.json", "checksums.sha256");

    /** A tenant of the run: plaintext ones are also checked byte for byte in the backend. */
    record Tenant(String id, boolean encrypted) {
    }

    private record Ledger(long artifacts, long logs, long cache, long reserved) {
    }

    private final Api api;
    private final BackendView backend;
    private final ClientModel model;
    private final Path dataRoot;
    private final List<String> problems = new ArrayList<>();
    private final List<String> lostAcknowledged = new ArrayList<>();
    private final Map<Target, Optional<Content>> seenTargets = new HashMap<>();
    private final Map<BuildKey, BuildKey.State> seenBuilds = new HashMap<>();

    Invariants(Api api, BackendView backend, ClientModel model, Path dataRoot) {
        this.api = api;
        this.backend = backend;
        this.model = model;
        this.dataRoot = dataRoot;
    }

    /** Runs every check; returns the violations found (empty when all hold). */
    List<String> check(List<Tenant> tenants) throws IOException, InterruptedException {
        problems.clear();
        lostAcknowledged.clear();
        seenTargets.clear();
        seenBuilds.clear();
        for (Tenant tenant : tenants) {
            Ledger truth = checkTenant(tenant);
            Ledger ledger = ledger(tenant);
            if (!ledger.equals(truth)) {
                problems.add("the quota ledger of " + tenant.id() + " is " + ledger + "; the backend holds " + truth);
            }
        }
        List<Path> temporary = BackendView.temporaryFiles(dataRoot);
        if (!temporary.isEmpty()) {
            problems.add("temporary files of a killed daemon survived: " + temporary);
        }
        return List.copyOf(problems);
    }

    /**
     * The violations of the last check by names whose outcome the client knew for certain (an
     * acknowledged write or delete with nothing in flight after it): no background repair may
     * change those, so they must hold from the moment the restarted daemon is ready.
     */
    List<String> lostAcknowledged() {
        return List.copyOf(lostAcknowledged);
    }

    /** Makes the model certain again: each name and build holds what the last check observed. */
    void settle() {
        seenTargets.forEach(model::settle);
        seenBuilds.forEach(model::settle);
    }

    private Ledger checkTenant(Tenant tenant) throws IOException, InterruptedException {
        Map<BuildKey, JsonNode> manifests = new HashMap<>();
        Map<BuildKey, Map<String, Long>> logs = new HashMap<>();
        checkBuilds(tenant, manifests, logs);

        // Plaintext size of every blob the API serves, by its key in the backend.
        Map<String, Long> served = new HashMap<>();
        long[] bytes = new long[3];
        for (Target target : model.targetsOf(tenant.id())) {
            Api.Reply reply = api.get(target.path());
            if (reply.status() != 200 && reply.status() != 404) {
                problems.add(target + ": GET answered " + reply.status() + " " + reply.text());
                continue;
            }
            Optional<Content> seen = reply.status() == 200 ? Optional.of(Content.of(reply.body())) : Optional.empty();
            Outcomes expected = model.expected(target);
            if (!expected.allows(seen)) {
                String problem = target + " holds " + seen.map(Content::toString).orElse("nothing") + "; the client expects "
                        + expected.contents() + (expected.mayBeAbsent() ? " or nothing" : "");
                problems.add(problem);
                if (expected.contents().size() + (expected.mayBeAbsent() ? 1 : 0) == 1) {
                    lostAcknowledged.add(problem);
                }
            }
            switch (target.kind()) {
                case ARTIFACT -> checkArtifact(target, reply, seen, manifests.get(target.build()));
                case LOG -> {
                    Long listed = logs.getOrDefault(target.build(), Map.of()).get(target.name());
                    if (!java.util.Objects.equals(listed, seen.map(Content::size).orElse(null))) {
                        problems.add(target + " reads as " + seen.map(Content::toString).orElse("nothing")
                                + " but the build's log listing says " + (listed == null ? "nothing" : listed + " B"));
                    }
                }
                case CACHE -> { }
            }
            seen.ifPresent(content -> {
                served.put(target.blobKey(), content.size());
                bytes[target.kind().ordinal()] += content.size();
            });
            seenTargets.put(target, seen);
        }
        checkBackendHolds(tenant, served, manifests.keySet());
        return new Ledger(bytes[Target.Kind.ARTIFACT.ordinal()], bytes[Target.Kind.LOG.ordinal()], bytes[Target.Kind.CACHE.ordinal()], 0);
    }

    /** Builds as listed against the model; fills in the manifests and log listings of those that exist. */
    private void checkBuilds(Tenant tenant, Map<BuildKey, JsonNode> manifests, Map<BuildKey, Map<String, Long>> logs)
            throws IOException, InterruptedException {
        Map<BuildKey, BuildKey.State> listed = new HashMap<>();
        for (JsonNode build : api.json("/v1/tenants/" + tenant.id() + "/builds").path("builds")) {
            BuildKey key = new BuildKey(tenant.id(), build.path("build_id").asText());
            listed.put(key, "active".equals(build.path("status").asText()) ? BuildKey.State.ACTIVE : BuildKey.State.COMPLETED);
        }
        Set<BuildKey> all = new java.util.TreeSet<>(java.util.Comparator.comparing(BuildKey::toString));
        all.addAll(listed.keySet());
        all.addAll(model.buildsOf(tenant.id()));
        for (BuildKey build : all) {
            BuildKey.State state = listed.getOrDefault(build, BuildKey.State.ABSENT);
            if (!model.expected(build).contains(state)) {
                problems.add("build " + build + " is " + state + "; the client expects one of " + model.expected(build));
            }
            seenBuilds.put(build, state);
            if (state != BuildKey.State.ABSENT) {
                JsonNode manifest = api.json(build.path() + "/artifacts");
                manifests.put(build, manifest);
                checkChecksums(tenant, build, manifest);
                Map<String, Long> logSizes = new HashMap<>();
                for (JsonNode log : api.json(build.path() + "/logs").path("logs")) {
                    logSizes.put(log.path("name").asText(), log.path("size").asLong());
                    if (model.expected(Target.log(build, log.path("name").asText())).contents().isEmpty()) {
                        problems.add("build " + build + " lists log " + log.path("name").asText() + ", which no client wrote");
                    }
                }
                logs.put(build, logSizes);
                for (JsonNode artifact : manifest.path("artifacts")) {
                    Outcomes expected = model.expected(Target.artifact(build, artifact.path("name").asText()));
                    if (expected.contents().isEmpty()) {
                        problems.add("build " + build + " lists artifact " + artifact.path("name").asText() + ", which no client wrote");
                    }
                }
            }
        }
    }

    /** The API's checksums.sha256 against its manifest; the stored copy against both; sha256sum -c in rootfs/. */
    private void checkChecksums(Tenant tenant, BuildKey build, JsonNode manifest) throws IOException, InterruptedException {
        StringBuilder expected = new StringBuilder();
        for (JsonNode artifact : manifest.path("artifacts")) {
            expected.append(artifact.path("sha256").asText()).append("  ").append(artifact.path("name").asText()).append('\n');
        }
        Api.Reply checksums = api.get(build.path() + "/checksums.sha256");
        if (checksums.status() != 200 || !checksums.text().equals(expected.toString())) {
            problems.add("build " + build + ": GET checksums.sha256 answered " + checksums.status() + " with\n" + checksums.text()
                    + "but its manifest lists\n" + expected);
        }
        if (tenant.encrypted() || manifest.path("artifacts").isEmpty()) {
            return;
        }
        String stored;
        try {
            stored = new String(backend.read(build.blobPrefix() + "rootfs/checksums.sha256"), StandardCharsets.UTF_8);
        } catch (IOException | RuntimeException e) {
            problems.add("build " + build + ": its stored checksums.sha256 cannot be read: " + e);
            return;
        }
        if (!stored.equals(expected.toString())) {
            problems.add("build " + build + ": the stored checksums.sha256 is\n" + stored + "but its manifest lists\n" + expected);
        }
        Optional<Path> root = backend.localRoot();
        if (root.isPresent()) {
            Path rootfs = root.get().resolve(build.blobPrefix() + "rootfs");
            Path output = Files.createTempFile("sha256sum-", ".out");
            try {
                Process sha256sum = new ProcessBuilder("sha256sum", "--check", "--strict", "--quiet", "checksums.sha256")
                        .directory(rootfs.toFile()).redirectErrorStream(true).redirectOutput(output.toFile()).start();
                if (!sha256sum.waitFor(60, TimeUnit.SECONDS) || sha256sum.exitValue() != 0) {
                    sha256sum.destroyForcibly();
                    problems.add("build " + build + ": sha256sum -c checksums.sha256 in " + rootfs + " failed:\n" + Files.readString(output));
                }
            } finally {
                Files.deleteIfExists(output);
            }
        }
    }

    private void checkArtifact(Target target, Api.Reply reply, Optional<Content> seen, JsonNode manifest) {
        seen.ifPresent(content -> {
            String header = reply.headers().firstValue("X-Checksum-Sha256").orElse("");
            if (!header.equals(content.sha256())) {
                problems.add(target + " reads as " + content + " but is served with X-Checksum-Sha256 " + header);
            }
        });
        Optional<Content> listed = Optional.empty();
        if (manifest != null) {
            for (JsonNode artifact : manifest.path("artifacts")) {
                if (artifact.path("name").asText().equals(target.name())) {
                    listed = Optional.of(new Content(artifact.path("sha256").asText(), artifact.path("size").asLong()));
                }
            }
        }
        if (!listed.equals(seen)) {
            problems.add(target + " reads as " + seen.map(Content::toString).orElse("nothing") + " but the manifest lists "
                    + listed.map(Content::toString).orElse("nothing"));
        }
    }

    /** The backend holds what the API serves, nothing more: no orphan of an interrupted write or delete. */
    private void checkBackendHolds(Tenant tenant, Map<String, Long> served, Set<BuildKey> existing) throws IOException {
        SortedMap<String, Long> held = backend.blobs("tenants/" + tenant.id() + "/");
        for (Map.Entry<String, Long> blob : held.entrySet()) {
            String key = blob.getKey();
            String name = key.substring(key.lastIndexOf('/') + 1);
            if (key.contains("/rootfs/") && SERVICE_FILES.contains(name)) {
                if (existing.stream().noneMatch(build -> key.startsWith(build.blobPrefix()))) {
                    problems.add("the backend holds " + key + " of a build that does not exist");
                }
                continue;
            }
            Long plaintext = served.get(key);
            if (plaintext == null) {
                problems.add("the backend holds " + key + " (" + blob.getValue() + " B), which the API does not serve");
            } else if (!tenant.encrypted() && plaintext.longValue() != blob.getValue()) {
                problems.add("the backend holds " + key + " as " + blob.getValue() + " B, the API serves " + plaintext + " B");
            }
        }
        served.keySet().stream().filter(key -> !held.containsKey(key))
                .forEach(key -> problems.add("the API serves " + key + ", which the backend does not hold"));
    }

    private Ledger ledger(Tenant tenant) throws IOException, InterruptedException {
        JsonNode usage = api.json("/v1/tenants/" + tenant.id() + "/usage");
        JsonNode categories = usage.path("categories");
        return new Ledger(categories.path("artifacts").path("used_bytes").asLong(), categories.path("logs").path("used_bytes").asLong(),
                categories.path("cache").path("used_bytes").asLong(), usage.path("reserved_bytes").asLong());
    }
}
