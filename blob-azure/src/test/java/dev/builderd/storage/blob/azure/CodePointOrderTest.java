package dev.builderd.storage.blob.azure;

import static org.assertj.core.api.Assertions.assertThat;

import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobKey;
import java.security.SecureRandom;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Random;
import java.util.TreeSet;
import org.junit.jupiter.api.RepeatedTest;

class CodePointOrderTest {

    private static final String[] PIECES = {"a", "b", "/", "\uE000", "\uFFFD", "\uD83D\uDE00", "\uD83D\uDCE6", "\uD800\uDC00", "z"};

    @RepeatedTest(20)
    void reordersUtf16OrderAndKeepsCodePointOrder() {
        long seed = Long.getLong("builderd.test.seed", new SecureRandom().nextLong());
        Random random = new Random(seed);
        TreeSet<String> names = new TreeSet<>();
        while (names.size() < 200) {
            StringBuilder name = new StringBuilder("k");
            int length = 1 + random.nextInt(5);
            for (int i = 0; i < length; i++) {
                name.append(PIECES[random.nextInt(PIECES.length)]);
            }
            if (BlobKey.isValid(name.toString())) {
                names.add(name.toString());
            }
        }
        List<String> codePointOrder = names.stream().sorted(BlobKey::compareKeys).toList();
        List<String> utf16Order = names.stream().sorted(Comparator.naturalOrder()).toList();

        assertThat(reorder(utf16Order)).as("from UTF-16 order, seed " + seed).containsExactlyElementsOf(codePointOrder);
        assertThat(reorder(codePointOrder)).as("from code point order, seed " + seed).containsExactlyElementsOf(codePointOrder);
    }

    private static List<String> reorder(List<String> names) {
        Iterator<BlobInfo> source = names.stream().map(n -> new BlobInfo(BlobKey.of(n), 0, Instant.EPOCH)).iterator();
        List<String> out = new ArrayList<>();
        new CodePointOrder(source).forEachRemaining(info -> out.add(info.key().value()));
        return out;
    }
}
