package dev.builderd.storage.blob.gcs;

import com.google.cloud.storage.Blob;
import com.google.cloud.storage.Storage;
import com.google.cloud.storage.Storage.BlobListOption;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.ParallelIo;
import dev.builderd.storage.blob.RemoteTimeouts;
import dev.builderd.storage.testing.BlobStoreContract;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.condition.EnabledIfEnvironmentVariable;

/**
 * {@link GcsBlobStore} against the whole {@link BlobStoreContract} on a <b>real GCS bucket</b>,
 * opt-in: it runs only when {@code BUILDERD_TEST_GCS_BUCKET} (an existing bucket) and
 * {@code BUILDERD_TEST_GCS_CREDENTIALS_FILE} (a service-account JSON key allowed to create, read,
 * list and delete objects in it) are set; {@code BUILDERD_TEST_GCS_PROJECT} is optional. It was
 * NOT run on the machines this project is built on (they have no GCS access).
 *
 * <p>Every test works below its own prefix {@code builderd-contract-test/<run>/<n>/}, so a run
 * never sees another run's objects or the bucket's other content; each test's objects are deleted
 * after it, and the run's whole prefix again at the end. Unfinished resumable sessions of the
 * failed-upload tests are not objects: GCS discards them after a week.
 */
@DisplayName("GCS store on a real bucket (opt-in: BUILDERD_TEST_GCS_BUCKET and BUILDERD_TEST_GCS_CREDENTIALS_FILE)")
@EnabledIfEnvironmentVariable(named = "BUILDERD_TEST_GCS_BUCKET", matches = ".+")
@EnabledIfEnvironmentVariable(named = "BUILDERD_TEST_GCS_CREDENTIALS_FILE", matches = ".+")
final class GcsRealBucketContractTest extends BlobStoreContract {

    private static final String RUN_PREFIX = "builderd-contract-test/"
            + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")) + "-"
            + UUID.randomUUID().toString().substring(0, 8) + "/";

    private static GcsSettings settings;
    private static Storage client;
    private static int testNumber;

    private String testPrefix;

    @BeforeAll
    static void connect() throws Exception {
        String project = System.getenv("BUILDERD_TEST_GCS_PROJECT");
        settings = new GcsSettings(System.getenv("BUILDERD_TEST_GCS_BUCKET"),
                Optional.ofNullable(project).filter(p -> !p.isBlank()),
                Optional.of(Path.of(System.getenv("BUILDERD_TEST_GCS_CREDENTIALS_FILE"))),
                Optional.empty(), ParallelIo.defaults(), RemoteTimeouts.defaults(), Optional.empty());
        client = GcsBlobStore.buildClient(settings);
    }

    @Override
    protected BlobStore newStore() {
        testPrefix = RUN_PREFIX + (++testNumber) + "/";
        // One shared client: the store does not own it, so closing the store leaves it open.
        return GcsBlobStore.using(client, settings.withKeyPrefix(testPrefix));
    }

    @AfterEach
    void deleteThisTestsObjects() {
        deleteBelow(testPrefix);
    }

    @AfterAll
    static void deleteTheRunsObjectsAndClose() throws Exception {
        if (client != null) {
            deleteBelow(RUN_PREFIX);
            client.close();
        }
    }

    private static void deleteBelow(String prefix) {
        List<com.google.cloud.storage.BlobId> ids = new ArrayList<>();
        for (Blob blob : client.list(settings.bucket(), BlobListOption.prefix(prefix)).iterateAll()) {
            ids.add(blob.getBlobId());
        }
        for (com.google.cloud.storage.BlobId id : ids) {
            client.delete(id);
        }
    }
}
