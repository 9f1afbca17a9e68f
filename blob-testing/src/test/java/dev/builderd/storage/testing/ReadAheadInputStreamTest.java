package dev.builderd.storage.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.builderd.storage.blob.ReadAheadInputStream;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ReadAheadInputStreamTest {

    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();

    @AfterEach
    void stop() {
        executor.shutdownNow();
    }

    @Test
    void deliversExactlyTheSourcesBytesInOrderWhateverTheReadSizes() throws IOException {
        byte[] content = SeededBytes.array(3, 1_000_003);
        for (int bufferSize : new int[] {1, 7, 4096, 1 << 20, 2 << 20}) {
            try (InputStream in = new ReadAheadInputStream(new ByteArrayInputStream(content), bufferSize, 3, executor)) {
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                byte[] odd = new byte[1009];
                int n;
                while ((n = in.read(odd, 0, odd.length)) >= 0) {
                    out.write(odd, 0, n);
                    int single = in.read();
                    if (single < 0) {
                        break;
                    }
                    out.write(single);
                }
                assertThat(out.toByteArray()).as("buffer size %d", bufferSize).isEqualTo(content);
                assertThat(in.read()).isEqualTo(-1);
            }
        }
        try (InputStream empty = new ReadAheadInputStream(InputStream.nullInputStream(), 16, 2, executor)) {
            assertThat(empty.read()).isEqualTo(-1);
        }
    }

    @Test
    void aFailureOfTheSourceReachesTheReaderAsItWasAfterTheBytesBeforeIt() {
        byte[] content = SeededBytes.array(4, 50_000);
        InputStream failing = new FailingInputStream(new ByteArrayInputStream(content), 30_000);
        ByteArrayOutputStream got = new ByteArrayOutputStream();

        assertThatThrownBy(() -> {
            try (InputStream in = new ReadAheadInputStream(failing, 4096, 2, executor)) {
                in.transferTo(got);
            }
        }).isInstanceOf(IOException.class).hasMessageContaining(FailingInputStream.MESSAGE);
        assertThat(got.toByteArray()).isEqualTo(java.util.Arrays.copyOf(content, got.size()));
        assertThat(got.size()).isLessThanOrEqualTo(30_000);
    }

    @Test
    void closingStopsTheProducerAndClosesTheSource() throws IOException {
        AtomicBoolean closed = new AtomicBoolean();
        InputStream endless = new InputStream() {
            @Override
            public int read() {
                return 1;
            }

            @Override
            public int read(byte[] b, int off, int len) {
                java.util.Arrays.fill(b, off, off + len, (byte) 1);
                return len;
            }

            @Override
            public void close() {
                closed.set(true);
            }
        };
        InputStream in = new ReadAheadInputStream(endless, 1024, 2, executor);
        assertThat(in.read()).isEqualTo(1);

        in.close();

        assertThat(closed).isTrue();
        assertThatThrownBy(in::read).isInstanceOf(IOException.class);
        executor.shutdown();
        await().atMost(Duration.ofSeconds(10)).until(executor::isTerminated);
    }
}
