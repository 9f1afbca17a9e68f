package dev.builderd.storage.core;

import dev.builderd.storage.blob.BlobStore;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

/** A test of two nodes on one real PostgreSQL ({@link TwoNodes}), fresh for each test: {@link #a} and {@link #b}. */
abstract class TwoNodeTest {

    @TempDir
    Path rootA;
    @TempDir
    Path rootB;
    @TempDir
    Path shared;
    TwoNodes nodes;
    BuilderdStorage a;
    BuilderdStorage b;

    /** Each node's configuration: the defaults unless a test changes them. */
    CoreConfig configure(CoreConfig defaults) {
        return defaults;
    }

    /** Both nodes' clock: the system's unless a test moves its own. */
    java.time.Clock clock() {
        return java.time.Clock.systemUTC();
    }

    /** How node 0 (A) or 1 (B) reaches the shared store: as it is unless a test wraps it. */
    BlobStore view(int node, BlobStore shared) {
        return shared;
    }

    @BeforeEach
    final void startNodes() throws IOException {
        nodes = new TwoNodes(rootA, rootB, shared, this::configure, clock(), this::view);
        a = nodes.a();
        b = nodes.b();
    }

    @AfterEach
    final void stopNodes() {
        nodes.close();
    }
}
