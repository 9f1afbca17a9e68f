package dev.builderd.storage.server.mount;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The iSCSI check against a real mounted filesystem: an ext4 image loop-mounted by the test, with
 * the by-path link that udev would create for an iSCSI LUN pointing at the loop device. These
 * machines have no iSCSI initiator or target; everything after the block device is real.
 */
class LoopMountedIscsiTest {

    private static final String TARGET = "iqn.2024-01.com.example:builderd";
    private static final String PORTAL = "127.0.0.1:3260";

    @TempDir
    Path work;
    Path mountPoint;
    Path byPath;
    String loopDevice;

    @BeforeEach
    void mountAnExt4Image() throws Exception {
        assumeTrue("root".equals(System.getProperty("user.name")), "loop mounts need root");
        Path image = work.resolve("disk.img");
        run("truncate", "-s", "16M", image.toString());
        run("mkfs.ext4", "-q", "-F", image.toString());
        loopDevice = run("losetup", "--find", "--show", image.toString()).strip();
        mountPoint = Files.createDirectories(work.resolve("data"));
        run("mount", "-t", "ext4", loopDevice, mountPoint.toString());
        byPath = Files.createDirectories(work.resolve("by-path"));
        Files.createSymbolicLink(byPath.resolve("ip-" + PORTAL + "-iscsi-" + TARGET + "-lun-0"), Path.of(loopDevice));
    }

    @AfterEach
    void unmount() throws Exception {
        if (mountPoint != null) {
            run("umount", mountPoint.toString());
        }
        if (loopDevice != null) {
            run("losetup", "-d", loopDevice);
        }
    }

    @Test
    void theDataRootOnTheTargetsDeviceWithTheRightFilesystemPasses() throws IOException {
        var iscsi = new NetworkMount.Iscsi(TARGET, PORTAL, "ext4", byPath);
        assertThat(iscsi.device()).contains(Path.of(loopDevice).toRealPath());
        assertThat(iscsi.problemWith(MountTable.current(), mountPoint.resolve("tenants"))).isEmpty();
    }

    @Test
    void aWrongFilesystemAnotherDirectoryOrAnotherTargetAreNamed() throws IOException {
        MountTable table = MountTable.current();
        assertThat(new NetworkMount.Iscsi(TARGET, PORTAL, "xfs", byPath).problemWith(table, mountPoint)).get().asString()
                .contains("carries ext4, not xfs");
        assertThat(new NetworkMount.Iscsi(TARGET, PORTAL, "ext4", byPath).problemWith(table, work)).get().asString()
                .contains("is not on the iSCSI device " + Path.of(loopDevice).toRealPath());
        assertThat(new NetworkMount.Iscsi("iqn.2024-01.com.example:other", PORTAL, "ext4", byPath).problemWith(table, mountPoint))
                .get().asString().contains("no block device for iSCSI target iqn.2024-01.com.example:other");
    }

    private static String run(String... command) throws Exception {
        Process process = new ProcessBuilder(List.of(command)).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(process.exitValue()).as("%s: %s", String.join(" ", command), output).isZero();
        return output;
    }
}
