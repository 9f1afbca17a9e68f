package dev.builderd.storage.server;

import dev.builderd.storage.server.config.DaemonConfig;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.HexFormat;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The operator's token: from {@code UNKEY_BUILDERD_ADMIN_TOKEN} when set, else read from
 * {@code config/admin.token} under the data root, which is generated (mode 0600) on first start.
 */
final class AdminToken {

    private static final Logger LOG = LoggerFactory.getLogger(AdminToken.class);

    private AdminToken() {
    }

    /** Where a generated token is kept. */
    static Path file(DaemonConfig config) {
        return config.dataRoot().resolve("config").resolve("admin.token");
    }

    /** The token a running daemon uses, for a command-line client on the same host; never generates one. */
    static String existing(DaemonConfig config) throws IOException {
        if (config.adminToken().isPresent()) {
            return config.adminToken().get().value();
        }
        Path file = file(config);
        if (!Files.isReadable(file)) {
            throw new IOException("no admin token: set UNKEY_BUILDERD_ADMIN_TOKEN or run as the user that can read " + file);
        }
        return Files.readString(file, StandardCharsets.US_ASCII).strip();
    }

    static String resolve(DaemonConfig config) throws IOException {
        if (config.adminToken().isPresent()) {
            return config.adminToken().get().value();
        }
        Path file = file(config);
        Files.createDirectories(file.getParent());
        byte[] random = new byte[32];
        new SecureRandom().nextBytes(random);
        String generated = "bda_" + HexFormat.of().formatHex(random);
        try {
            Files.writeString(Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"))),
                    generated + "\n", StandardCharsets.US_ASCII, StandardOpenOption.WRITE);
            LOG.info("generated the admin token into {} (mode 0600); read it from there", file);
            return generated;
        } catch (FileAlreadyExistsException e) {
            String existing = Files.readString(file, StandardCharsets.US_ASCII).strip();
            if (existing.length() < 16) {
                throw new IOException(file + " holds no usable admin token (fewer than 16 characters); delete it to generate a new one");
            }
            return existing;
        }
    }
}
