package dev.builderd.storage.blob.s3;

import java.util.Set;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * s3proxy (through jclouds) sorts and compares keys as Java strings, i.e. in UTF-16 order, where
 * AWS S3, MinIO and Ceph RGW use UTF-8 byte (code point) order: a key with a character above
 * U+FFFF sorts before one with U+E000..U+FFFF there. The store passes listings through in the
 * server's order, so against s3proxy the contract cases that mix those characters cannot pass.
 * This condition disables exactly those (the whole listing of the contract's ordered keys, and the
 * {@code x/...} selections); {@link S3ProxyContractTest#s3proxyListsInUtf16Order} pins the
 * deviation so that a fixed s3proxy is noticed.
 */
final class S3ProxyListOrderDeviation implements ExecutionCondition {

    private static final Set<String> WHOLE_TESTS = Set.of("listIsInCodePointOrder");

    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        String method = context.getTestMethod().map(m -> m.getName()).orElse("");
        // Display names quote string arguments in some JUnit versions; compare without quotes.
        String name = context.getDisplayName().replace("\"", "").replaceFirst("^\\[\\d+\\] ", "");
        boolean invocation = context.getUniqueId().contains("test-template-invocation");
        if (WHOLE_TESTS.contains(method)
                || (invocation && method.equals("listSelectsByPrefixAndStartAfter")
                        && (name.startsWith("prefix  after") || name.startsWith("prefix x/")))) {
            return ConditionEvaluationResult.disabled("s3proxy lists in UTF-16 order, not code point order (see S3ProxyListOrderDeviation)");
        }
        return ConditionEvaluationResult.enabled("not affected by s3proxy's list order");
    }
}
