package dev.builderd.storage.server.crash;

import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The clients' view of what the daemon holds, built only from what they sent and the answers
 * they received in full. Each name and each build is written by one worker at a time, so the
 * order of its operations is the order they were sent; an operation whose answer was lost in a
 * kill leaves both its before and its after possible, until the verification after the restart
 * observes which one it was ({@link #settle}).
 */
final class ClientModel {

    /** What the client learned about an operation. */
    enum Answer {
        /** A 2xx answer, received whole: the operation took effect and must stay so. */
        ACKNOWLEDGED,
        /** An error answer, received whole: the operation changed nothing. */
        REFUSED,
        /** No whole answer (the daemon was killed): either outcome, never a part of one. */
        LOST
    }

    private final Map<Target, Outcomes> targets = new ConcurrentHashMap<>();
    private final Map<BuildKey, Set<BuildKey.State>> builds = new ConcurrentHashMap<>();
    private final java.util.Queue<String> serverErrors = new java.util.concurrent.ConcurrentLinkedQueue<>();

    /** Notes a 5xx answer to a workload operation: the daemon failed while it was up. */
    void serverError(String what) {
        serverErrors.add(what);
    }

    /** The 5xx answers noted since the last call. */
    List<String> takeServerErrors() {
        List<String> taken = new java.util.ArrayList<>();
        for (String error; (error = serverErrors.poll()) != null; ) {
            taken.add(error);
        }
        return taken;
    }

    /** Records a write or delete of {@code target} whose effect, if it had one, is {@code after}. */
    void wrote(Target target, Outcomes after, Answer answer) {
        switch (answer) {
            case ACKNOWLEDGED -> targets.put(target, after);
            case LOST -> targets.merge(target, Outcomes.ABSENT.or(after), (before, ignored) -> before.or(after));
            case REFUSED -> { }
        }
    }

    /** Records a change of a build's state (created, completed) whose effect, if it had one, is {@code after}. */
    void changed(BuildKey build, BuildKey.State after, Answer answer) {
        switch (answer) {
            case ACKNOWLEDGED -> builds.put(build, EnumSet.of(after));
            case LOST -> builds.compute(build, (key, before) -> {
                Set<BuildKey.State> possible = EnumSet.of(after);
                possible.addAll(before == null ? EnumSet.of(BuildKey.State.ABSENT) : before);
                return possible;
            });
            case REFUSED -> { }
        }
    }

    /** Records a delete of a build: it and its artifacts and logs go. */
    void deleted(BuildKey build, Answer answer) {
        changed(build, BuildKey.State.ABSENT, answer);
        if (answer != Answer.REFUSED) {
            targets.keySet().stream().filter(target -> target.kind() != Target.Kind.CACHE && target.build().equals(build))
                    .forEach(target -> wrote(target, Outcomes.ABSENT, answer));
        }
    }

    Outcomes expected(Target target) {
        return targets.getOrDefault(target, Outcomes.ABSENT);
    }

    Set<BuildKey.State> expected(BuildKey build) {
        return builds.getOrDefault(build, EnumSet.of(BuildKey.State.ABSENT));
    }

    /** Whether the build is surely active (so a worker may write to it). */
    boolean isActive(BuildKey build) {
        return expected(build).equals(EnumSet.of(BuildKey.State.ACTIVE));
    }

    /** Everything the workload ever wrote for the tenant. */
    List<Target> targetsOf(String tenant) {
        return targets.keySet().stream().filter(target -> target.tenant().equals(tenant)).sorted(
                java.util.Comparator.comparing(Target::toString)).toList();
    }

    /** Every build the workload ever created (or tried to) for the tenant. */
    List<BuildKey> buildsOf(String tenant) {
        return builds.keySet().stream().filter(build -> build.tenant().equals(tenant)).sorted(
                java.util.Comparator.comparing(BuildKey::build)).toList();
    }

    /** After a verification: the name holds what was observed, for certain. */
    void settle(Target target, Optional<Content> seen) {
        if (seen.isPresent()) {
            targets.put(target, Outcomes.exactly(seen.get()));
        } else {
            // Absent is what an unknown name expects: forgetting it keeps the checks of a long run short.
            targets.remove(target);
        }
    }

    /** After a verification: the build is in the state observed, for certain. */
    void settle(BuildKey build, BuildKey.State seen) {
        if (seen == BuildKey.State.ABSENT) {
            builds.remove(build);
        } else {
            builds.put(build, EnumSet.of(seen));
        }
    }
}
