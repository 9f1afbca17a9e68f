package dev.builderd.storage.server.mount;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** NFS checks on recorded mount tables: these machines have no kernel NFS, so none is mounted for real. */
class NetworkMountTest {

    private static final String ROOT_ONLY = """
            /dev/vda / ext4 rw,relatime 0 0
            proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
            """;
    private static final String NFS_MOUNTED = ROOT_ONLY + """
            storage.example.com:/exports/builderd /var/lib/builderd nfs4 rw,relatime,vers=4.1,rsize=1048576,wsize=1048576,namlen=255,hard,proto=tcp,timeo=600,retrans=2,sec=sys,clientaddr=10.0.0.5,local_lock=none,addr=10.0.0.9 0 0
            """;
    private static final NetworkMount.Nfs NFS = new NetworkMount.Nfs("storage.example.com", "/exports/builderd",
            List.of("vers=4.1", "rsize=1048576", "wsize=1048576", "hard", "intr"));
    private static final Path DATA = Path.of("/var/lib/builderd");

    @Test
    void parsesTheKernelFormatWithItsOctalEscapes() {
        MountTable table = MountTable.parse(ROOT_ONLY + "/dev/sdb1 /mnt/with\\040space xfs rw,noatime 0 0\n");
        assertThat(table.mountOf(Path.of("/mnt/with space/x"))).get()
                .satisfies(mount -> assertThat(mount.fsType()).isEqualTo("xfs"))
                .satisfies(mount -> assertThat(mount.hasOption("noatime")).isTrue());
        assertThat(table.mountOf(Path.of("/srv"))).get().extracting(MountTable.Mount::source).isEqualTo("/dev/vda");
    }

    @Test
    void theDataRootOnTheConfiguredExportWithItsOptionsPasses() {
        assertThat(NFS.problemWith(MountTable.parse(NFS_MOUNTED), DATA.resolve("tenants"))).isEmpty();
    }

    @Test
    void aDataRootNotOnNfsIsNamedWithWhatItIsOn() {
        assertThat(NFS.problemWith(MountTable.parse(ROOT_ONLY), DATA)).get().asString()
                .contains("is not on an NFS mount").contains("ext4 /dev/vda at /");
    }

    @Test
    void anotherExportOrMissingOptionsAreNamed() {
        var other = new NetworkMount.Nfs("backup.example.com", "/exports/builderd", List.of());
        assertThat(other.problemWith(MountTable.parse(NFS_MOUNTED), DATA)).get().asString()
                .contains("is on NFS storage.example.com:/exports/builderd, not backup.example.com:/exports/builderd");
        var stricter = new NetworkMount.Nfs("storage.example.com", "/exports/builderd/", List.of("vers=4.2", "soft"));
        assertThat(stricter.problemWith(MountTable.parse(NFS_MOUNTED), DATA)).get().asString()
                .contains("lacks the options vers=4.2,soft");
    }

    @Test
    void theGuardMountsWhenAllowedAndChecksAgain() throws IOException {
        AtomicReference<String> table = new AtomicReference<>(ROOT_ONLY);
        List<List<String>> ran = new ArrayList<>();
        MountGuard guard = new MountGuard(NFS, DATA, () -> MountTable.parse(table.get()), command -> {
            ran.add(command);
            table.set(NFS_MOUNTED);
            return new MountGuard.CommandRunner.Result(0, "");
        });

        guard.ensureMounted(true);

        assertThat(ran).containsExactly(List.of("mount", "-t", "nfs4", "-o", "vers=4.1,rsize=1048576,wsize=1048576,hard,intr",
                "storage.example.com:/exports/builderd", "/var/lib/builderd"));
        assertThat(guard.problem()).isEmpty();
    }

    @Test
    void theGuardRefusesWithTheReasonWhenItMayNotMountOrMountingFails() {
        MountGuard notAllowed = new MountGuard(NFS, DATA, () -> MountTable.parse(ROOT_ONLY), command -> {
            throw new AssertionError("must not run " + command);
        });
        assertThatThrownBy(() -> notAllowed.ensureMounted(false)).hasMessageContaining("is not on an NFS mount")
                .hasMessageContaining("run the daemon as root");

        MountGuard failing = new MountGuard(NFS, Path.of(System.getProperty("java.io.tmpdir"), "builderd-nfs-test"),
                () -> MountTable.parse(ROOT_ONLY),
                command -> new MountGuard.CommandRunner.Result(32, "mount.nfs4: Connection refused\n"));
        assertThatThrownBy(() -> failing.ensureMounted(true)).hasMessageContaining("failed with status 32")
                .hasMessageContaining("mount.nfs4: Connection refused");
    }
}
