package dev.builderd.storage.server.http;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.builderd.storage.core.error.InvalidInputException;
import java.util.List;
import java.util.stream.Stream;

/**
 * Fuzzes {@link Json#read} over every request body record of the API (all records declared in
 * {@link HttpApi} and {@link BackupRoutes}, found by reflection so that a new one is fuzzed too):
 * any bytes give a record or an {@link InvalidInputException} (a 400), never another exception.
 */
final class JsonBodiesFuzzTest {

    private static final List<Class<?>> BODIES = Stream.of(HttpApi.class, BackupRoutes.class)
            .flatMap(owner -> Stream.of(owner.getDeclaredClasses()))
            .filter(Class::isRecord)
            .sorted(java.util.Comparator.comparing(Class::getName))
            .toList();

    @FuzzTest(maxDuration = "2m")
    void anyBodyIsParsedOrRefusedAs400(FuzzedDataProvider data) {
        Class<?> type = data.pickValue(BODIES);
        byte[] body = data.consumeRemainingAsBytes();
        try {
            assertThat(Json.read(body, type, null)).isInstanceOf(type);
        } catch (InvalidInputException refused) {
            assertThat(refused.getMessage()).isNotBlank();
        }
    }

    @org.junit.jupiter.api.Test
    void everyRequestBodyRecordIsFuzzed() {
        assertThat(BODIES).extracting(Class::getSimpleName).contains("TenantBody", "LimitsBody", "BuildBody", "CompleteBody",
                "ImportBody", "WarmBody", "PinsBody", "RestoreBody", "PruneBody");
    }
}
