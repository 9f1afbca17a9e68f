package dev.builderd.storage.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CephServerTest {

    @Test
    void rgwAnswersS3OnLoopback() throws Exception {
        CephServer ceph = CephServer.shared();
        assertThat(CephServer.shared()).isSameAs(ceph);
        assertThat(ceph.rgwEndpoint()).startsWith("http://127.0.0.1:");
        System.out.println("CephServer: single-node Ceph started in " + ceph.startMillis() + " ms, logs in " + ceph.logDir());

        HttpResponse<String> response = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()
                .send(HttpRequest.newBuilder(URI.create(ceph.rgwEndpoint() + "/")).timeout(Duration.ofSeconds(10)).build(),
                        HttpResponse.BodyHandlers.ofString());

        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.body()).contains("ListAllMyBucketsResult");
        assertThat(ceph.accessKey()).isNotBlank();
        assertThat(ceph.secretKey()).isNotBlank();
        assertThat(ceph.newBucketName()).isNotEqualTo(ceph.newBucketName()).matches("[a-z0-9][a-z0-9-]{2,62}");
    }

    @Test
    void radosPutAndGetInAFreshNamespace(@TempDir Path tmp) throws Exception {
        CephServer ceph = CephServer.shared();
        String namespace = ceph.newPoolNamespace();
        assertThat(ceph.monitors()).contains("127.0.0.1");
        assertThat(ceph.confFile()).isRegularFile();
        Path in = Files.writeString(tmp.resolve("in"), "hello rados", StandardCharsets.UTF_8);
        Path out = tmp.resolve("out");

        rados(ceph, tmp, "-N", namespace, "put", "greeting", in.toString());
        rados(ceph, tmp, "-N", namespace, "get", "greeting", out.toString());

        assertThat(out).hasContent("hello rados");
        assertThat(rados(ceph, tmp, "-N", namespace, "ls")).isEqualTo("greeting\n");
        assertThat(rados(ceph, tmp, "-N", ceph.newPoolNamespace(), "ls")).isEmpty();
    }

    private static String rados(CephServer ceph, Path tmp, String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of("rados", "-c", ceph.confFile().toString(), "-p", ceph.pool()));
        command.addAll(List.of(args));
        Path output = Files.createTempFile(tmp, "rados", ".out");
        Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(output.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        assertThat(process.waitFor(60, TimeUnit.SECONDS)).as(String.join(" ", command) + " finishes").isTrue();
        String text = Files.readString(output);
        assertThat(process.exitValue()).as(String.join(" ", command) + ": " + text).isZero();
        return text;
    }
}
