package dev.builderd.storage.blob;

/** What {@link BlobStore#put} does when the key already exists. */
public enum WriteMode {
    /** Replace the existing blob atomically; readers see the old or the new blob, never a mix. */
    OVERWRITE,
    /** Fail with {@link BlobAlreadyExistsException}; of concurrent writers exactly one wins. */
    CREATE_NEW
}
