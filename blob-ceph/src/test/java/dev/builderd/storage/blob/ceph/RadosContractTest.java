package dev.builderd.storage.blob.ceph;

import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.ParallelIo;
import dev.builderd.storage.blob.RemoteTimeouts;
import dev.builderd.storage.testing.BlobStoreContract;
import dev.builderd.storage.testing.CephServer;
import dev.builderd.storage.testing.EncryptedContract;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Nested;

/**
 * The contract against a real single-node Ceph (monitor, memstore OSD) through librados: each
 * test gets a fresh RADOS namespace of the shared pool, and 256 KiB stripes so that the 1 MiB
 * boundaries of the suite and its large blob span many stripes.
 */
class RadosContractTest extends BlobStoreContract {

    static final int STRIPE = 256 << 10;

    private RadosBlobStore rados;

    @Override
    protected BlobStore newStore() throws Exception {
        CephServer ceph = CephServer.shared();
        rados = new RadosBlobStore(new CephSettings(ceph.monitors(), ceph.pool(), ceph.user(), Optional.empty(),
                Optional.of(ceph.confFile()), ceph.newPoolNamespace(), STRIPE, new ParallelIo(4, 5 << 20, 64 << 10),
                new RemoteTimeouts(Duration.ofSeconds(10), Duration.ofSeconds(30), 1)));
        return rados;
    }

    @Override
    protected List<String> leftovers() throws Exception {
        return rados.orphanedStripes();
    }

    /** The same contract with every blob encrypted: encryption at rest works on this backend. */
    @Nested
    class Encrypted extends EncryptedContract {
        @Override
        protected BlobStoreContract plain() {
            return RadosContractTest.this;
        }
    }
}
