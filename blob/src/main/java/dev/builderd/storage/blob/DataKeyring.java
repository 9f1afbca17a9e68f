package dev.builderd.storage.blob;

import com.google.crypto.tink.KeysetHandle;
import com.google.crypto.tink.RegistryConfiguration;
import com.google.crypto.tink.StreamingAead;
import com.google.crypto.tink.streamingaead.AesGcmHkdfStreamingKey;
import com.google.crypto.tink.streamingaead.StreamingAeadConfig;
import java.security.GeneralSecurityException;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * The data keys of one blob owner (a tenant), as {@link EncryptingBlobStore} uses them: a keyset
 * whose primary key encrypts new blobs and whose other keys still decrypt older ones, the owner's
 * marker that starts every blob encrypted for it, and whether blobs without that marker are
 * still accepted as plaintext (only while the owner's older plaintext blobs are being encrypted).
 *
 * <p>Every key must have {@link EncryptingBlobStore#KEY_PARAMETERS}: the store converts between
 * plaintext and ciphertext sizes with that format's segment, header and tag sizes. Holds key
 * material: {@link #toString()} shows only key ids.
 */
public final class DataKeyring {

    /** Size of the owner's marker, random and never shown to the owner. */
    public static final int MARKER_SIZE = 16;

    private final byte[] marker;
    private final int primaryId;
    private final Map<Integer, StreamingAead> keys;
    /** The same keys, for decrypting segments without Tink's channels (large local reads). */
    private final Map<Integer, SegmentKey> segmentKeys;
    private final boolean acceptsPlaintext;

    /**
     * @param marker {@value #MARKER_SIZE} random bytes, fixed for the owner's lifetime
     * @param keyset the owner's keyset; its primary encrypts, every enabled key decrypts
     * @param acceptsPlaintext whether a blob without the marker is read as plaintext (true only
     *     while older plaintext blobs of the owner may still exist); otherwise it is an
     *     {@link IntegrityViolationException}
     */
    public DataKeyring(byte[] marker, KeysetHandle keyset, boolean acceptsPlaintext) throws GeneralSecurityException {
        if (Objects.requireNonNull(marker, "marker").length != MARKER_SIZE) {
            throw new IllegalArgumentException("a marker has " + MARKER_SIZE + " bytes, not " + marker.length);
        }
        StreamingAeadConfig.register();
        Map<Integer, StreamingAead> byId = new HashMap<>();
        Map<Integer, SegmentKey> segmentsById = new HashMap<>();
        for (int i = 0; i < keyset.size(); i++) {
            KeysetHandle.Entry entry = keyset.getAt(i);
            if (!entry.getKey().getParameters().equals(EncryptingBlobStore.KEY_PARAMETERS)) {
                throw new GeneralSecurityException("key " + Integer.toUnsignedString(entry.getId())
                        + " does not have the parameters of the blob format: " + entry.getKey().getParameters());
            }
            KeysetHandle single = KeysetHandle.newBuilder()
                    .addEntry(KeysetHandle.importKey(entry.getKey()).withFixedId(entry.getId()).makePrimary())
                    .build();
            byId.put(entry.getId(), single.getPrimitive(RegistryConfiguration.get(), StreamingAead.class));
            if (entry.getKey() instanceof AesGcmHkdfStreamingKey streamingKey) {
                segmentsById.put(entry.getId(), new SegmentKey(streamingKey));
            }
        }
        this.marker = marker.clone();
        this.primaryId = keyset.getPrimary().getId();
        this.keys = Map.copyOf(byId);
        this.segmentKeys = Map.copyOf(segmentsById);
        this.acceptsPlaintext = acceptsPlaintext;
    }

    byte[] marker() {
        return marker.clone();
    }

    boolean startsWithMarker(byte[] bytes) {
        return bytes.length >= MARKER_SIZE && java.util.Arrays.equals(bytes, 0, MARKER_SIZE, marker, 0, MARKER_SIZE);
    }

    int primaryId() {
        return primaryId;
    }

    StreamingAead primary() {
        return keys.get(primaryId);
    }

    Optional<StreamingAead> key(int id) {
        return Optional.ofNullable(keys.get(id));
    }

    /** Key {@code id} for {@link SegmentKey}'s own decryption; empty where {@link #key} is. */
    Optional<SegmentKey> segmentKey(int id) {
        return Optional.ofNullable(segmentKeys.get(id));
    }

    boolean acceptsPlaintext() {
        return acceptsPlaintext;
    }

    /** Whether a blob encrypted under key {@code id} needs re-encrypting to reach the primary key. */
    public boolean isPrimary(int id) {
        return id == primaryId;
    }

    @Override
    public String toString() {
        return "DataKeyring[primary=" + Integer.toUnsignedString(primaryId) + ", keys=" + keys.size()
                + (acceptsPlaintext ? ", accepts plaintext" : "") + "]";
    }
}
