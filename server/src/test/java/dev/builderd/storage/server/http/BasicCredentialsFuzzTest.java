package dev.builderd.storage.server.http;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import java.nio.charset.StandardCharsets;
import java.util.Base64;

/**
 * Fuzzes the parsing of HTTP Basic credentials ({@link HttpApi#basicPassword}): any text either
 * gives a password or is refused as a 401 ({@link HttpApi.Unauthenticated}), never another
 * exception; and the password of well-formed credentials, in the standard or the URL-safe
 * alphabet, comes back exactly.
 */
final class BasicCredentialsFuzzTest {

    @FuzzTest(maxDuration = "1m")
    void anyCredentialsAreReadOrRefusedAs401(FuzzedDataProvider data) {
        String credentials = data.consumeRemainingAsString();
        try {
            assertThat(HttpApi.basicPassword(credentials)).isNotNull();
        } catch (HttpApi.Unauthenticated refused) {
            assertThat(refused.basicAccepted).isTrue();
            assertThat(refused.getMessage()).isEqualTo("the Basic credentials are not base64 of user:password");
        }
    }

    @FuzzTest(maxDuration = "1m")
    void wellFormedCredentialsGiveTheirPassword(FuzzedDataProvider data) {
        String user = data.consumeString(40).replace(":", "");
        String password = data.consumeRemainingAsString();
        byte[] userInfo = (user + ":" + password).getBytes(StandardCharsets.UTF_8);
        String expected = new String(password.getBytes(StandardCharsets.UTF_8), StandardCharsets.UTF_8);
        assertThat(HttpApi.basicPassword(Base64.getEncoder().encodeToString(userInfo))).isEqualTo(expected);
        assertThat(HttpApi.basicPassword(Base64.getUrlEncoder().withoutPadding().encodeToString(userInfo))).isEqualTo(expected);
    }
}
