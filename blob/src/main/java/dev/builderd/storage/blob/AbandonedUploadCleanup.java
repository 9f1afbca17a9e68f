package dev.builderd.storage.blob;

import java.io.IOException;
import java.time.Instant;

/**
 * An optional capability of stores whose uploads can outlive the process that started them, such
 * as S3 multipart uploads: a process killed mid-upload, or a backend that died before an abort
 * reached it, leaves parts that cost storage but belong to no blob.
 */
public interface AbandonedUploadCleanup {

    /**
     * Aborts every unfinished upload of this store that started before {@code startedBefore}
     * (pick a cutoff older than the longest upload still running), and returns how many it aborted.
     */
    int abortUploadsStartedBefore(Instant startedBefore) throws IOException;
}
