package dev.builderd.storage.server.crash;

import java.util.HashSet;
import java.util.Optional;
import java.util.Set;

/**
 * What may be stored under one name, given what the client sent and heard back: a set of
 * possible contents, and whether nothing at all is also possible. An acknowledged write leaves
 * exactly its content; a write in flight at a kill adds its content to what was possible before
 * (it may or may not have landed, but never partly); an acknowledged delete leaves nothing.
 */
record Outcomes(Set<Content> contents, boolean mayBeAbsent) {

    static final Outcomes ABSENT = new Outcomes(Set.of(), true);

    Outcomes {
        contents = Set.copyOf(contents);
    }

    static Outcomes exactly(Content content) {
        return new Outcomes(Set.of(content), false);
    }

    /** This, or what {@code other} allows: the outcome of an operation whose answer was lost. */
    Outcomes or(Outcomes other) {
        Set<Content> union = new HashSet<>(contents);
        union.addAll(other.contents);
        return new Outcomes(union, mayBeAbsent || other.mayBeAbsent);
    }

    /** Whether {@code seen} (empty: nothing stored) is one of the possible outcomes. */
    boolean allows(Optional<Content> seen) {
        return seen.map(contents::contains).orElse(mayBeAbsent);
    }

    /** The outcome once it was observed: certain again. */
    static Outcomes observed(Optional<Content> seen) {
        return seen.map(Outcomes::exactly).orElse(ABSENT);
    }
}
