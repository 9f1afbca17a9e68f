package dev.builderd.storage.server;

import com.cronutils.model.Cron;
import com.cronutils.model.time.ExecutionTime;
import dev.builderd.storage.core.BackupService;
import dev.builderd.storage.core.error.ConflictException;
import dev.builderd.storage.core.error.StorageException;
import dev.builderd.storage.core.metadata.BackupRows;
import dev.builderd.storage.core.model.Principal;
import java.time.Clock;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code UNKEY_BUILDERD_BACKUP_SCHEDULE}: at each time the cron expression names (in UTC), a
 * backup of every tenant, then a prune by the configured retention, on the one node of the
 * cluster that holds the schedule's job lease. A time that finds another backup job running (a
 * manual one) is skipped, with a warning; the next one comes as scheduled.
 */
final class BackupSchedule implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(BackupSchedule.class);
    private static final Principal SCHEDULER = new Principal.Admin();
    private static final Duration POLL = Duration.ofSeconds(2);

    private final BackupService backups;
    private final java.util.function.BooleanSupplier mayRun;
    private final ExecutionTime times;
    private final Clock clock;
    private final ScheduledExecutorService timer =
            Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform().name("backup-schedule").daemon().factory());

    /** @param mayRun whether this node runs the scheduled backups now (it holds their cluster-wide job lease) */
    BackupSchedule(BackupService backups, Cron schedule, java.util.function.BooleanSupplier mayRun, Clock clock) {
        this.backups = backups;
        this.mayRun = mayRun;
        this.times = ExecutionTime.forCron(schedule);
        this.clock = clock;
    }

    /** Schedules the first run. */
    void start() {
        scheduleNext();
    }

    private void scheduleNext() {
        ZonedDateTime now = ZonedDateTime.now(clock.withZone(java.time.ZoneOffset.UTC));
        Optional<ZonedDateTime> next = times.nextExecution(now);
        if (next.isEmpty()) {
            LOG.warn("the backup schedule names no time after {}: no more scheduled backups", now);
            return;
        }
        LOG.info("next scheduled backup at {}", next.get());
        timer.schedule(this::runOnce, Math.max(0, Duration.between(now, next.get()).toMillis()), TimeUnit.MILLISECONDS);
    }

    private void runOnce() {
        if (!mayRun.getAsBoolean()) {
            LOG.debug("the scheduled backup runs on the node that holds its job lease, not this one");
            scheduleNext();
            return;
        }
        try {
            if (await(backups.startBackup(SCHEDULER, Optional.empty()))) {
                await(backups.startPrune(SCHEDULER, backups.retention()));
            }
        } catch (ConflictException busy) {
            LOG.warn("scheduled backup skipped: {}", busy.getMessage());
        } catch (StorageException e) {
            LOG.error("scheduled backup failed to start: {}", e.getMessage(), e);
        } catch (InterruptedException stopping) {
            Thread.currentThread().interrupt();
            return;
        }
        scheduleNext();
    }

    /** Waits for a job to end; whether it finished well. */
    private boolean await(BackupRows.Run run) throws InterruptedException {
        BackupRows.Run state = run;
        while (state.state().equals(BackupRows.RUNNING)) {
            Thread.sleep(POLL.toMillis());
            state = backups.run(SCHEDULER, run.runId());
        }
        return state.state().equals(BackupRows.FINISHED);
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}
