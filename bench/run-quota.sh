#!/usr/bin/env bash
# Benchmark of the quota ledger (dev.builderd.storage.bench.QuotaBench), embedded, in one run.
#
#   bench/run-quota.sh
#
# Builds the bench module (and what it needs), then measures, with its data in a temp directory on a real disk (not tmpfs):
#   1. usage query latency against file count: Quotas.usage(tenant) for tenants with 0, 100,000
#      and 1,000,000 artifacts (rows inserted in bulk, the ledger set as reconciliation sets it),
#      against what a ledger-less design runs: SELECT SUM(size) FROM artifacts WHERE tenant_id = ?,
#      and du -sb over a warm tree of 100,000 small files (1,000 directories x 100 files);
#   2. reservation overhead per upload: reserve(tenant, ARTIFACTS, 1 MiB) + commit(1 MiB, 0) against
#      a 1 MiB artifact upload through ArtifactService.upload, on SQLite, then the same on PostgreSQL:
#      a server this script starts from Debian's binaries with default settings (fsync on; the test
#      fixture PostgresServer forces fsync=off on its command line), skipped with a note when the
#      binaries are missing;
# writes the "Quota ledger" section of docs/performance.md (between its markers, nothing else),
# prints the table, keeps raw output in bench/results/quota-<timestamp>/ (git-ignored), and removes
# its temp directory on exit.
#
# Knobs (environment), for quick trial runs; the defaults are the documented benchmark:
#   BENCH_QUOTA_FILES="0 100000 1000000"  artifacts of each measured tenant
#   BENCH_QUOTA_CALLS=2000        timed usage calls per tenant, and reserve+commit pairs per database
#   BENCH_QUOTA_WARMUP=2000       untimed usage rounds first (reserve+commit: at most 200, SUM: 3)
#   BENCH_QUOTA_SUM_SECONDS=20    time budget of the SUM queries per tenant (at least 10 calls, at most CALLS)
#   BENCH_QUOTA_UPLOADS=200       timed 1 MiB uploads per database (after BENCH_QUOTA_UPLOAD_WARMUP=20)
#   BENCH_DU_DIRS=1000 BENCH_DU_FILES_PER_DIR=100 BENCH_DU_RUNS=20   the du -sb tree and its timed runs
#   BENCH_QUOTA_POSTGRES=1        0 skips PostgreSQL
#   BENCH_PG_PORT=18485           its port on 127.0.0.1
#   BENCH_JAVA_OPTS="-Xmx512m"    the benchmark JVM's options (besides --enable-native-access and ErrorFile)
#   BENCH_WORK_DIR=/var/tmp       where the temp directory goes (must not be tmpfs)
#   BENCH_NO_DOC=1                do not rewrite docs/performance.md
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work_parent=${BENCH_WORK_DIR:-/var/tmp}
java_opts=${BENCH_JAVA_OPTS:--Xmx512m}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
results="$root/bench/results/quota-$stamp"
mkdir -p "$results"
log_file="$results/run.log"
# shellcheck disable=SC2034   # read by bench/lib/harness.sh
bench_name="bench/run-quota.sh"
# say, die, make_work_dir (with cleanup on exit), forget_pid, check_idle, ratio, build_bench_class_path, run_bench_main
# shellcheck source=bench/lib/harness.sh
# shellcheck disable=SC1091
source "$root/bench/lib/harness.sh"
# shellcheck source=bin/lib/jdk.sh
# shellcheck disable=SC1091
source "$root/bin/lib/jdk.sh"   # exports JAVA_HOME of a JDK >= 21 (exits with a message if none)

command -v du >/dev/null 2>&1 || die "du (coreutils) is missing"

# ---------------------------------------------------------------------------------------------
# 1. Build, class path (the worktree's own modules, never another checkout's jars in ~/.m2)
# ---------------------------------------------------------------------------------------------
build_bench_class_path

# ---------------------------------------------------------------------------------------------
# 2. Work directory (a real disk)
# ---------------------------------------------------------------------------------------------
make_work_dir builderd-quota
check_idle
avail_mib=$(($(df -Pk "$work" | awk 'NR==2 {print $4}') / 1024))
((avail_mib >= 4096)) || die "only $avail_mib MiB free under $work_parent; the benchmark needs about 4 GiB"
say "work directory $work ($fstype, $((avail_mib / 1024)) GiB free), results in $results"

# ---------------------------------------------------------------------------------------------
# 3. PostgreSQL: Debian's binaries, default settings, its data beside SQLite's
# ---------------------------------------------------------------------------------------------
pg_port=${BENCH_PG_PORT:-18485}
postgres_url="" postgres_note="" pg_pid=""
pg_bin=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -1)
[[ -n $pg_bin ]] || pg_bin=$(pg_config --bindir 2>/dev/null || true)
if [[ ${BENCH_QUOTA_POSTGRES:-1} == 0 ]]; then
  postgres_note="BENCH_QUOTA_POSTGRES=0"
elif [[ ! -x $pg_bin/initdb || ! -x $pg_bin/pg_ctl ]]; then
  postgres_note="no PostgreSQL server binaries here (Debian: apt-get install postgresql, as bin/test does)"
  say "PostgreSQL skipped: $postgres_note"
else
  (echo >"/dev/tcp/127.0.0.1/$pg_port") 2>/dev/null && die "port $pg_port on 127.0.0.1 is in use; choose another with BENCH_PG_PORT"
  pg="$work/postgres"
  mkdir -p "$pg"
  as_pg=()
  if [[ $EUID -eq 0 ]]; then   # PostgreSQL refuses to run as root
    chmod 711 "$work"
    chown postgres: "$pg" || die "PostgreSQL cannot run as root and there is no postgres user"
    as_pg=(runuser -u postgres --)
  fi
  "${as_pg[@]}" "$pg_bin/initdb" -D "$pg/data" -U postgres -A trust -E UTF8 --no-locale >>"$log_file" 2>&1 ||
    die "initdb failed; see $log_file"
  if ! "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg/data" -l "$pg/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $pg_port -c unix_socket_directories=$pg" start >>"$log_file" 2>&1; then
    cat "$pg/server.log" >>"$log_file" 2>/dev/null || true
    die "PostgreSQL did not start; see $log_file"
  fi
  pg_pid=$(head -1 "$pg/data/postmaster.pid")
  pids+=("$pg_pid")
  postgres_url="postgresql://postgres@127.0.0.1:$pg_port/postgres"
  say "PostgreSQL ($("$pg_bin/postgres" --version)) on 127.0.0.1:$pg_port, pid $pg_pid, data in $pg/data"
fi
stop_postgres() {
  [[ -n $pg_pid ]] || return 0
  "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg/data" -m fast -w stop >>"$log_file" 2>&1 || true
  cp "$pg/server.log" "$results/postgres.log" 2>/dev/null || true
  forget_pid "$pg_pid"
  pg_pid=""
}

# ---------------------------------------------------------------------------------------------
# 4. The run
# ---------------------------------------------------------------------------------------------
QUOTA_BENCH_POSTGRES_URL=$postgres_url QUOTA_BENCH_POSTGRES_NOTE=$postgres_note run_bench_main QuotaBench "$work" "$results"
stop_postgres
((bench_status == 0)) || die "QuotaBench failed (exit $bench_status); see $results/bench.out and $results/storage.log"
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------------------------
# 5. Table
# ---------------------------------------------------------------------------------------------
summary="$results/summary.tsv"
facts="$results/facts.tsv"
fact() { awk -F'\t' -v k="$1" '$1 == k {print $2}' "$facts"; }
col() { # measure case column(calls=3 median=4 p99=5) -> value ("" when not measured)
  awk -F'\t' -v m="$1" -v c="$2" -v n="$3" '$1 == m && $2 == c {print $n}' "$summary"
}
t() { # ns -> a duration with a unit that fits
  awk -v ns="$1" 'BEGIN {
    if (ns == "") print "—";
    else if (ns < 10e3) printf "%.1f µs", ns / 1e3;
    else if (ns < 1e6) printf "%.0f µs", ns / 1e3;
    else if (ns < 10e6) printf "%.2f ms", ns / 1e6;
    else if (ns < 1e9) printf "%.1f ms", ns / 1e6;
    else printf "%.2f s", ns / 1e9 }'
}
cell() { # measure case -> "median / p99 (N calls)", or — when not measured
  local n
  n=$(col "$1" "$2" 3)
  if [[ -z $n ]]; then echo "—"; else echo "$(t "$(col "$1" "$2" 4)") / $(t "$(col "$1" "$2" 5)") ($n)"; fi
}
share() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "" || b == "" || b == 0) print "—"; else printf "%.1f%%", 100 * a / b}'; }
thousands() { sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' <<<"$1"; }

read -r -a counts <<<"$(awk -F'\t' '$1 == "usage_ledger" {printf "%s ", $2}' "$summary")"
du_files=$(awk -F'\t' '$1 == "du_sb" {print $2}' "$summary")
table="| artifacts of the tenant | \`usage(tenant)\`, the ledger | \`SELECT SUM(size) … WHERE tenant_id = ?\` | \`du -sb\` over as many files |"$'\n'
table+="|---|---|---|---|"$'\n'
for n in "${counts[@]}"; do
  du_cell="—"
  [[ $n == "$du_files" ]] && du_cell=$(cell du_sb "$du_files")
  table+="| $(thousands "$n") | $(cell usage_ledger "$n") | $(cell usage_sum "$n") | $du_cell |"$'\n'
done
first=${counts[0]} last=${counts[-1]}
growth=$(ratio "$(col usage_ledger "$last" 4)" "$(col usage_ledger "$first" 4)")
growth99=$(ratio "$(col usage_ledger "$last" 5)" "$(col usage_ledger "$first" 5)")
table+=$'\n'"Medians / p99 (calls). \`usage\` with $(thousands "$last") artifacts against $(thousands "$first"): ${growth}× the median, ${growth99}× the p99."$'\n'

table+=$'\n'"| per call, median / p99 (calls) | SQLite | PostgreSQL |"$'\n'
table+="|---|---|---|"$'\n'
table+="| \`reserve\` + \`commit\` (two write transactions) | $(cell reserve_commit sqlite) | $(cell reserve_commit postgresql) |"$'\n'
table+="| of which \`reserve(tenant, ARTIFACTS, 1 MiB)\` | $(cell reserve sqlite) | $(cell reserve postgresql) |"$'\n'
table+="| of which \`commit(1 MiB, 0)\` | $(cell commit sqlite) | $(cell commit postgresql) |"$'\n'
table+="| 1 MiB artifact upload (\`artifacts().upload\`, plaintext tenant) | $(cell upload_1mib sqlite) | $(cell upload_1mib postgresql) |"$'\n'
sq_share=$(share "$(col reserve_commit sqlite 4)" "$(col upload_1mib sqlite 4)")
sq_share99=$(share "$(col reserve_commit sqlite 5)" "$(col upload_1mib sqlite 5)")
pg_share=$(share "$(col reserve_commit postgresql 4)" "$(col upload_1mib postgresql 4)")
pg_share99=$(share "$(col reserve_commit postgresql 5)" "$(col upload_1mib postgresql 5)")
table+="| \`reserve\` + \`commit\` as a share of the upload (medians / p99s) | $sq_share / $sq_share99 | $pg_share / $pg_share99 |"
postgres_fact=$(fact postgres)
[[ $postgres_fact == skipped* ]] && table+=$'\n\n'"PostgreSQL was $postgres_fact"
echo "$table" >"$results/table.md"

# ---------------------------------------------------------------------------------------------
# 6. docs/performance.md: the block between the quota-bench markers (its heading inside)
# ---------------------------------------------------------------------------------------------
run_seconds=$SECONDS
if [[ -z ${BENCH_NO_DOC:-} ]]; then
  knobs=""   # the knobs of this run, as the command line that reproduces it
  for var in $(compgen -e | grep -E '^BENCH_(QUOTA_|DU_|JAVA_OPTS$|WORK_DIR$)' | sort); do
    if [[ ${!var} == *[[:space:]]* ]]; then knobs+="$var='${!var}' "; else knobs+="$var=${!var} "; fi
  done
  section="$results/section.md"
  {
    echo "<!-- quota-bench:begin -->"
    printf '## Quota ledger\n\n'
    cat <<EOF
Written by \`bench/run-quota.sh\` ($((run_seconds / 60)) min $((run_seconds % 60)) s on the machine below, build included; it builds the
reactor, then runs \`dev.builderd.storage.bench.QuotaBench\` in one JVM). The storage is embedded
(\`BuilderdStorage\` over SQLite and a \`FileBlobStore\` in a temp directory on the disk below, as
the daemon's default), with the ledger's background reconciliation moved out of the timed part.

\`\`\`
${knobs}bench/run-quota.sh
\`\`\`

| | |
|---|---|
| date (UTC) | $(date -u '+%Y-%m-%d %H:%M') |
| CPU | $(nproc) cores, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo) |
| memory | $(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1024 / 1024}' /proc/meminfo), kernel $(uname -r) |
| JDK | $("$JAVA_HOME/bin/java" -version 2>&1 | head -1) |
| disk | $(df -P "$work" | awk 'NR==2 {print $1}'), $fstype (the temp directory under $work_parent) |
| SQLite | $(fact sqlite_version), WAL, \`synchronous=FULL\` (the daemon's settings); the file held $(awk -v b="$(fact sqlite_file_bytes)" 'BEGIN {printf "%.0f", b / 1048576}') MiB after the inserts |
| PostgreSQL | $postgres_fact; $(fact postgres_settings); default configuration otherwise, on this machine (client and server share its $(nproc) cores), data beside SQLite's |
| JVM options | \`--enable-native-access=ALL-UNNAMED $java_opts\` |
| CPU busy before the run | ${busy_before}% (other work on the machine; > 15% makes the figures noisy) |
| load average | $load_start at the start, $load_end at the end |

### Usage query against the number of files (SQLite)

$(sed -n '1,/^Medians/p' "$results/table.md")

Method: each tenant (tier \`dedicated\`) got its artifact rows in one transaction, in completed
builds of 1,000 (1 B to 128 KiB each, about 64 KiB on average), and in the same transaction its
ledger line set with \`Quotas.measured\`, the call reconciliation makes; the ledger was then checked
against \`SUM(size)\`. Inserting took $(fact "insert_seconds/$last") s for $(thousands "$last") rows.
\`usage(tenant)\` (four indexed reads on SQLite's pool of read connections) ran
$(col usage_ledger "$first" 3) times per tenant after $(fact warmup) untimed
rounds, the tenants in turn in every round so that all of them saw the same conditions. The
\`SUM\` ran as often as $(fact sum_seconds) seconds allowed per tenant (at least 10
times, at most $(col usage_ledger "$first" 3)), after 3 untimed calls. \`du -sb\` walked a tree of
$(thousands "${du_files:-0}") files of 1 B to 4 KiB ($(fact du_tree_file_bytes) bytes; written in
$(fact du_tree_seconds) s, synced, walked once untimed before the timed runs: warm), each run timed
as the whole process. p99 is the nearest-rank 99th percentile; with fewer than 100 calls it is
the slowest.

### Reservation overhead per upload

$(sed -n '/^| per call/,$p' "$results/table.md")

Method: \`reserve(tenant, ARTIFACTS, 1 MiB)\` then \`commit(1 MiB, 0)\`, each a write transaction
of its own that takes the tenant's lock (SQLite's single writer; on PostgreSQL a row lock), timed
apart and together, after $(fact reserve_warmup/sqlite) untimed pairs. An upload makes the same two steps, but commits inside
the transaction that records the artifact row, so the pair costs it less than the figure above
says. The uploads are \`artifacts().upload\` of 1 MiB from memory to distinct names in one active
build of a \`pro\` (plaintext) tenant: the blob is written, fsynced and renamed, the row and the
ledger committed, the build's manifest and checksums rewritten; $(fact upload_warmup)
untimed uploads came first. PostgreSQL is a server the script starts from Debian's binaries with
their default, durable settings, not the test fixture \`PostgresServer\`, whose command line sets
\`fsync=off\` (a reservation there measures no disk at all).

### Interpretation

EOF
    sums=""   # "N artifacts: median" for every tenant, for the SUM line
    for n in "${counts[@]}"; do sums+="$(thousands "$n"): $(t "$(col usage_sum "$n" 4)"), "; done
    awk -v g="$growth" -v g99="$growth99" -v last="$(thousands "$last")" -v first="$(thousands "$first")" \
      -v u0="$(col usage_ledger "$first" 4)" -v u1="$(col usage_ledger "$last" 4)" -v s0="$(col usage_sum "$first" 4)" \
      -v s1="$(col usage_sum "$last" 4)" -v sums="${sums%, }" \
      -v d="$(col du_sb "${du_files:-x}" 4)" -v ud="$(col usage_ledger "${du_files:-x}" 4)" -v dn="$(thousands "${du_files:-0}")" \
      -v sq="$(col reserve_commit sqlite 4)" -v pg="$(col reserve_commit postgresql 4)" -v sq_share="$sq_share" -v pg_share="$pg_share" 'BEGIN {
      printf "- Usage query: %.0f µs (median) at %s artifacts, %.0f µs at %s: %.2f× the median, %.2f× the p99. ", u0 / 1e3, first, u1 / 1e3, last, g, g99
      if (g <= 1.2 && g99 <= 1.5) print "It does not grow with the number of files (the requirement): it reads the ledger lines, never the files."
      else print "**It grows with the number of files**, which the ledger should prevent: see samples.tsv of the run."
      if (s1 != "") {
        printf "- Without a ledger, the SUM grows with the rows (%s) and at %s artifacts takes %.0f× the ledger read; a quota check on every write would pay it.", sums, last, s1 / u1
        if (s0 != "" && s0 < u0) printf " With no rows the SUM, one query, is cheaper than the ledger read (four queries: tenant, overrides, ledger lines, state)."
        print ""
      }
      if (d != "" && ud != "") printf "- The spec'"'"'s recipe, `du -sb` every 30 s: %.0f ms per walk of %s files even warm, %.0f× the ledger read, and a limit checked that way can be overshot by whatever is written between two walks.\n", d / 1e6, dn, d / ud
      printf "- Reservation: reserve + commit costs %.2f ms on SQLite, %s of a 1 MiB upload'"'"'s median time", sq / 1e6, sq_share
      if (pg != "") printf "; %.2f ms on PostgreSQL, %s of an upload there (its statements are round trips to a server on the same cores, where SQLite runs them in-process)", pg / 1e6, pg_share
      print ". The pair costs the same whatever the size of the upload, so its share shrinks as uploads grow."
    }'
    echo "<!-- quota-bench:end -->"
  } >"$section"
  replace_doc_section quota-bench "$section" "$root/docs/performance.md"
  say "wrote the quota-bench section of docs/performance.md"
fi

echo
echo "$table"
echo
say "done; raw output in $results"
