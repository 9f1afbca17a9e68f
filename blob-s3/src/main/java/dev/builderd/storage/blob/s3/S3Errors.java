package dev.builderd.storage.blob.s3;

import dev.builderd.storage.blob.BlobKey;
import java.io.IOException;
import java.util.Set;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.core.exception.SdkServiceException;
import software.amazon.awssdk.services.s3.model.NoSuchBucketException;
import software.amazon.awssdk.services.s3.model.S3Exception;

/** Turns SDK exceptions into {@link IOException}s a person can act on; never shows the secret key. */
final class S3Errors {

    private static final Set<String> CREDENTIAL_CODES = Set.of(
            "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken",
            "AuthorizationHeaderMalformed", "InvalidSecurity", "AuthorizationQueryParametersError");

    private final S3Settings settings;

    S3Errors(S3Settings settings) {
        this.settings = settings;
    }

    /** "bucket 'b' at http://host:port". */
    String where() {
        return "bucket '" + settings.bucket() + "' at " + settings.describeEndpoint();
    }

    /** The HTTP status of a service error, or 0 for a client-side failure. */
    static int status(SdkException e) {
        return e instanceof SdkServiceException service ? service.statusCode() : 0;
    }

    static String code(SdkException e) {
        if (e instanceof S3Exception s3 && s3.awsErrorDetails() != null) {
            return s3.awsErrorDetails().errorCode();
        }
        return null;
    }

    static boolean isNoSuchBucket(SdkException e) {
        return e instanceof NoSuchBucketException || "NoSuchBucket".equals(code(e));
    }

    /**
     * {@code what} is a verb phrase: with a key, "put", "read", "start the multipart upload of"
     * (followed by "KEY in bucket ..."); without one, "reach", "list the prefix 'p' in".
     */
    IOException translate(String what, BlobKey key, SdkException e) {
        String action = "cannot " + what + (key == null ? "" : " " + key + " in") + " " + where();
        String message = scrub(e.getMessage());
        if (e instanceof SdkClientException) {
            for (Throwable t = e; t != null; t = t.getCause()) {
                if (t instanceof javax.net.ssl.SSLException) {
                    return new IOException(action + ": the TLS handshake failed; if the server's certificate comes from a"
                            + " private CA, configure that CA as the storage TLS CA file (" + message + ")", e);
                }
            }
            return new IOException(action + ": the S3 endpoint did not answer properly (" + message + ")", e);
        }
        int status = status(e);
        String code = code(e);
        if (isNoSuchBucket(e) || (key == null && status == 404)) {
            return new IOException(action + ": the bucket does not exist (HTTP " + status + ")", e);
        }
        if (status == 403 || status == 401 || (code != null && CREDENTIAL_CODES.contains(code))) {
            return new IOException(action + ": access denied for access key id '" + settings.accessKeyId()
                    + "' (HTTP " + status + (code == null ? "" : ", " + code) + "); check the access key id, the secret key"
                    + " and the bucket's permissions", e);
        }
        return new IOException(action + ": HTTP " + status + (code == null ? "" : " " + code) + ": " + message, e);
    }

    /** The SDK's message, with the secret removed should a server ever echo it. */
    private String scrub(String message) {
        if (message == null) {
            return "";
        }
        return message.replace(settings.secretAccessKey(), "***");
    }
}
