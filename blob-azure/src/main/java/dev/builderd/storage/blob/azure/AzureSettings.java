package dev.builderd.storage.blob.azure;

import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.ParallelIo;
import dev.builderd.storage.blob.RemoteTimeouts;
import dev.builderd.storage.blob.StorageTls;
import java.net.URI;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Where and how {@link AzureBlobStore} reaches Azure Blob Storage.
 *
 * @param account the storage account name ({@code UNKEY_BUILDERD_AZURE_ACCOUNT})
 * @param container the container holding the blobs; it must exist ({@code UNKEY_BUILDERD_AZURE_CONTAINER})
 * @param accessKey the account's shared key, base64 ({@code UNKEY_BUILDERD_AZURE_ACCESS_KEY});
 *     never printed by {@link #toString()}
 * @param endpoint the blob service endpoint when it is not
 *     {@code https://ACCOUNT.blob.core.windows.net}, e.g. Azurite's
 *     {@code http://127.0.0.1:10000/devstoreaccount1} (path-style: the account is the first
 *     path segment)
 * @param parallelIo block size ({@code partSize}), blocks in flight ({@code workers})
 * @param timeouts connect and per-exchange timeouts, attempts for retryable errors
 * @param tls the CA to trust and the client certificate to present, for an HTTPS endpoint
 * @param keyPrefix prepended to every key to form the blob name ({@code ""} for none, else a
 *     valid key followed by {@code /}); lets several stores share one container
 */
public record AzureSettings(String account, String container, String accessKey, Optional<URI> endpoint,
        ParallelIo parallelIo, RemoteTimeouts timeouts, StorageTls tls, String keyPrefix) {

    private static final Pattern ACCOUNT = Pattern.compile("[a-z0-9]{3,24}");
    private static final Pattern CONTAINER = Pattern.compile("(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*");

    public AzureSettings {
        Objects.requireNonNull(account, "account");
        Objects.requireNonNull(container, "container");
        Objects.requireNonNull(accessKey, "accessKey");
        Objects.requireNonNull(endpoint, "endpoint");
        Objects.requireNonNull(parallelIo, "parallelIo");
        Objects.requireNonNull(timeouts, "timeouts");
        Objects.requireNonNull(tls, "tls");
        Objects.requireNonNull(keyPrefix, "keyPrefix");
        if (!ACCOUNT.matcher(account).matches()) {
            throw new IllegalArgumentException("Azure storage account name must be 3 to 24 lowercase letters and digits, was '" + account + "'");
        }
        if (!CONTAINER.matcher(container).matches()) {
            throw new IllegalArgumentException("Azure container name must be 3 to 63 lowercase letters, digits and single"
                    + " hyphens, starting and ending with a letter or digit, was '" + container + "'");
        }
        if (accessKey.isBlank()) {
            throw new IllegalArgumentException("Azure access key of account " + account + " is empty");
        }
        try {
            java.util.Base64.getDecoder().decode(accessKey);
        } catch (IllegalArgumentException e) {
            // Say nothing of the value: it is a secret.
            throw new IllegalArgumentException("Azure access key of account " + account + " is not base64", null);
        }
        endpoint.ifPresent(uri -> {
            if (!("http".equals(uri.getScheme()) || "https".equals(uri.getScheme())) || uri.getHost() == null) {
                throw new IllegalArgumentException("Azure endpoint must be an http or https URL, was '" + uri + "'");
            }
            if (uri.getRawQuery() != null || uri.getRawUserInfo() != null) {
                throw new IllegalArgumentException("Azure endpoint must carry no query or user info (put credentials in the"
                        + " access key setting), was " + uri.getScheme() + "://" + uri.getHost());
            }
        });
        if (!keyPrefix.isEmpty() && !(keyPrefix.endsWith("/") && BlobKey.isValid(keyPrefix.substring(0, keyPrefix.length() - 1)))) {
            throw new IllegalArgumentException("Azure key prefix must be empty or a valid key followed by '/', was '" + keyPrefix + "'");
        }
    }

    /** The account's public endpoint, default parallel I/O, timeouts and TLS, no key prefix. */
    public static AzureSettings of(String account, String container, String accessKey) {
        return new AzureSettings(account, container, accessKey, Optional.empty(), ParallelIo.defaults(),
                RemoteTimeouts.defaults(), StorageTls.platformDefaults(), "");
    }

    public AzureSettings withEndpoint(URI endpoint) {
        return new AzureSettings(account, container, accessKey, Optional.of(endpoint), parallelIo, timeouts, tls, keyPrefix);
    }

    public AzureSettings withParallelIo(ParallelIo parallelIo) {
        return new AzureSettings(account, container, accessKey, endpoint, parallelIo, timeouts, tls, keyPrefix);
    }

    public AzureSettings withTimeouts(RemoteTimeouts timeouts) {
        return new AzureSettings(account, container, accessKey, endpoint, parallelIo, timeouts, tls, keyPrefix);
    }

    public AzureSettings withTls(StorageTls tls) {
        return new AzureSettings(account, container, accessKey, endpoint, parallelIo, timeouts, tls, keyPrefix);
    }

    public AzureSettings withKeyPrefix(String keyPrefix) {
        return new AzureSettings(account, container, accessKey, endpoint, parallelIo, timeouts, tls, keyPrefix);
    }

    /** The blob service endpoint: the override, else {@code https://ACCOUNT.blob.core.windows.net}. */
    public URI serviceEndpoint() {
        return endpoint.orElseGet(() -> URI.create("https://" + account + ".blob.core.windows.net"));
    }

    /** Everything but the access key. */
    @Override
    public String toString() {
        return "AzureSettings[account=" + account + ", container=" + container + ", accessKey=(hidden), endpoint="
                + serviceEndpoint() + ", parallelIo=" + parallelIo + ", timeouts=" + timeouts + ", tls=" + tls
                + ", keyPrefix=" + keyPrefix + "]";
    }
}
