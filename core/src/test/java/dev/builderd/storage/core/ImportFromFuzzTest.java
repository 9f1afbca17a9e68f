package dev.builderd.storage.core;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.builderd.storage.core.error.InvalidInputException;
import dev.builderd.storage.core.error.NotFoundException;
import dev.builderd.storage.core.model.ArtifactInfo;
import dev.builderd.storage.core.model.BuildId;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.FileName;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.Tier;
import dev.builderd.storage.testing.SeededBytes;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fuzzes the {@code from} of an artifact import ({@link ArtifactService#importFile}) in a build
 * whose temp/ holds links planted by its process: to the victim tenant's file, to the victim's
 * directory, to {@code /etc/passwd}, and a hard link to a file outside the build. Whatever
 * {@code from} says, the import fails with {@link InvalidInputException} or {@link
 * NotFoundException}, or it publishes one of the build's own two regular files; the victim's file
 * and the outside file are never published, moved or changed.
 */
final class ImportFromFuzzTest {

    private static final Principal ADMIN = new Principal.Admin();
    private static final BuildRef MALLORY = new BuildRef(TenantId.of("mallory"), BuildId.of("b1"));
    private static final BuildRef VICTIM = new BuildRef(TenantId.of("victim"), BuildId.of("v1"));
    private static final byte[] OWN = SeededBytes.array(1, 1000);
    private static final byte[] SECRET = SeededBytes.array(2, 1000);
    private static final List<String> PREFIXES = List.of("temp/", "workspace/", "rootfs/", "logs/", "metadata/", "");

    @TempDir
    static Path dataRoot;
    @TempDir
    static Path outside;
    private static FuzzedStorage opened;
    private static BuilderdStorage storage;
    private static Principal mallory;
    private static Path workspace;
    private static Path temp;
    private static Path victimSecret;

    @BeforeAll
    static void open() throws IOException {
        opened = FuzzedStorage.open(dataRoot, "admin-token-for-fuzzing-0123456789");
        storage = opened.storage();
        for (BuildRef ref : List.of(MALLORY, VICTIM)) {
            storage.tenants().put(ADMIN, ref.tenant(), Tier.PRO, null);
        }
        mallory = storage.tokens().authenticate(storage.tenants().issueToken(ADMIN, MALLORY.tenant(), Tokens.Request.DEFAULT).token()).caller()
                .orElseThrow();
        Layout.BuildPaths own = storage.builds().create(mallory, MALLORY.tenant(), Optional.of(MALLORY.build()), null).paths().orElseThrow();
        Layout.BuildPaths victims = storage.builds().create(ADMIN, VICTIM.tenant(), Optional.of(VICTIM.build()), null).paths().orElseThrow();
        workspace = own.workspace();
        temp = own.temp();
        victimSecret = Files.write(victims.temp().resolve("secret.bin"), SECRET);
        Files.write(outside.resolve("passwd"), SECRET);
        Files.createSymbolicLink(temp.resolve("to-victim-file"), victimSecret);
        Files.createSymbolicLink(temp.resolve("to-victim-dir"), victims.temp());
        Files.createSymbolicLink(temp.resolve("to-etc-passwd"), Path.of("/etc/passwd"));
        Files.createSymbolicLink(temp.resolve("to-root"), Path.of("/"));
        Files.createLink(temp.resolve("hard-link"), outside.resolve("passwd"));
        plantOwnFiles();
    }

    @AfterAll
    static void close() {
        opened.close();
    }

    @FuzzTest(maxDuration = "2m")
    void importPublishesOnlyTheBuildsOwnFiles(FuzzedDataProvider data) throws IOException {
        String from = data.pickValue(PREFIXES) + data.consumeRemainingAsString();
        try {
            ArtifactInfo imported = storage.artifacts().importFile(mallory, MALLORY, FileName.of("imported.bin"), from);
            assertThat(from).as("imported %s", from).isIn("temp/own.bin", "workspace/own.bin");
            assertThat(imported.sha256()).isEqualTo(SeededBytes.sha256(OWN));
        } catch (InvalidInputException | NotFoundException refused) {
            assertThat(refused.getMessage()).isNotBlank();
        } finally {
            plantOwnFiles();
        }
        assertThat(victimSecret).hasBinaryContent(SECRET);
        assertThat(outside.resolve("passwd")).hasBinaryContent(SECRET);
    }

    /** The build's own regular files, put back after an import moved one. */
    private static void plantOwnFiles() throws IOException {
        for (Path file : List.of(temp.resolve("own.bin"), workspace.resolve("own.bin"))) {
            if (!Files.exists(file)) {
                Files.write(file, OWN);
            }
        }
    }
}
