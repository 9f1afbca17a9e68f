package dev.builderd.storage.server.crash;

import dev.builderd.storage.server.crash.ClientModel.Answer;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import java.util.function.BooleanSupplier;

/**
 * One client of one tenant: it creates builds and, one operation at a time, uploads (with and
 * without the digest header, with and without a length, now and then a multi-MB one), replaces
 * and deletes artifacts, writes logs and cache entries, deletes cache entries, completes and
 * deletes builds. Every name it writes is its own, so the order it sends operations in is the
 * order they take effect; what it learns goes into the {@link ClientModel}.
 */
final class Worker {

    /** Artifact names per build: few, so that uploads often replace an artifact. */
    private static final int NAMES = 4;
    private static final int CACHE_KEYS = 6;

    private final int id;
    private final String tenant;
    private final ClientModel model;
    private final java.util.List<String> layers = new java.util.ArrayList<>();
    private BuildKey build;
    private int builds;

    Worker(int id, String tenant, ClientModel model) {
        this.id = id;
        this.tenant = tenant;
        this.model = model;
    }

    /** Sends operations until {@code stop} says so or the daemon stops answering. */
    void run(Api api, Random random, BooleanSupplier stop) throws InterruptedException {
        while (!stop.getAsBoolean()) {
            if (build == null || !model.isActive(build)) {
                BuildKey previous = build;
                if (previous != null && random.nextBoolean()
                        && !record(() -> model.deleted(previous, answer(api.send("DELETE", previous.path(), ""))),
                                () -> model.deleted(previous, Answer.LOST))) {
                    return;
                }
                build = new BuildKey(tenant, "w" + id + "-" + builds++);
                if (!record(() -> model.changed(build, BuildKey.State.ACTIVE, answer(api.send("POST", "/v1/tenants/" + tenant + "/builds",
                        "{\"build_id\":\"" + build.build() + "\"}"))), () -> model.changed(build, BuildKey.State.ACTIVE, Answer.LOST))) {
                    return;
                }
                continue;
            }
            if (!step(api, random)) {
                return;
            }
        }
    }

    /** One random operation; false when its answer was lost (the daemon is gone). */
    private boolean step(Api api, Random random) throws InterruptedException {
        int dice = random.nextInt(100);
        if (dice < 40) {
            Target target = Target.artifact(build, "a" + random.nextInt(NAMES) + ".bin");
            byte[] bytes = body(random, random.nextInt(100) < 6);
            boolean declared = random.nextBoolean();
            boolean streamed = random.nextInt(100) < 30;
            return put(api, target, bytes, declared, streamed);
        }
        if (dice < 48) {
            Target target = Target.artifact(build, "a" + random.nextInt(NAMES) + ".bin");
            return delete(api, target);
        }
        if (dice < 58) {
            return put(api, Target.log(build, random.nextBoolean() ? "build.log" : "step.log"), body(random, false), false,
                    random.nextBoolean());
        }
        if (dice < 76) {
            Target target = Target.cache(tenant, "dependencies", "npm/w" + id + "-k" + random.nextInt(CACHE_KEYS) + ".tgz");
            return put(api, target, body(random, false), false, random.nextInt(100) < 30);
        }
        if (dice < 86) {
            // A layer is named by its digest: its content never changes, the daemon verifies it.
            byte[] layer = body(random, random.nextInt(100) < 5);
            String digest = "sha256:" + Content.sha256(layer);
            layers.add(digest);
            return put(api, Target.cache(tenant, "docker-layers", digest), layer, false, false);
        }
        if (dice < 91) {
            // Deleting its oldest layer keeps a long run's layers (each a new digest) few.
            Target target = layers.size() > CACHE_KEYS && random.nextBoolean()
                    ? Target.cache(tenant, "docker-layers", layers.removeFirst())
                    : Target.cache(tenant, "dependencies", "npm/w" + id + "-k" + random.nextInt(CACHE_KEYS) + ".tgz");
            return delete(api, target);
        }
        BuildKey current = build;
        if (dice < 97) {
            String status = random.nextInt(4) == 0 ? "failed" : "succeeded";
            return record(() -> model.changed(current, BuildKey.State.COMPLETED,
                    answer(api.send("POST", current.path() + "/complete", "{\"status\":\"" + status + "\"}"))),
                    () -> model.changed(current, BuildKey.State.COMPLETED, Answer.LOST));
        }
        return record(() -> model.deleted(current, answer(api.send("DELETE", current.path(), ""))),
                () -> model.deleted(current, Answer.LOST));
    }

    private boolean put(Api api, Target target, byte[] bytes, boolean declareDigest, boolean streamed) throws InterruptedException {
        Content content = Content.of(bytes);
        Map<String, String> headers = new HashMap<>();
        if (declareDigest) {
            headers.put("X-Checksum-Sha256", content.sha256());
        }
        // Without a length the body goes chunked: the daemon learns its size only at its end.
        HttpRequest.BodyPublisher body = streamed
                ? HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(bytes))
                : HttpRequest.BodyPublishers.ofByteArray(bytes);
        return record(() -> model.wrote(target, Outcomes.exactly(content), answer(api.send("PUT", target.path(), body, headers))),
                () -> model.wrote(target, Outcomes.exactly(content), Answer.LOST));
    }

    private boolean delete(Api api, Target target) throws InterruptedException {
        return record(() -> model.wrote(target, Outcomes.ABSENT, answer(api.send("DELETE", target.path(),
                        HttpRequest.BodyPublishers.noBody(), Map.of()))),
                () -> model.wrote(target, Outcomes.ABSENT, Answer.LOST));
    }

    /** Small bodies mostly; a big one takes long enough to be cut by a kill mid-stream. */
    private static byte[] body(Random random, boolean big) {
        byte[] bytes = new byte[big ? (5 << 20) + random.nextInt(3 << 20) : 1 + random.nextInt(64 << 10)];
        random.nextBytes(bytes);
        return bytes;
    }

    /** A whole answer: 2xx took effect, anything else did not; a 5xx is also noted, as no workload operation should get one. */
    private Answer answer(Api.Reply reply) {
        if (reply.status() >= 500) {
            model.serverError("worker " + id + ": HTTP " + reply.status() + " " + reply.text());
        }
        return reply.ok() ? Answer.ACKNOWLEDGED : Answer.REFUSED;
    }

    private interface Exchange {
        void run() throws IOException, InterruptedException;
    }

    /** Runs an exchange; when no whole answer arrives, records it as lost and returns false. */
    private static boolean record(Exchange exchange, Runnable lost) throws InterruptedException {
        try {
            exchange.run();
            return true;
        } catch (IOException e) {
            lost.run();
            return false;
        }
    }
}
