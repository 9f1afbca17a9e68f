package dev.builderd.storage.bench;

import static dev.builderd.storage.bench.BenchBytes.BLOB_SIZE;
import static dev.builderd.storage.bench.BenchBytes.RANGE_OFFSET;
import static dev.builderd.storage.bench.BenchBytes.RANGE_SIZE;

import com.google.crypto.tink.KeysetHandle;
import com.google.crypto.tink.streamingaead.StreamingAeadConfig;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.DataKeyring;
import dev.builderd.storage.blob.DataKeys;
import dev.builderd.storage.blob.EncryptingBlobStore;
import dev.builderd.storage.blob.MemoryBlobStore;
import dev.builderd.storage.blob.WriteMode;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.security.GeneralSecurityException;
import java.util.Arrays;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
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
 * {@link EncryptingBlobStore} on a 64 MiB blob of one encrypted owner: the upload path (put into
 * a store that discards), the whole-blob read and a 1 MiB ranged read of a blob held in a
 * {@link MemoryBlobStore}. Scores are bytes/s of plaintext (see {@link BenchBytes}); compare with
 * {@link CryptoBaselineBenchmark} in the same run.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g", "--enable-native-access=ALL-UNNAMED"})
@State(Scope.Benchmark)
public class EncryptingBlobStoreBenchmark {

    static final BlobKey KEY = BlobKey.of("tenants/acme/builds/b1/rootfs/x");

    private byte[] plaintext;
    private EncryptingBlobStore writer;
    private EncryptingBlobStore reader;
    private final byte[] buffer = new byte[BenchBytes.READ_BUFFER];

    @Setup(Level.Trial)
    public void setUp() throws IOException, GeneralSecurityException {
        StreamingAeadConfig.register();
        KeysetHandle keyset = KeysetHandle.newBuilder()
                .addEntry(KeysetHandle.generateEntryFromParameters(EncryptingBlobStore.KEY_PARAMETERS)
                        .withRandomId().makePrimary())
                .build();
        DataKeyring keyring = new DataKeyring(BenchBytes.random(2, DataKeyring.MARKER_SIZE), keyset, false);
        DataKeys keys = key -> Optional.of(keyring);
        plaintext = BenchBytes.random(1, BLOB_SIZE);
        writer = new EncryptingBlobStore(new DiscardingBlobStore(), keys);
        reader = new EncryptingBlobStore(new MemoryBlobStore(), keys);
        reader.put(KEY, new ByteArrayInputStream(plaintext), BLOB_SIZE, WriteMode.CREATE_NEW);
        // Check once, outside the timing, that the read paths return the right bytes.
        try (InputStream in = reader.open(KEY, ByteRange.ALL)) {
            check(Arrays.equals(in.readAllBytes(), plaintext), "whole read differs from the plaintext");
        }
        try (InputStream in = reader.open(KEY, new ByteRange(RANGE_OFFSET, RANGE_SIZE))) {
            check(Arrays.equals(in.readAllBytes(),
                    Arrays.copyOfRange(plaintext, (int) RANGE_OFFSET, (int) RANGE_OFFSET + RANGE_SIZE)),
                    "ranged read differs from the plaintext");
        }
    }

    private static void check(boolean ok, String what) {
        if (!ok) {
            throw new IllegalStateException(what);
        }
    }

    /** Encrypts the 64 MiB as an upload does, into a store that discards the ciphertext. */
    @Benchmark
    @OperationsPerInvocation(BLOB_SIZE)
    public long encryptPut() throws IOException {
        return writer.put(KEY, new ByteArrayInputStream(plaintext), BLOB_SIZE, WriteMode.OVERWRITE).size();
    }

    /** Decrypts the whole 64 MiB blob: {@code open(key, ByteRange.ALL)}, read to the end. */
    @Benchmark
    @OperationsPerInvocation(BLOB_SIZE)
    public long decryptAll() throws IOException {
        return drain(reader.open(KEY, ByteRange.ALL));
    }

    /**
     * The whole 64 MiB blob asked for as the range {@code (0, size)}, as the daemon's GET of a whole
     * artifact does: this takes the seekable (ranged) decryption path, not the sequential one.
     */
    @Benchmark
    @OperationsPerInvocation(BLOB_SIZE)
    public long decryptAllAsRange() throws IOException {
        return drain(reader.open(KEY, new ByteRange(0, BLOB_SIZE)));
    }

    /** A 1 MiB range from the middle: open (stat, header, key derivation) and read. */
    @Benchmark
    @OperationsPerInvocation(RANGE_SIZE)
    public long decryptRange1MiB() throws IOException {
        return drain(reader.open(KEY, new ByteRange(RANGE_OFFSET, RANGE_SIZE)));
    }

    private long drain(InputStream stream) throws IOException {
        long total = 0;
        try (InputStream in = stream) {
            int n;
            while ((n = in.read(buffer)) >= 0) {
                total += n;
            }
        }
        return total;
    }
}
