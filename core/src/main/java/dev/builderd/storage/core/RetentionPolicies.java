package dev.builderd.storage.core;

import dev.builderd.storage.core.crypto.KeyFiles;
import dev.builderd.storage.core.error.InvalidInputException;
import dev.builderd.storage.core.model.TenantId;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * The tenants' retention policies, one JSON file each at
 * {@code config/retention-policies/{tenant}.json} under the data root. The file is the truth: an
 * operator may edit it by hand, and it is read again on every use (a broken file is reported,
 * never taken for the defaults). Files are written 0600 and replaced atomically.
 */
final class RetentionPolicies {

    private final Path directory;

    RetentionPolicies(Layout layout) {
        this.directory = layout.dataRoot().resolve("config").resolve("retention-policies");
    }

    /** The file of a tenant's policy (which may not exist). */
    Path file(TenantId tenant) {
        return directory.resolve(tenant.value() + ".json");
    }

    /** The file's name as errors show it: relative to the data root, which tenants need not learn. */
    static String describe(TenantId tenant) {
        return "retention policy file config/retention-policies/" + tenant.value() + ".json";
    }

    /**
     * The tenant's own values; none when it has no file.
     *
     * @throws InvalidInputException naming the file and the field when the file is invalid
     */
    RetentionPolicy.Overrides read(TenantId tenant) {
        Path file = file(tenant);
        byte[] json;
        try {
            if (Files.isSymbolicLink(file)) {
                throw new InvalidInputException(describe(tenant) + " is a symbolic link, which is never followed");
            }
            json = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            return RetentionPolicy.Overrides.NONE;
        } catch (IOException e) {
            throw IoErrors.translate(e, "reading the " + describe(tenant));
        }
        return RetentionPolicy.Overrides.parse(json, describe(tenant));
    }

    /** Replaces the tenant's file with {@code overrides}; no overrides removes it. */
    void write(TenantId tenant, RetentionPolicy.Overrides overrides) {
        try {
            if (overrides.values().isEmpty()) {
                KeyFiles.delete(file(tenant));
            } else {
                KeyFiles.write(file(tenant), overrides.toJsonBytes());
            }
        } catch (IOException e) {
            throw IoErrors.translate(e, "writing the " + describe(tenant));
        }
    }

    /** Removes the tenant's file, so that a tenant created later under the same name starts from its tier's policy. */
    void remove(TenantId tenant) {
        write(tenant, RetentionPolicy.Overrides.NONE);
    }

}
