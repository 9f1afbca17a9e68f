#!/usr/bin/env bash
# Benchmark of backups (issue 9; dev.builderd.storage.bench.BackupBench), embedded, in one run:
#
#   bench/run-backup.sh
#
# Builds the bench module (and what it needs), then, with everything in one temp directory on a
# real disk (not tmpfs):
#   1. one plaintext tenant gets BENCH_BACKUP_FILES artifacts totalling BENCH_BACKUP_BYTES
#      (seeded random content, sizes skewed: 90% up to 16 KiB, 9% up to 256 KiB, 1% of 1-8 MiB,
#      scaled to the total) in completed builds of BENCH_BACKUP_FILES_PER_BUILD, uploaded through
#      artifacts().upload into a FileBlobStore data root with SQLite metadata (not timed);
#   2. full backups: builderd's (startBackup until the job ends) into a FileBlobStore directory,
#      `rsync -a` and `restic backup` of the builds directory builderd stored
#      (tenants/bench/builds/: the artifacts under */rootfs/), all targets on the same disk;
#   3. the change: 1% of the builds deleted, as many new builds with as many new files uploaded;
#   4. incremental backups: builderd's, `rsync -a --link-dest=../full` into a new directory,
#      restic's second `backup` (parent snapshot found by host and path);
#   5. the same three again with nothing changed (rsync: --link-dest=../incr): the cost of the scan;
#   6. a restore of the largest unchanged build from builderd's incremental snapshot into another
#      tenant (timed from startRestore until the job ends; the target is under 2 s).
# Every timed step starts with an empty page cache when run as root (sync; echo 3 >
# /proc/sys/vm/drop_caches), warm otherwise; the table says which. Prints the table (a markdown
# block for docs/performance.md); at the default size (the documented benchmark) it also writes
# the "Backups" section of docs/performance.md (between <!-- backup-bench:begin --> and
# <!-- backup-bench:end -->). Raw output stays in bench/results/backup-<timestamp>/ (git-ignored);
# the temp directory is removed on exit.
#
# Knobs (environment), for quick trial runs; the defaults are the documented benchmark:
#   BENCH_BACKUP_FILES=100000         artifacts in the tenant
#   BENCH_BACKUP_BYTES=5G             their total size (suffix K, M, G: binary units)
#   BENCH_BACKUP_FILES_PER_BUILD=100  artifacts per build
#   BENCH_BACKUP_CHANGE_PERCENT=1     share of the builds (and so of the files) replaced by the change
#   BENCH_BACKUP_SEED=20261126        seed of the sizes and the content
#   BENCH_BACKUP_DROP_CACHES=1        0: keep the page cache (every step warm)
#   BENCH_JAVA_OPTS="-Xmx1g"          the benchmark JVM's options (besides --enable-native-access and ErrorFile)
#   BENCH_WORK_DIR=/var/tmp           where the temp directory goes (must not be tmpfs; needs about 4.5x BENCH_BACKUP_BYTES)
#   BENCH_NO_DOC=1                    do not rewrite docs/performance.md even at the default size
# A quick trial: BENCH_BACKUP_FILES=5000 BENCH_BACKUP_BYTES=256M bench/run-backup.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work_parent=${BENCH_WORK_DIR:-/var/tmp}
java_opts=${BENCH_JAVA_OPTS:--Xmx1g}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
results="$root/bench/results/backup-$stamp"
mkdir -p "$results"
log_file="$results/run.log"
# shellcheck disable=SC2034   # read by bench/lib/harness.sh
bench_name="bench/run-backup.sh"
# say, die, make_work_dir (with cleanup on exit), check_idle, machine_rows, replace_doc_section,
# build_bench_class_path, run_bench_main
# shellcheck source=bench/lib/harness.sh
# shellcheck disable=SC1091
source "$root/bench/lib/harness.sh"
# builderd_apt_install: installs Debian packages as root, else says what to install
# shellcheck source=bin/lib/test-servers.sh
# shellcheck disable=SC1091
source "$root/bin/lib/test-servers.sh"
# shellcheck source=bin/lib/jdk.sh
# shellcheck disable=SC1091
source "$root/bin/lib/jdk.sh"   # exports JAVA_HOME of a JDK >= 21 (exits with a message if none)

missing=()
for tool in rsync restic; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
  say "installing: ${missing[*]} (Debian packages)"
  builderd_apt_install "${missing[@]}" >>"$log_file" 2>&1 || die "could not install ${missing[*]}; see $log_file"
fi

# ---------------------------------------------------------------------------------------------
# 1. Build, class path (the worktree's own modules, never another checkout's jars in ~/.m2)
# ---------------------------------------------------------------------------------------------
build_bench_class_path

# ---------------------------------------------------------------------------------------------
# 2. Work directory (a real disk, room for the tree, builderd's, rsync's and restic's copies)
# ---------------------------------------------------------------------------------------------
make_work_dir builderd-backup
check_idle
files=${BENCH_BACKUP_FILES:-100000}
bytes_knob=${BENCH_BACKUP_BYTES:-5G}
need_mib=$(awk -v b="$bytes_knob" 'BEGIN {
  n = b + 0; u = toupper(substr(b, length(b)));
  m = (u == "K") ? 1 / 1024 : (u == "M") ? 1 : (u == "G") ? 1024 : (u == "T") ? 1048576 : 1 / 1048576;
  printf "%d", n * m * 4.5 + 1024 }')
avail_mib=$(($(df -Pk "$work" | awk 'NR==2 {print $4}') / 1024))
((avail_mib >= need_mib)) || die "only $avail_mib MiB free under $work_parent; this size needs about $need_mib MiB"
say "work directory $work ($fstype, $((avail_mib / 1024)) GiB free), results in $results"
if [[ ${BENCH_BACKUP_DROP_CACHES:-1} == 0 ]]; then
  say "page cache: kept warm (BENCH_BACKUP_DROP_CACHES=0)"
elif [[ $EUID -eq 0 ]]; then
  say "page cache: dropped before each timed step (root)"
else
  say "page cache: warm (not root: it cannot be dropped)"
fi

# ---------------------------------------------------------------------------------------------
# 3. The run
# ---------------------------------------------------------------------------------------------
run_bench_main BackupBench "$work" "$results"
((bench_status == 0)) || die "BackupBench failed (exit $bench_status); see $results/bench.out and $results/storage.log"
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------------------------
# 4. The section: how it was run, on what, the table from BackupBench
# ---------------------------------------------------------------------------------------------
run_seconds=$SECONDS
knobs=""   # the knobs of this run, as the command line that reproduces it
for var in $(compgen -e | grep -E '^BENCH_(BACKUP_|JAVA_OPTS$|WORK_DIR$)' | sort); do
  if [[ ${!var} == *[[:space:]]* ]]; then knobs+="$var='${!var}' "; else knobs+="$var=${!var} "; fi
done
section="$results/section.md"
{
  echo "<!-- backup-bench:begin -->"
  printf '## Backups\n\n'
  cat <<EOF
Written by \`bench/run-backup.sh\` ($((run_seconds / 60)) min $((run_seconds % 60)) s on the machine below, set-up included; it
runs \`dev.builderd.storage.bench.BackupBench\` in one JVM, which drives rsync and restic too). The
storage is embedded (\`BuilderdStorage\` over SQLite and a \`FileBlobStore\` data root); builderd's backup
target is a \`FileBlobStore\` directory, rsync's and restic's targets are directories, all on the same disk.

\`\`\`
${knobs}bench/run-backup.sh
\`\`\`

| | |
|---|---|
$(machine_rows)
| disk | $(df -P "$work" | awk 'NR==2 {print $1}'), $fstype (the temp directory under $work_parent) |
| rsync · restic | $(rsync --version | head -1 | awk '{print $3}') · $(restic version | awk '{print $2}') (Debian) |
| JVM options | \`--enable-native-access=ALL-UNNAMED $java_opts\` |
| CPU busy before the run | ${busy_before}% (other work on the machine; > 15% makes the figures noisy) |
| load average | $load_start at the start, $load_end at the end |

$(cat "$results/table.md")

Method: builderd's steps are timed from \`startBackup\` / \`startRestore\` until the job's row says it
ended (polled every 5 ms); rsync's and restic's as their whole process. "Copied" is builderd's
\`copied_bytes\` (content the target did not hold), rsync's "Total transferred file size" and restic's
\`data_added\` (after deduplication, before compression). The change deletes 1% of the builds with
\`builds().delete\` and uploads as many new builds of as many files, sizes from the same distribution:
builderd's artifacts are immutable once their build completes, so a changed file is a replaced one.
All three read the files builderd stored, so all see the same change. builderd writes every object
durably (fsync of the file and of its directory) before a snapshot counts; rsync runs without \`--fsync\`.
EOF
  echo "<!-- backup-bench:end -->"
} >"$section"

if [[ -z ${BENCH_NO_DOC:-} && $files == 100000 && $bytes_knob == 5G && -z ${BENCH_BACKUP_FILES_PER_BUILD:-}${BENCH_BACKUP_CHANGE_PERCENT:-} ]]; then
  replace_doc_section backup-bench "$section" "$root/docs/performance.md"
  say "wrote the backup-bench section of docs/performance.md"
else
  say "docs/performance.md left alone (a trial size, or BENCH_NO_DOC set); the section is in $section"
fi

echo
cat "$section"
echo
say "done; raw output in $results"
