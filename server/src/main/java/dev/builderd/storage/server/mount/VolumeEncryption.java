package dev.builderd.storage.server.mount;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Whether the filesystem holding a directory sits on an encrypted block device. Workspace and
 * scratch directories are plain directories that build processes write into, so builderd cannot
 * encrypt them itself; this reports what the operator set up (a dm-crypt/LUKS volume, per tenant
 * or for the whole root) instead of pretending.
 *
 * <p>Detected: device-mapper crypt targets (LUKS, plain dm-crypt) through
 * {@code /sys/class/block/dm-N/dm/uuid}, and eCryptfs mounts. Not detected: fscrypt (per-directory
 * ext4/f2fs encryption, which needs an ioctl Java cannot make), reported as not encrypted.
 *
 * @param encrypted whether the volume was found to be encrypted
 * @param method {@code dm-crypt}, {@code ecryptfs} or {@code none}
 * @param mountPoint the mount that holds the directory
 * @param device the mount's source
 */
public record VolumeEncryption(boolean encrypted, String method, String mountPoint, String device) {

    /** Inspects the volume that holds {@code directory}. */
    public static VolumeEncryption of(MountTable mounts, Path sysClassBlock, Path directory) {
        Optional<MountTable.Mount> found = mounts.mountOf(directory);
        if (found.isEmpty()) {
            return new VolumeEncryption(false, "none", "", "");
        }
        MountTable.Mount mount = found.get();
        if (mount.fsType().equals("ecryptfs")) {
            return new VolumeEncryption(true, "ecryptfs", mount.mountPoint().toString(), mount.source());
        }
        boolean crypt = deviceMapperName(mount.source())
                .map(dm -> sysClassBlock.resolve(dm).resolve("dm").resolve("uuid"))
                .filter(Files::isReadable)
                .map(VolumeEncryption::readQuietly)
                .filter(uuid -> uuid.startsWith("CRYPT-"))
                .isPresent();
        return new VolumeEncryption(crypt, crypt ? "dm-crypt" : "none", mount.mountPoint().toString(), mount.source());
    }

    /** Inspects the volume that holds {@code directory} on this machine. */
    public static VolumeEncryption of(Path directory) {
        try {
            return of(MountTable.current(), Path.of("/sys/class/block"), directory);
        } catch (IOException e) {
            return new VolumeEncryption(false, "none", "", "");
        }
    }

    /** {@code dm-3} for {@code /dev/dm-3} or for a {@code /dev/mapper/name} link to it. */
    private static Optional<String> deviceMapperName(String source) {
        if (!source.startsWith("/")) {
            return Optional.empty();
        }
        try {
            String name = Path.of(source).toRealPath().getFileName().toString();
            return name.startsWith("dm-") ? Optional.of(name) : Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    private static String readQuietly(Path file) {
        try {
            return Files.readString(file).strip();
        } catch (IOException e) {
            return "";
        }
    }
}
