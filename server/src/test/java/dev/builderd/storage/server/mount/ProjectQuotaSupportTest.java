package dev.builderd.storage.server.mount;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** Project quota detection from the mount table (these machines mount nothing with project quotas). */
class ProjectQuotaSupportTest {

    private static final MountTable MOUNTS = MountTable.parse("""
            /dev/sda1 / ext4 rw,relatime 0 0
            /dev/sdb1 /srv/xfs xfs rw,relatime,attr2,inode64,prjquota 0 0
            /dev/sdc1 /srv/ext4 ext4 rw,relatime,prjquota 0 0
            /dev/sdd1 /srv/plain xfs rw,relatime,usrquota 0 0
            """);

    @Test
    void projectQuotasAreSeenOnXfsAndExt4MountsOnly() {
        assertThat(ProjectQuotaSupport.of(MOUNTS, Path.of("/srv/xfs/tenants/acme"))).isEqualTo(new ProjectQuotaSupport(true, "/srv/xfs", "xfs"));
        assertThat(ProjectQuotaSupport.of(MOUNTS, Path.of("/srv/ext4/ws")).available()).isTrue();
        assertThat(ProjectQuotaSupport.of(MOUNTS, Path.of("/srv/plain/ws")).available()).as("user quotas are not project quotas").isFalse();
        assertThat(ProjectQuotaSupport.of(MOUNTS, Path.of("/var/lib/builderd")).available()).isFalse();
    }
}
