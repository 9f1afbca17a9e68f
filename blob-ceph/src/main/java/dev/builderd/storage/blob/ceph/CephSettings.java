package dev.builderd.storage.blob.ceph;

import dev.builderd.storage.blob.ParallelIo;
import dev.builderd.storage.blob.RemoteTimeouts;
import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;

/**
 * How {@link RadosBlobStore} reaches a Ceph cluster natively (librados).
 *
 * @param monitors the {@code mon host} value: {@code host[:port]} list or
 *     {@code [v2:IP:3300,v1:IP:6789]} ({@code UNKEY_BUILDERD_CEPH_MONITORS})
 * @param pool the RADOS pool ({@code UNKEY_BUILDERD_CEPH_POOL})
 * @param user the client name, {@code client.builderd} or just {@code builderd}
 *     ({@code UNKEY_BUILDERD_CEPH_USER}, default {@code client.admin})
 * @param keyringFile the cephx keyring ({@code UNKEY_BUILDERD_CEPH_KEYRING}); empty for none
 * @param confFile a {@code ceph.conf} read before the settings above are applied; empty for none
 * @param namespace the RADOS namespace inside the pool ({@code ""} for the default one); lets
 *     several stores (or tests) share one pool without seeing each other
 * @param stripeSize bytes per RADOS data object; a blob is cut into stripes of this size
 * @param parallelIo {@code workers} = stripes written at once per put
 * @param timeouts connect bounds the monitor handshake, request every OSD and monitor operation
 */
public record CephSettings(String monitors, String pool, String user, Optional<Path> keyringFile,
        Optional<Path> confFile, String namespace, int stripeSize, ParallelIo parallelIo, RemoteTimeouts timeouts) {

    /** 4 MiB: small enough for every object store backend (memstore included), big enough to stream. */
    public static final int DEFAULT_STRIPE_SIZE = 4 << 20;
    public static final int MIN_STRIPE_SIZE = 64 << 10;
    /** Below Ceph's default {@code osd max object size} of 128 MiB. */
    public static final int MAX_STRIPE_SIZE = 64 << 20;

    public CephSettings {
        Objects.requireNonNull(monitors, "monitors");
        Objects.requireNonNull(pool, "pool");
        Objects.requireNonNull(user, "user");
        Objects.requireNonNull(keyringFile, "keyringFile");
        Objects.requireNonNull(confFile, "confFile");
        Objects.requireNonNull(namespace, "namespace");
        Objects.requireNonNull(parallelIo, "parallelIo");
        Objects.requireNonNull(timeouts, "timeouts");
        if (monitors.isBlank() && confFile.isEmpty()) {
            throw new IllegalArgumentException("Ceph monitors are required (UNKEY_BUILDERD_CEPH_MONITORS) unless a ceph.conf names them");
        }
        if (pool.isBlank()) {
            throw new IllegalArgumentException("the Ceph pool is required (UNKEY_BUILDERD_CEPH_POOL)");
        }
        if (stripeSize < MIN_STRIPE_SIZE || stripeSize > MAX_STRIPE_SIZE) {
            throw new IllegalArgumentException("stripe size must be " + MIN_STRIPE_SIZE + " to " + MAX_STRIPE_SIZE + " bytes, was " + stripeSize);
        }
        if (namespace.length() > 64) {
            throw new IllegalArgumentException("RADOS namespace longer than 64 characters: " + namespace);
        }
    }

    /** The full client name librados wants: {@code client.NAME}. */
    public String clientName() {
        String name = user.isBlank() ? "admin" : user;
        return name.startsWith("client.") ? name : "client." + name;
    }
}
