package dev.builderd.storage.core.model;

/**
 * A tenant's ID: {@code [a-z0-9][a-z0-9-]{0,62}}, except {@code master} (the master key's file
 * sits beside the tenants' key files). Valid by construction.
 */
public record TenantId(String value) {

    public TenantId {
        Names.require(Names.ID, value, "tenant id", "use 1 to 63 lowercase letters, digits or '-', not starting with '-'");
        if (value.equals("master")) {
            throw new dev.builderd.storage.core.error.InvalidInputException("tenant id 'master' is reserved (the master key file is master.key); choose another");
        }
    }

    public static TenantId of(String value) {
        return new TenantId(value);
    }

    @Override
    public String toString() {
        return value;
    }
}
