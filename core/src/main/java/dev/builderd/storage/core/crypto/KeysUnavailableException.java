package dev.builderd.storage.core.crypto;

import dev.builderd.storage.core.model.TenantId;
import java.io.IOException;

/**
 * A tenant whose data is encrypted has no usable keys: its keyset file is missing, damaged,
 * wrapped by another master key, or was destroyed when the tenant was purged. Nothing of the
 * tenant is read or written (never as plaintext) until the keyset is restored.
 */
public final class KeysUnavailableException extends IOException {

    private final TenantId tenant;

    public KeysUnavailableException(TenantId tenant, String reason) {
        super("the encryption keys of tenant " + tenant + " are unavailable: " + reason);
        this.tenant = tenant;
    }

    public TenantId tenant() {
        return tenant;
    }
}
