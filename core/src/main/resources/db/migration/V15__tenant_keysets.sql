-- Every tenant's data keyset, seen by every node sharing the metadata store: the only copy
-- (key files of earlier versions, config/encryption-keys/{tenant}.key, are imported at start-up
-- and then removed). wrapped is the tenant's key document as JSON bytes: the Tink keyset wrapped
-- (AES-256-GCM) by the master key with the tenant ID as associated data, never plaintext, with
-- the tenant's blob marker and the age of its primary key. A NULL wrapped is the tombstone of a
-- shredded keyset: the tenant's purge has not finished. version takes a new random value at
-- every change, so a node compares it to know whether its cached keyset is current (random, not
-- a counter: a tenant purged and created again must not repeat a version a node still caches).
-- No foreign key: the keyset is made before its tenant's row, and its tombstone outlives that row.
CREATE TABLE tenant_keysets (
    tenant_id   VARCHAR(63) PRIMARY KEY,
    wrapped     BYTEA,
    version     BIGINT      NOT NULL,
    updated_at  BIGINT      NOT NULL
);

-- Proof of the master key every node must share: random bytes encrypted (AES-256-GCM) by the
-- master key, written with the first keyset and rewrapped with them. A node whose master key
-- cannot open it has another master key (a node that created its own on first start): it
-- refuses to start, and refuses to make keysets, rather than wrap keys the others cannot open.
CREATE TABLE master_key_check (
    id          INTEGER PRIMARY KEY,
    probe       BYTEA   NOT NULL,
    updated_at  BIGINT  NOT NULL
);
