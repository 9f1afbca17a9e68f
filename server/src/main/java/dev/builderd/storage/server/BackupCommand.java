package dev.builderd.storage.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;
import java.net.http.HttpResponse;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.DelegatingProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code builderd backup ...}: backups of a running daemon, through its admin API on this host. */
@Command(name = "backup", mixinStandardHelpOptions = true,
        description = "Back tenants up, list snapshots, verify them, restore a tenant, a build or an artifact, prune old snapshots.",
        subcommands = {BackupCommand.Create.class, BackupCommand.ListSnapshots.class, BackupCommand.Verify.class,
                BackupCommand.Restore.class, BackupCommand.Prune.class, BackupCommand.Jobs.class})
final class BackupCommand {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String BASE = "/v1/admin/backups";

    @Mixin
    final AdminClient client;

    @Spec
    CommandSpec spec;

    BackupCommand() {
        this(System.getenv());
    }

    /** With {@code environment} in place of the process's (for tests). */
    BackupCommand(java.util.Map<String, String> environment) {
        this.client = new AdminClient(environment);
    }

    /** Options every job-starting command shares. */
    static final class Waiting {
        @Option(names = "--no-wait", description = "return once the job started instead of following it with a progress bar")
        boolean noWait;
    }

    /**
     * Starts a job with {@code body} at {@code path}; unless told not to, follows it with a progress
     * bar (objects done of the total, bytes read) and prints its result. Exit code 0 when the job
     * finished well, 1 when it failed or could not start.
     */
    int startAndFollow(String path, ObjectNode body, Waiting waiting, String task) throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        HttpResponse<String> started = client.send("POST", path, JSON.writeValueAsString(body));
        if (started.statusCode() != 202 || waiting.noWait) {
            return client.print(started, out);
        }
        String job = BASE + "/jobs/" + AdminClient.json(started.body()).path("id").asText();
        JsonNode state;
        try (ProgressBar bar = new ProgressBarBuilder().setTaskName(task).setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(500)
                .setConsumer(new DelegatingProgressBarConsumer(line -> {
                    out.print('\r' + line);
                    out.flush();
                })).setUnit(" objects", 1).build()) {
            while (true) {
                state = AdminClient.json(client.send("GET", job, null).body());
                bar.maxHint(state.path("objects_total").asLong());
                bar.stepTo(state.path("objects_done").asLong());
                bar.setExtraMessage(mebibytes(state.path("bytes_done").asLong()) + " read, "
                        + mebibytes(state.path("bytes_copied").asLong()) + " copied");
                if (!"running".equals(state.path("state").asText())) {
                    break;
                }
                Thread.sleep(500);
            }
        }
        out.println();
        out.println(JSON.writerWithDefaultPrettyPrinter().writeValueAsString(state));
        out.flush();
        return "finished".equals(state.path("state").asText()) ? 0 : 1;
    }

    private static String mebibytes(long bytes) {
        return String.format("%.1f MiB", bytes / 1048576.0);
    }

    @Command(name = "create", mixinStandardHelpOptions = true,
            description = "Take a snapshot of one tenant, or of every tenant (incremental: unchanged data is not copied again).")
    static final class Create implements Callable<Integer> {
        @ParentCommand
        BackupCommand backup;

        @Option(names = "--tenant", description = "the tenant to back up (default: every tenant)")
        String tenant;

        @ArgGroup(exclusive = false)
        Waiting waiting = new Waiting();

        @Override
        public Integer call() throws Exception {
            ObjectNode body = JSON.createObjectNode();
            putIfSet(body, "tenant", tenant);
            return backup.startAndFollow(BASE, body, waiting, "backup");
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "List the snapshots in the backup target, oldest first.")
    static final class ListSnapshots implements Callable<Integer> {
        @ParentCommand
        BackupCommand backup;

        @Option(names = "--tenant", description = "only this tenant's snapshots")
        String tenant;

        @Override
        public Integer call() throws Exception {
            return backup.client.call("GET", BASE + "/snapshots" + (tenant == null ? "" : "?tenant="
                    + java.net.URLEncoder.encode(tenant, java.nio.charset.StandardCharsets.UTF_8)), null, backup.spec.commandLine().getOut());
        }
    }

    @Command(name = "verify", mixinStandardHelpOptions = true,
            description = "Re-read snapshots and check every object's SHA-256; damaged or missing objects are named. Exit 1 if any.")
    static final class Verify implements Callable<Integer> {
        @ParentCommand
        BackupCommand backup;

        @Option(names = "--tenant", description = "only this tenant's snapshots")
        String tenant;

        @Option(names = "--snapshot", description = "only this snapshot (with --tenant)")
        String snapshot;

        @ArgGroup(exclusive = false)
        Waiting waiting = new Waiting();

        @Override
        public Integer call() throws Exception {
            ObjectNode body = JSON.createObjectNode();
            putIfSet(body, "tenant", tenant);
            putIfSet(body, "snapshot", snapshot);
            return backup.startAndFollow(BASE + "/verify", body, waiting, "verify");
        }
    }

    @Command(name = "restore", mixinStandardHelpOptions = true,
            description = "Restore a tenant, one build or one artifact to a snapshot or a time, in place or into another tenant;"
                    + " the restored tenant refuses writes (503) while it runs, every other tenant is served as usual.")
    static final class Restore implements Callable<Integer> {
        @ParentCommand
        BackupCommand backup;

        @Option(names = "--tenant", required = true, description = "the tenant whose snapshot to restore")
        String tenant;

        /** Which snapshot: at most one of these; neither means the newest. */
        static final class When {
            @Option(names = "--snapshot", description = "the snapshot's ID (see backup list)")
            String snapshot;

            @Option(names = "--at", description = "the newest snapshot taken at or before this UTC time, such as 2026-11-26T03:00:00Z")
            String at;
        }

        @ArgGroup(exclusive = true)
        When when = new When();

        @Option(names = "--build", description = "restore only this build")
        String build;

        @Option(names = "--artifact", description = "restore only this artifact of --build")
        String artifact;

        @Option(names = "--into", description = "restore into this tenant instead (created like the snapshot's if it does not exist)")
        String into;

        @ArgGroup(exclusive = false)
        Waiting waiting = new Waiting();

        @Override
        public Integer call() throws Exception {
            ObjectNode body = JSON.createObjectNode().put("tenant", tenant);
            putIfSet(body, "snapshot", when.snapshot);
            putIfSet(body, "at", when.at);
            putIfSet(body, "build", build);
            putIfSet(body, "artifact", artifact);
            putIfSet(body, "into", into);
            return backup.startAndFollow(BASE + "/restore", body, waiting, "restore");
        }
    }

    @Command(name = "prune", mixinStandardHelpOptions = true,
            description = "Delete snapshots beyond the retention policy, then the content no snapshot uses"
                    + " (defaults: the daemon's UNKEY_BUILDERD_BACKUP_KEEP_* settings).")
    static final class Prune implements Callable<Integer> {
        @ParentCommand
        BackupCommand backup;

        @Option(names = "--keep-last", description = "keep each existing tenant's newest N snapshots")
        Integer keepLast;

        @Option(names = "--keep-daily", description = "keep the newest snapshot of each of the last N days")
        Integer keepDaily;

        @Option(names = "--keep-weekly", description = "keep the newest snapshot of each of the last N weeks")
        Integer keepWeekly;

        @Option(names = "--keep-monthly", description = "keep the newest snapshot of each of the last N months")
        Integer keepMonthly;

        @ArgGroup(exclusive = false)
        Waiting waiting = new Waiting();

        @Override
        public Integer call() throws Exception {
            ObjectNode body = JSON.createObjectNode();
            putIfSet(body, "keep_last", keepLast);
            putIfSet(body, "keep_daily", keepDaily);
            putIfSet(body, "keep_weekly", keepWeekly);
            putIfSet(body, "keep_monthly", keepMonthly);
            return backup.startAndFollow(BASE + "/prune", body, waiting, "prune");
        }
    }

    @Command(name = "jobs", mixinStandardHelpOptions = true, description = "Show the latest backup jobs, newest first.")
    static final class Jobs implements Callable<Integer> {
        @ParentCommand
        BackupCommand backup;

        @Override
        public Integer call() throws Exception {
            return backup.client.call("GET", BASE + "/jobs", null, backup.spec.commandLine().getOut());
        }
    }

    private static void putIfSet(ObjectNode body, String field, String value) {
        if (value != null) {
            body.put(field, value);
        }
    }

    private static void putIfSet(ObjectNode body, String field, Integer value) {
        if (value != null) {
            body.put(field, value);
        }
    }
}
