package dev.builderd.storage.core.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.builderd.storage.core.error.InvalidInputException;
import java.nio.file.Path;
import java.util.function.Function;
import java.util.regex.Pattern;

/**
 * Fuzzes the identifiers that arrive in request paths and bodies: a value is accepted exactly
 * when it matches the regex docs/api.md documents (restated here, not taken from the code), an
 * accepted value is one plain path segment, and a refused one fails with {@link
 * InvalidInputException} only, whose message shows no raw control character.
 */
final class IdsFuzzTest {

    private static final Pattern DOCUMENTED_ID = Pattern.compile("[a-z0-9][a-z0-9-]{0,62}");
    private static final Pattern DOCUMENTED_NAME = Pattern.compile("[A-Za-z0-9._-]{1,128}");
    private static final Path ROOT = Path.of("/srv/builderd/data/tenants");

    @FuzzTest(maxDuration = "1m")
    void tenantId(FuzzedDataProvider data) {
        String value = data.consumeRemainingAsString();
        assertParsedIff(value, TenantId::of, DOCUMENTED_ID.matcher(value).matches() && !value.equals("master"));
    }

    @FuzzTest(maxDuration = "1m")
    void buildId(FuzzedDataProvider data) {
        String value = data.consumeRemainingAsString();
        assertParsedIff(value, BuildId::of, DOCUMENTED_ID.matcher(value).matches());
    }

    /** Artifact and log names. */
    @FuzzTest(maxDuration = "1m")
    void fileName(FuzzedDataProvider data) {
        String value = data.consumeRemainingAsString();
        boolean documented = DOCUMENTED_NAME.matcher(value).matches() && !value.startsWith(".");
        assertParsedIff(value, FileName::of, documented);
        assertThat(FileName.isValid(value)).isEqualTo(documented);
    }

    private static void assertParsedIff(String value, Function<String, Object> parse, boolean documented) {
        Throwable thrown = catchThrowable(() -> parse.apply(value));
        if (documented) {
            assertThat(thrown).as("'%s' is valid as documented", value).isNull();
            Path resolved = ROOT.resolve(value);
            assertThat(resolved.normalize()).isEqualTo(resolved);
            assertThat(resolved.getParent()).isEqualTo(ROOT);
        } else {
            assertThat(thrown).as("'%s' is not valid as documented", value).isInstanceOf(InvalidInputException.class);
            assertThat(thrown.getMessage()).isNotBlank().doesNotContainPattern("\\p{Cntrl}");
        }
    }
}
