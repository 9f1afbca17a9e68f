package dev.builderd.storage.server.mount;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Detection of an encrypted workspace volume, over a mount table and a {@code /sys/class/block}
 * tree built in a temporary directory (no dm-crypt device can be created on this machine).
 */
class VolumeEncryptionTest {

    @TempDir
    Path root;

    private MountTable mounts(String devices) throws IOException {
        Path mapper = Files.createDirectories(root.resolve("dev/mapper"));
        Files.createFile(root.resolve("dev/dm-3"));
        Files.createFile(root.resolve("dev/dm-4"));
        Files.createSymbolicLink(mapper.resolve("tenant-acme"), root.resolve("dev/dm-3"));
        Files.createSymbolicLink(mapper.resolve("vg-plain"), root.resolve("dev/dm-4"));
        Files.createDirectories(root.resolve("sys/dm-3/dm"));
        Files.writeString(root.resolve("sys/dm-3/dm/uuid"), "CRYPT-LUKS2-0123456789abcdef-tenant-acme\n");
        Files.createDirectories(root.resolve("sys/dm-4/dm"));
        Files.writeString(root.resolve("sys/dm-4/dm/uuid"), "LVM-abcdef\n");
        return MountTable.parse(devices.replace("$ROOT", root.toString()));
    }

    @Test
    void aLuksVolumeUnderTheTenantsWorkspaceIsReportedEncrypted() throws IOException {
        MountTable table = mounts("""
                /dev/sda1 / ext4 rw 0 0
                $ROOT/dev/mapper/vg-plain /srv/ws ext4 rw 0 0
                $ROOT/dev/mapper/tenant-acme /srv/ws/tenants/acme ext4 rw 0 0
                none /srv/ecrypt ecryptfs rw 0 0
                """);

        VolumeEncryption acme = VolumeEncryption.of(table, root.resolve("sys"), Path.of("/srv/ws/tenants/acme"));
        VolumeEncryption other = VolumeEncryption.of(table, root.resolve("sys"), Path.of("/srv/ws/tenants/globex"));
        VolumeEncryption plainDisk = VolumeEncryption.of(table, root.resolve("sys"), Path.of("/var/lib/builderd"));
        VolumeEncryption ecryptfs = VolumeEncryption.of(table, root.resolve("sys"), Path.of("/srv/ecrypt/tenants/acme"));

        assertThat(acme.encrypted()).isTrue();
        assertThat(acme.method()).isEqualTo("dm-crypt");
        assertThat(acme.mountPoint()).isEqualTo("/srv/ws/tenants/acme");
        assertThat(other.encrypted()).as("device-mapper but LVM, not crypt").isFalse();
        assertThat(plainDisk.encrypted()).isFalse();
        assertThat(plainDisk.method()).isEqualTo("none");
        assertThat(ecryptfs.encrypted()).isTrue();
        assertThat(ecryptfs.method()).isEqualTo("ecryptfs");
    }
}
