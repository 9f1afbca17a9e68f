package dev.builderd.storage.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.builderd.storage.core.error.ConflictException;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class KeyedLocksTest {

    private final KeyedLocks<String> locks = new KeyedLocks<>();

    @Test
    void aHeldKeyMakesOthersWaitAndTimeOutWithTheGivenMessage() throws Exception {
        try (KeyedLocks.Held held = locks.lock("a")) {
            CompletableFuture<Void> other = CompletableFuture.runAsync(() -> locks.lock("a", Duration.ofMillis(50), "a is busy").close());
            assertThatThrownBy(() -> other.get(10, TimeUnit.SECONDS)).hasCauseInstanceOf(ConflictException.class)
                    .hasMessageContaining("a is busy");
        }
    }

    @Test
    void differentKeysDoNotBlockEachOther() throws Exception {
        try (KeyedLocks.Held held = locks.lock("a")) {
            CompletableFuture<Boolean> other = CompletableFuture.supplyAsync(() -> {
                try (KeyedLocks.Held b = locks.lock("b", Duration.ofSeconds(10), "b is busy")) {
                    return true;
                }
            });
            assertThat(other.get(10, TimeUnit.SECONDS)).isTrue();
        }
    }

    @Test
    void aReleasedKeyCanBeTakenAgain() {
        locks.lock("a").close();
        try (KeyedLocks.Held again = locks.lock("a", Duration.ZERO, "a is busy")) {
            assertThat(again).isNotNull();
        }
    }
}
