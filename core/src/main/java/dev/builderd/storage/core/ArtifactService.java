package dev.builderd.storage.core;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.FileAdoption;
import dev.builderd.storage.blob.WriteMode;
import dev.builderd.storage.core.error.InvalidInputException;
import dev.builderd.storage.core.error.NotFoundException;
import dev.builderd.storage.core.metadata.ArtifactRows;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.model.ArtifactInfo;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.FileName;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.quota.Category;
import dev.builderd.storage.core.quota.Quotas;
import dev.builderd.storage.core.quota.Reservation;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Clock;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Optional;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A build's artifacts: published atomically with their SHA-256, listed in {@code manifest.json}
 * and {@code checksums.sha256} beside them (so {@code sha256sum -c checksums.sha256} passes in
 * {@code rootfs/}), read back whole or by range. Only an active build accepts changes.
 *
 * <p>Uploads of the same artifact name are serialized (the later waits for the earlier, so the
 * last to finish is what stays); uploads of different names run in parallel.
 */
public final class ArtifactService {

    private static final Logger LOG = LoggerFactory.getLogger(ArtifactService.class);
    static final String MANIFEST = "manifest.json";
    static final String CHECKSUMS = "checksums.sha256";
    static final Set<String> RESERVED = Set.of(MANIFEST, CHECKSUMS);
    private static final Pattern SHA256_HEX = Pattern.compile("[0-9a-f]{64}");
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private record ArtifactRef(BuildRef build, FileName name) {
    }

    /**
     * Stores the content of an artifact under a key; returns what was stored and its digest. A
     * body of unknown length is read through {@link Reservation#meter}, so that it stops at the quota.
     */
    private interface Storing {
        Stored store(BlobKey key, Reservation reservation) throws IOException;
    }

    private record Stored(long size, String sha256) {
    }

    private final MetadataStore metadata;
    private final Layout layout;
    private final BlobStore store;
    private final BuildActivity activity;
    private final BuildService builds;
    private final CoreConfig config;
    private final Clock clock;
    private final KeyedLocks<ArtifactRef> sameNameUploads = new KeyedLocks<>();
    private final Quotas quotas;

    ArtifactService(MetadataStore metadata, Stores stores, BuildActivity activity, BuildService builds,
            CoreConfig config, Quotas quotas, Clock clock) {
        this.metadata = metadata;
        this.quotas = quotas;
        this.layout = config.layout();
        this.store = stores.artifacts();
        this.activity = activity;
        this.builds = builds;
        this.config = config;
        this.clock = clock;
    }

    /**
     * Streams an upload into the artifact {@code name}, hashing it on the way.
     *
     * @param length the body's length, or -1 if unknown
     * @param expectedSha256 the digest the client declared (any case), or null; on a mismatch
     *     nothing is kept and {@link InvalidInputException} is thrown
     */
    public ArtifactInfo upload(Principal caller, BuildRef ref, FileName name, InputStream body, long length,
            String expectedSha256) {
        String expected = expectedSha256 == null ? null : expectedSha256.strip().toLowerCase(java.util.Locale.ROOT);
        if (expected != null && !SHA256_HEX.matcher(expected).matches()) {
            throw new InvalidInputException("X-Checksum-Sha256 must be 64 hex digits, was '"
                    + expectedSha256.substring(0, Math.min(80, expectedSha256.length())).replaceAll("\\p{Cntrl}", "?") + "'");
        }
        return publish(caller, ref, name, length, (key, reservation) -> {
            HashingInputStream hashing = new HashingInputStream(body, expected);
            BlobInfo info = store.put(key, reservation.meter(hashing, length), length, WriteMode.OVERWRITE);
            return new Stored(info.size(), hashing.sha256());
        });
    }

    /**
     * Publishes a file that the build wrote in its own {@code workspace/} or {@code temp/}:
     * moved into place when it is on the same filesystem, copied otherwise, and hashed. Refuses
     * symbolic links, hard links (which could expose a file from outside the build) and any path
     * outside those two directories.
     *
     * @param from a path relative to the build, starting with {@code workspace/} or {@code temp/}
     */
    public ArtifactInfo importFile(Principal caller, BuildRef ref, FileName name, String from) {
        caller.requireWrite(ref);
        builds.requireHostedHere(builds.require(ref), "the files to import");
        try (SafeTree.Taken taken = takeBuildFile(ref, from)) {
            Path source = taken.path();
            long length = Files.size(source);
            return publish(caller, ref, name, length, (key, reservation) -> {
                if (store instanceof FileAdoption adoption) {
                    try {
                        adoption.adopt(key, source);
                        try (InputStream adopted = store.open(key, ByteRange.ALL)) {
                            HashingInputStream hashing = new HashingInputStream(adopted, null);
                            long size = hashing.transferTo(java.io.OutputStream.nullOutputStream());
                            return new Stored(size, hashing.sha256());
                        }
                    } catch (AtomicMoveNotSupportedException otherFilesystem) {
                        LOG.debug("{} is on another filesystem than the artifact store; copying", from);
                    }
                }
                try (InputStream in = Files.newInputStream(source, LinkOption.NOFOLLOW_LINKS)) {
                    HashingInputStream hashing = new HashingInputStream(in, null);
                    BlobInfo info = store.put(key, hashing, length, WriteMode.OVERWRITE);
                    return new Stored(info.size(), hashing.sha256());
                }
            });
        } catch (IOException e) {
            throw IoErrors.translate(e, "taking " + from + " of build " + ref + " for import");
        }
    }

    /** Publishes {@code name}.gz, the gzip-compressed variant of the artifact {@code name}. */
    public ArtifactInfo gzip(Principal caller, BuildRef ref, FileName name) {
        ArtifactHandle source = describe(caller, ref, name);
        FileName target = FileName.of(name.value() + ".gz");
        return publish(caller, ref, target, -1, (key, reservation) -> {
            try (InputStream compressed = GzipPipe.compress(source.open(ByteRange.ALL))) {
                HashingInputStream hashing = new HashingInputStream(compressed, null);
                BlobInfo info = store.put(key, reservation.meter(hashing, -1), -1, WriteMode.OVERWRITE);
                return new Stored(info.size(), hashing.sha256());
            }
        });
    }

    /** The artifact's recorded size and digest, and a way to read it. */
    public ArtifactHandle describe(Principal caller, BuildRef ref, FileName name) {
        caller.requireRead(ref);
        ArtifactInfo info = metadata.read(h -> ArtifactRows.find(h, ref, name)).orElseThrow(() -> {
            builds.require(ref);
            return new NotFoundException("build " + ref + " has no artifact '" + name + "'");
        });
        return new ArtifactHandle(info, store, layout.artifactKey(ref, name));
    }

    /** The build's artifacts, by name. */
    public List<ArtifactInfo> list(Principal caller, BuildRef ref) {
        caller.requireRead(ref);
        builds.require(ref);
        return metadata.read(h -> ArtifactRows.ofBuild(h, ref));
    }

    /** Removes an artifact of an active build. */
    public void delete(Principal caller, BuildRef ref, FileName name) {
        caller.requireWrite(ref);
        quotas.requireWritable(ref.tenant());
        try (BuildActivity.Upload change = activity.beginUpload(ref, () -> builds.requireActive(ref))) {
            activity.underLock(ref, () -> {
                if (metadata.read(h -> ArtifactRows.find(h, ref, name)).isEmpty()) {
                    throw new NotFoundException("build " + ref + " has no artifact '" + name + "'");
                }
                try {
                    // The file first: if it cannot be deleted, the artifact stays listed and readable.
                    store.delete(layout.artifactKey(ref, name));
                    metadata.inTransaction(h -> {
                        ArtifactRows.find(h, ref, name).ifPresent(gone -> {
                            quotas.adjust(h, ref.tenant(), Category.ARTIFACTS, -gone.size());
                            ArtifactRows.delete(h, ref, name);
                        });
                        return null;
                    });
                    writeManifest(ref);
                } catch (IOException e) {
                    throw IoErrors.translate(e, "deleting artifact " + name + " of build " + ref);
                }
                return null;
            });
        }
    }

    /**
     * The names of the build's artifacts whose file is gone from the store, among those
     * published before {@code publishedBefore} (younger ones may be mid-commit).
     */
    List<FileName> missing(BuildRef ref, java.time.Instant publishedBefore) throws IOException {
        List<ArtifactInfo> rows = metadata.read(h -> ArtifactRows.ofBuild(h, ref)).stream()
                .filter(artifact -> artifact.created().isBefore(publishedBefore)).toList();
        if (rows.isEmpty()) {
            return List.of();
        }
        Set<String> stored = new java.util.HashSet<>();
        try {
            store.list(layout.buildKeyPrefix(ref) + "rootfs/", null).forEachRemaining(blob -> stored.add(blob.key().value()));
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
        return rows.stream().map(ArtifactInfo::name).filter(name -> !stored.contains(layout.artifactKey(ref, name).value())).toList();
    }

    /**
     * Forgets an artifact whose file is gone (found by the orphan sweep): its row goes, its bytes
     * go back to the quota, and the manifest no longer lists it. Returns the row forgotten, or
     * empty when the file is there after all or the row went meanwhile.
     */
    Optional<ArtifactInfo> forgetMissing(BuildRef ref, FileName name) {
        return activity.underLock(ref, () -> {
            try {
                if (store.stat(layout.artifactKey(ref, name)).isPresent()) {
                    return Optional.empty();
                }
                Optional<ArtifactInfo> gone = metadata.inTransaction(h -> {
                    Optional<ArtifactInfo> row = ArtifactRows.find(h, ref, name);
                    row.ifPresent(artifact -> {
                        quotas.adjust(h, ref.tenant(), Category.ARTIFACTS, -artifact.size());
                        ArtifactRows.delete(h, ref, name);
                    });
                    return row;
                });
                if (gone.isPresent()) {
                    writeManifest(ref);
                }
                return gone;
            } catch (IOException e) {
                throw IoErrors.translate(e, "forgetting the missing artifact " + name + " of build " + ref);
            }
        });
    }

    /** @param length the bytes the artifact will take, or -1 when unknown (the quota is then reserved as it streams) */
    private ArtifactInfo publish(Principal caller, BuildRef ref, FileName name, long length, Storing storing) {
        caller.requireWrite(ref);
        if (RESERVED.contains(name.value())) {
            throw new InvalidInputException("'" + name + "' is written by the service and cannot be uploaded");
        }
        ArtifactRef artifact = new ArtifactRef(ref, name);
        try (BuildActivity.Upload upload = activity.beginUpload(ref, () -> builds.requireActive(ref));
                KeyedLocks.Held sameName = sameNameUploads.lock(artifact, config.sameNameUploadWait(),
                        "another upload of artifact '" + name + "' to build " + ref + " is still in progress");
                Reservation reservation = quotas.reserve(ref.tenant(), Category.ARTIFACTS, Math.max(0, length))) {
            Stored stored = storing.store(layout.artifactKey(ref, name), reservation);
            ArtifactInfo info = new ArtifactInfo(name, stored.size(), stored.sha256(), clock.instant());
            activity.underLock(ref, () -> {
                metadata.inTransaction(h -> {
                    long replaced = ArtifactRows.find(h, ref, name).map(ArtifactInfo::size).orElse(0L);
                    // The ledger first: it takes the tenant's lock, which every ledger change takes first.
                    reservation.commit(h, stored.size(), replaced);
                    ArtifactRows.upsert(h, ref, info);
                    return null;
                });
                try {
                    writeManifest(ref);
                } catch (IOException e) {
                    throw IoErrors.translate(e, "writing the manifest of build " + ref);
                }
                return null;
            });
            LOG.info("artifact {} of build {} published: {} bytes, sha256 {}", name, ref, info.size(), info.sha256());
            return info;
        } catch (IOException e) {
            throw IoErrors.translate(e, "storing artifact " + name + " of build " + ref);
        } catch (UncheckedIOException e) {
            throw IoErrors.translate(e.getCause(), "storing artifact " + name + " of build " + ref);
        }
    }

    /** Rewrites manifest.json and checksums.sha256 from the metadata; call under the build's lock. */
    void writeManifest(BuildRef ref) throws IOException {
        List<ArtifactInfo> artifacts = metadata.read(h -> ArtifactRows.ofBuild(h, ref));
        putSmall(layout.rootfsKey(ref, MANIFEST), JSON.writeValueAsBytes(manifest(ref, artifacts)));
        putSmall(layout.rootfsKey(ref, CHECKSUMS), checksums(artifacts).getBytes(StandardCharsets.UTF_8));
    }

    /**
     * The {@code checksums.sha256} document: one {@code <sha256>  <name>} line per artifact, the
     * format {@code sha256sum -c} reads. The same text is written beside the artifacts and served
     * by the API (for encrypted tenants the file on disk is ciphertext; the API gives plaintext).
     */
    public static String checksums(List<ArtifactInfo> artifacts) {
        StringBuilder checksums = new StringBuilder();
        for (ArtifactInfo artifact : artifacts) {
            checksums.append(artifact.sha256()).append("  ").append(artifact.name()).append('\n');
        }
        return checksums.toString();
    }

    /** The manifest document: the same shape in {@code manifest.json} and in the API. */
    public static Map<String, Object> manifest(BuildRef ref, List<ArtifactInfo> artifacts) {
        Map<String, Object> manifest = new LinkedHashMap<>();
        manifest.put("tenant_id", ref.tenant().value());
        manifest.put("build_id", ref.build().value());
        manifest.put("artifacts", artifacts.stream().map(ArtifactService::describeJson).toList());
        return manifest;
    }

    /** One artifact as JSON: name, size, sha256, created. */
    public static Map<String, Object> describeJson(ArtifactInfo artifact) {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("name", artifact.name().value());
        json.put("size", artifact.size());
        json.put("sha256", artifact.sha256());
        json.put("created", artifact.created().toString());
        return json;
    }

    private void putSmall(BlobKey key, byte[] content) throws IOException {
        store.put(key, new ByteArrayInputStream(content), content.length, WriteMode.OVERWRITE);
    }

    /**
     * Takes {@code from}, a file inside the build's workspace or temp directory, out of the build
     * process's reach (see {@link SafeTree#take}), refusing anything that could leave the build:
     * a link, a hard link, a link on the way, swapped in at any moment. Closing the result puts
     * the file back unless it was published.
     */
    private SafeTree.Taken takeBuildFile(BuildRef ref, String from) {
        String[] parts = from == null ? new String[0] : from.split("/", 2);
        Layout.RootedPath base = layout.scratchDirectories(ref).stream()
                .filter(directory -> parts.length == 2 && directory.path().getFileName().toString().equals(parts[0]))
                .findFirst()
                .orElseThrow(() -> new InvalidInputException("\"from\" must be a path inside the build's workspace/ or temp/, "
                        + "such as \"temp/filesystem.ext4\""));
        if (!BlobKey.isValid(parts[1])) {
            throw new InvalidInputException("\"from\" is not a safe relative path: no '..', '.', empty segments, names over "
                    + BlobKey.MAX_SEGMENT_BYTES + " bytes, backslashes or control characters");
        }
        try {
            // The build's own directory holds the file meanwhile: its process writes only below it.
            return SafeTree.take(base.root(), base.path().getParent(), base.path().resolve(parts[1]));
        } catch (SafeTree.LinkRefusedException e) {
            throw new InvalidInputException("\"from\" is refused: " + e.getMessage() + "; only a regular file with a single link,"
                    + " reached without passing through a symbolic link, is imported");
        } catch (java.nio.file.NoSuchFileException e) {
            throw new NotFoundException("build " + ref + " has no file " + from);
        } catch (IOException e) {
            throw IoErrors.translate(e, "inspecting " + from + " of build " + ref);
        }
    }
}
