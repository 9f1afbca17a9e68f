package dev.builderd.storage.blob.gcs;

import dev.builderd.storage.blob.ParallelIo;
import dev.builderd.storage.blob.RemoteTimeouts;
import java.net.URI;
import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;

/**
 * Where and how {@link GcsBlobStore} reaches Google Cloud Storage.
 *
 * @param bucket the bucket that holds the blobs (it must exist; the store never creates it)
 * @param project the Google Cloud project, for billing and quota attribution; empty to let the
 *     client infer it from the credentials or the environment (object operations do not need it)
 * @param credentialsFile a service-account JSON key file; empty for Application Default
 *     Credentials (or no credentials at all when {@code endpoint} points at an emulator). The file's
 *     content is secret: it is read once when the client is built and never logged, and
 *     {@link #toString()} shows only whether a file was given
 * @param endpoint an endpoint override such as {@code https://storage.googleapis.com} or an
 *     emulator's {@code http://127.0.0.1:4443}; empty for the default
 * @param parallelIo {@link ParallelIo#partSize()} is the chunk size of resumable uploads (rounded
 *     down to a multiple of 256 KiB, the granularity GCS requires); {@link ParallelIo#bufferSize()}
 *     is the copy buffer
 * @param timeouts connect and per-request timeouts and the number of attempts for retryable
 *     errors; the client backs off exponentially with jitter between attempts (see
 *     {@link GcsBlobStore#retrySettings(RemoteTimeouts)})
 * @param keyPrefix prepended to every key to form the object name (for instance
 *     {@code builderd/}), so that one bucket can be shared; empty for none. It must not start with
 *     {@code /}
 */
public record GcsSettings(
        String bucket,
        Optional<String> project,
        Optional<Path> credentialsFile,
        Optional<URI> endpoint,
        ParallelIo parallelIo,
        RemoteTimeouts timeouts,
        Optional<String> keyPrefix) {

    public GcsSettings {
        Objects.requireNonNull(bucket, "bucket");
        Objects.requireNonNull(project, "project");
        Objects.requireNonNull(credentialsFile, "credentialsFile");
        Objects.requireNonNull(endpoint, "endpoint");
        Objects.requireNonNull(parallelIo, "parallelIo");
        Objects.requireNonNull(timeouts, "timeouts");
        Objects.requireNonNull(keyPrefix, "keyPrefix");
        if (!bucket.matches("[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")) {
            throw new IllegalArgumentException("'" + bucket + "' is not a valid GCS bucket name "
                    + "(3 to 222 characters: lowercase letters, digits, '-', '_' and '.', starting and ending with a letter or digit)");
        }
        if (project.isPresent() && project.get().isBlank()) {
            throw new IllegalArgumentException("the GCS project is blank; leave it unset instead");
        }
        keyPrefix = keyPrefix.filter(prefix -> !prefix.isEmpty());
        if (keyPrefix.isPresent()) {
            String prefix = keyPrefix.get();
            if (prefix.startsWith("/") || prefix.contains("\\") || prefix.chars().anyMatch(Character::isISOControl)
                    || prefix.length() > 100) {
                throw new IllegalArgumentException("the GCS key prefix '" + prefix
                        + "' must not start with '/', contain a backslash or control character, or exceed 100 characters");
            }
        }
        endpoint.ifPresent(uri -> {
            if (!"https".equals(uri.getScheme()) && !"http".equals(uri.getScheme()) || uri.getHost() == null) {
                throw new IllegalArgumentException("the GCS endpoint '" + uri + "' must be an http or https URL with a host");
            }
        });
    }

    /** Settings for {@code bucket} with everything else at its default. */
    public static GcsSettings of(String bucket) {
        return new GcsSettings(bucket, Optional.empty(), Optional.empty(), Optional.empty(),
                ParallelIo.defaults(), RemoteTimeouts.defaults(), Optional.empty());
    }

    /** The same settings with another key prefix. */
    public GcsSettings withKeyPrefix(String prefix) {
        return new GcsSettings(bucket, project, credentialsFile, endpoint, parallelIo, timeouts, Optional.ofNullable(prefix));
    }

    /** Shows the credentials file's path, never its content (which it does not read). */
    @Override
    public String toString() {
        return "GcsSettings[bucket=" + bucket + ", project=" + project.orElse("(inferred)")
                + ", credentialsFile=" + credentialsFile.map(Path::toString).orElse("(application default)")
                + ", endpoint=" + endpoint.map(URI::toString).orElse("(default)")
                + ", parallelIo=" + parallelIo + ", timeouts=" + timeouts
                + ", keyPrefix=" + keyPrefix.orElse("") + "]";
    }
}
