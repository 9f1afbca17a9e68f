package dev.builderd.storage.bench;

import static dev.builderd.storage.bench.BenchBytes.BLOB_SIZE;
import static dev.builderd.storage.bench.BenchBytes.CHUNK_SIZE;

import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.concurrent.TimeUnit;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * What the JDK itself does on the same 64 MiB: raw {@code AES/GCM/NoPadding} with a 256-bit key,
 * one GCM message per 256 KiB chunk (the data store's segment size) with its own IV, both ways;
 * and SHA-256 (what every upload and download computes anyway). Scores are bytes/s (see
 * {@link BenchBytes}).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g", "--enable-native-access=ALL-UNNAMED"})
@State(Scope.Benchmark)
public class CryptoBaselineBenchmark {

    private static final int TAG_BITS = 128;
    private static final int IV_SIZE = 12;
    private static final int CHUNKS = BLOB_SIZE / CHUNK_SIZE;

    private byte[] plaintext;
    private SecretKeySpec key;
    private Cipher cipher;
    private MessageDigest sha256;
    /** The blob encrypted chunk by chunk, and the IV of each chunk. */
    private byte[][] ciphertext;
    private byte[][] ivs;
    private final byte[] out = new byte[CHUNK_SIZE + TAG_BITS / 8];
    /** Encryption never reuses an IV with the key: a counter runs across invocations. */
    private long nextIv;

    @Setup(Level.Trial)
    public void setUp() throws GeneralSecurityException {
        plaintext = BenchBytes.random(1, BLOB_SIZE);
        key = new SecretKeySpec(BenchBytes.random(3, 32), "AES");
        cipher = Cipher.getInstance("AES/GCM/NoPadding");
        sha256 = MessageDigest.getInstance("SHA-256");
        ciphertext = new byte[CHUNKS][];
        ivs = new byte[CHUNKS][];
        for (int i = 0; i < CHUNKS; i++) {
            ivs[i] = iv(nextIv++);
            cipher.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(TAG_BITS, ivs[i]));
            ciphertext[i] = cipher.doFinal(plaintext, i * CHUNK_SIZE, CHUNK_SIZE);
        }
    }

    private static byte[] iv(long counter) {
        return ByteBuffer.allocate(IV_SIZE).putInt(0x62646400).putLong(counter).array();
    }

    @Benchmark
    @OperationsPerInvocation(BLOB_SIZE)
    public int aesGcmEncrypt() throws GeneralSecurityException {
        int total = 0;
        for (int i = 0; i < CHUNKS; i++) {
            cipher.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(TAG_BITS, iv(nextIv++)));
            total += cipher.doFinal(plaintext, i * CHUNK_SIZE, CHUNK_SIZE, out, 0);
        }
        return total;
    }

    @Benchmark
    @OperationsPerInvocation(BLOB_SIZE)
    public int aesGcmDecrypt() throws GeneralSecurityException {
        int total = 0;
        for (int i = 0; i < CHUNKS; i++) {
            cipher.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(TAG_BITS, ivs[i]));
            total += cipher.doFinal(ciphertext[i], 0, ciphertext[i].length, out, 0);
        }
        return total;
    }

    @Benchmark
    @OperationsPerInvocation(BLOB_SIZE)
    public byte[] sha256() {
        sha256.update(plaintext);
        return sha256.digest();
    }
}
