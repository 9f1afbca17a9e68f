package dev.builderd.storage.blob;

import com.google.crypto.tink.InsecureSecretKeyAccess;
import com.google.crypto.tink.streamingaead.AesGcmHkdfStreamingKey;
import com.google.crypto.tink.subtle.Hkdf;
import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import java.util.Arrays;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * One Tink AES-GCM-HKDF streaming key of the blob format ({@link EncryptingBlobStore#KEY_PARAMETERS}),
 * able to decrypt single ciphertext segments with the JDK's {@code AES/GCM/NoPadding} directly,
 * without Tink's channels and their copies. Tink still writes every
 * blob and reads the rest; this must stay byte-for-byte Tink's format (its
 * {@code AesGcmHkdfStreaming}, Tink 1.24):
 *
 * <ul>
 *   <li>header = one byte holding the header length (40), a 32-byte salt, a 7-byte nonce prefix;
 *   <li>segment key = HKDF-HmacSha256(initial key material, salt, info = associated data), 32 bytes;
 *   <li>segment nonce = prefix || segment number (4 bytes, big-endian) || 1 if last segment else 0;
 *   <li>each segment is GCM ciphertext with its 16-byte tag, no associated data of its own.
 * </ul>
 *
 * Holds key material: {@link #toString()} shows none.
 */
final class SegmentKey {

    private static final String HKDF = "HmacSha256";
    private static final int KEY_BYTES = 32;
    private static final int NONCE_PREFIX_BYTES = 7;
    private static final int NONCE_BYTES = NONCE_PREFIX_BYTES + Integer.BYTES + 1;

    private final byte[] initialKeyMaterial;

    SegmentKey(AesGcmHkdfStreamingKey key) throws GeneralSecurityException {
        if (!key.getParameters().equals(EncryptingBlobStore.KEY_PARAMETERS)) {
            throw new GeneralSecurityException("not a key of the blob format: " + key.getParameters());
        }
        this.initialKeyMaterial = key.getInitialKeyMaterial().toByteArray(InsecureSecretKeyAccess.get());
    }

    /**
     * The cipher of one blob, from its Tink header ({@link EncryptingBlobStore#HEADER_SIZE} bytes)
     * and its associated data.
     *
     * @throws GeneralSecurityException if the header is not one of this format
     */
    Segments forCiphertext(byte[] header, byte[] associatedData) throws GeneralSecurityException {
        if (header.length != EncryptingBlobStore.HEADER_SIZE || header[0] != EncryptingBlobStore.HEADER_SIZE) {
            throw new GeneralSecurityException("invalid ciphertext header");
        }
        byte[] salt = Arrays.copyOfRange(header, 1, 1 + KEY_BYTES);
        byte[] prefix = Arrays.copyOfRange(header, 1 + KEY_BYTES, EncryptingBlobStore.HEADER_SIZE);
        SecretKeySpec key = new SecretKeySpec(Hkdf.computeHkdf(HKDF, initialKeyMaterial, salt, associatedData, KEY_BYTES), "AES");
        return new Segments(key, prefix, Cipher.getInstance("AES/GCM/NoPadding"));
    }

    @Override
    public String toString() {
        return "SegmentKey[hidden]";
    }

    /** Decrypts the segments of one ciphertext; one thread at a time. */
    static final class Segments {
        private final SecretKeySpec key;
        private final byte[] nonce = new byte[NONCE_BYTES];
        private final Cipher cipher;

        private Segments(SecretKeySpec key, byte[] prefix, Cipher cipher) {
            this.key = key;
            this.cipher = cipher;
            System.arraycopy(prefix, 0, nonce, 0, NONCE_PREFIX_BYTES);
        }

        /**
         * Decrypts and authenticates segment {@code number}, the first {@code length} bytes of
         * {@code ciphertext} (tag included), into the start of {@code plaintext}; returns the
         * plaintext length. On failure {@code plaintext}'s contents are undefined and must not be
         * used. Arrays, not buffers: on JDK 25 the AES-GCM intrinsics run on arrays, and the same
         * segments decrypted between direct buffers took about 2.8 times the CPU (0.32 against 0.11
         * CPU-seconds per GiB, measured on this project's 2-core machine).
         */
        int decrypt(byte[] ciphertext, int length, long number, boolean last, byte[] plaintext) throws GeneralSecurityException {
            if (number < 0 || number > 0xffff_ffffL) {
                throw new GeneralSecurityException("segment number out of range: " + number);
            }
            ByteBuffer.wrap(nonce, NONCE_PREFIX_BYTES, Integer.BYTES + 1).putInt((int) number).put((byte) (last ? 1 : 0));
            cipher.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(8 * EncryptingBlobStore.TAG_SIZE, nonce));
            return cipher.doFinal(ciphertext, 0, length, plaintext, 0);
        }

        @Override
        public String toString() {
            return "Segments[hidden]";
        }
    }
}
