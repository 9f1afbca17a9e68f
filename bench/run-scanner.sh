#!/usr/bin/env bash
# Benchmark of the directory usage scanner (core's DirectoryUsage) against GNU du, side by side.
#
#   bench/run-scanner.sh
#
# One run: builds the bench module, creates a tree of 100,000 small files in 1,000 directories
# in a temp directory on a real disk (not tmpfs), warms both sides once (page cache, dentries,
# inodes; nothing is dropped from the caches), verifies that the scanner's allocated and apparent
# bytes equal du's exactly, then measures in rounds, rotating the order:
#   - du -sb          (apparent bytes; wall and CPU time of the process)
#   - du -sB1         (allocated bytes, what du -s counts, to the byte)
#   - the scanner in a JVM that stays warm (ScanBench serve): only the measure() call, at each
#     parallelism of BENCH_SCAN_PARALLELISM; it gives both sums in one pass
#   - the scanner as a whole process (ScanBench once: JVM start, JNA load, cold code, exit)
# writes the section between <!-- scanner-bench:begin --> and <!-- scanner-bench:end --> of
# docs/performance.md (with the hand-written bench/scanner-notes.md; bench/run-e2e.sh keeps the
# section when it rewrites the file), prints the table, keeps raw output in
# bench/results/scanner-<timestamp>/ (git-ignored) and removes the tree on exit.
#
# Knobs (environment); the defaults are the documented benchmark:
#   BENCH_SCAN_ROUNDS=5             rounds (medians and bests reported)
#   BENCH_SCAN_DIRS=1000            directories of the tree
#   BENCH_SCAN_FILES=100            files per directory (0 to 16 KiB each, seeded)
#   BENCH_SCAN_PARALLELISM="1 2 4"  parallelisms of the warm scanner
#   BENCH_SCAN_PROCESS_PARALLELISM=2  parallelism of the whole-process run, and the headline row
#   BENCH_SCAN_WARMUP=10            measure() calls per parallelism before the rounds (JIT)
#   BENCH_WORK_DIR=/var/tmp         where the tree goes (must not be tmpfs)
#   BENCH_NO_DOC=1                  do not rewrite docs/performance.md
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rounds=${BENCH_SCAN_ROUNDS:-5}
dirs=${BENCH_SCAN_DIRS:-1000}
files_per_dir=${BENCH_SCAN_FILES:-100}
read -r -a parallelisms <<<"${BENCH_SCAN_PARALLELISM:-1 2 4}"
process_parallelism=${BENCH_SCAN_PROCESS_PARALLELISM:-2}
warmup=${BENCH_SCAN_WARMUP:-10}
work_parent=${BENCH_WORK_DIR:-/var/tmp}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
results="$root/bench/results/scanner-$stamp"
mkdir -p "$results"
log_file="$results/run.log"
# shellcheck disable=SC2034   # read by bench/lib/harness.sh
bench_name="bench/run-scanner.sh"
# say, die, make_work_dir (with cleanup on exit), check_idle, the statistics helpers, raw,
# replace_doc_section
# shellcheck source=bench/lib/harness.sh
# shellcheck disable=SC1091
source "$root/bench/lib/harness.sh"
# shellcheck source=bin/lib/jdk.sh
# shellcheck disable=SC1091
source "$root/bin/lib/jdk.sh"   # exports JAVA_HOME of a JDK >= 21 (exits with a message if none)

command -v du >/dev/null || die "du (GNU coreutils) is missing"
du --version 2>/dev/null | grep -q 'GNU coreutils' || die "du is not GNU du: the comparison needs -b and -B1"

# ---------------------------------------------------------------------------------------------
# Build, tree, warm-up
# ---------------------------------------------------------------------------------------------
make_work_dir builderd-scan
check_idle
say "work directory $work ($fstype), results in $results"

say "building the bench module and what it depends on (./mvnw package -pl bench -am)"
(cd "$root" && ./mvnw -B -q -DskipTests -pl bench -am package dependency:build-classpath \
  -Dmdep.outputFile="$results/classpath.txt") >>"$log_file" 2>&1 || die "the build failed; see $log_file"
jna_jar=$(tr ':' '\n' <"$results/classpath.txt" | grep '/jna-[0-9.]*\.jar$' | head -1)
[[ -f $jna_jar ]] || die "no JNA jar on the bench module's class path; see $results/classpath.txt"
# Only what the scanner needs, from this checkout's own build (not the shared ~/.m2 snapshot).
java_cmd=("$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED
  -cp "$root/bench/target/classes:$root/core/target/classes:$jna_jar" dev.builderd.storage.bench.ScanBench)

tree="$work/tree"
say "creating the tree: $dirs directories x $files_per_dir files"
"${java_cmd[@]}" tree "$tree" "$dirs" "$files_per_dir" 42 2>>"$log_file" || die "creating the tree failed; see $log_file"
sync

TIMEFORMAT='%3R %3U %3S'
timed() { # out_file command... -> sets took to "wall_ms cpu_ms" (bash's time: getrusage of the child)
  local out=$1 t
  shift
  t=$({ time "$@" >"$out" 2>>"$log_file"; } 2>&1) || die "$* failed; see $log_file"
  took=$(awk '{printf "%.1f %.1f", $1 * 1000, ($2 + $3) * 1000}' <<<"$t")
}
first_field() { cut -f1 "$1"; }

say "warming both sides once (nothing is dropped from the caches)"
timed "$results/du-b.out" du -sb "$tree"
timed "$results/du-s.out" du -sB1 "$tree"
expect_apparent=$(first_field "$results/du-b.out")
expect_allocated=$(first_field "$results/du-s.out")
timed "$results/once.out" "${java_cmd[@]}" once "$process_parallelism" "$tree"
read -r got_allocated got_apparent got_files got_dirs <"$results/once.out"
[[ $got_allocated == "$expect_allocated" && $got_apparent == "$expect_apparent" ]] ||
  die "the scanner disagrees with du: allocated $got_allocated vs $expect_allocated, apparent $got_apparent vs $expect_apparent"
say "  du and the scanner agree: $expect_allocated bytes allocated, $expect_apparent apparent, $got_files files, $got_dirs directories"

coproc SCAN { exec "${java_cmd[@]}" serve 2>>"$results/serve.err"; }
# bash unsets SCAN and SCAN_PID when the coprocess ends: keep copies.
# shellcheck disable=SC2153   # SCAN_PID is set by coproc
scan_pid=$SCAN_PID scan_fd_in=${SCAN[1]} scan_fd_out=${SCAN[0]}
pids+=("$scan_pid")
warm_scan() { # parallelism -> sets took to "wall_ms cpu_ms" of one measure() in the warm JVM, checked against du
  local wall cpu allocated apparent rest
  echo "$1 $tree" >&"$scan_fd_in"
  read -r -t 120 wall cpu allocated apparent rest <&"$scan_fd_out" || die "the warm scanner did not answer; see $results/serve.err"
  [[ $allocated == "$expect_allocated" && $apparent == "$expect_apparent" ]] ||
    die "the warm scanner disagrees with du: allocated $allocated, apparent $apparent ($rest)"
  took=$(awk -v w="$wall" -v c="$cpu" 'BEGIN {printf "%.1f %.1f", w / 1e6, c / 1e6}')
}
for p in "${parallelisms[@]}"; do
  for _ in $(seq "$warmup"); do warm_scan "$p"; done
done
say "warm JVM ready: $warmup measure() calls per parallelism (${parallelisms[*]}) done"

# ---------------------------------------------------------------------------------------------
# Rounds
# ---------------------------------------------------------------------------------------------
declare -A wall cpu   # by step name: space-separated figures, one per round
record() { # step round: files the figures in $took
  local w c
  read -r w c <<<"$took"
  wall[$1]+=" $w"
  cpu[$1]+=" $c"
  raw "$1	$2	$w	$c	ms"
}
step_du_b() {
  timed "$results/du-b.out" du -sb "$tree"
  record du_b "$1"
  [[ $(first_field "$results/du-b.out") == "$expect_apparent" ]] || die "du -sb changed its answer; the tree moved"
}
step_du_s() {
  timed "$results/du-s.out" du -sB1 "$tree"
  record du_s "$1"
  [[ $(first_field "$results/du-s.out") == "$expect_allocated" ]] || die "du -sB1 changed its answer; the tree moved"
}
step_warm() { local p; for p in "${parallelisms[@]}"; do warm_scan "$p"; record "warm_$p" "$1"; done; }
step_process() {
  timed "$results/once.out" "${java_cmd[@]}" once "$process_parallelism" "$tree"
  record process "$1"
  [[ $(cut -d' ' -f1-2 "$results/once.out") == "$expect_allocated $expect_apparent" ]] || die "the scanner process disagrees with du"
}
steps=(step_du_b step_warm step_du_s step_process)
say "$rounds rounds, rotating the order of: du -sb, warm scanner (${parallelisms[*]}), du -sB1, scanner process"
for i in $(seq "$rounds"); do
  for k in "${!steps[@]}"; do
    "${steps[$(((k + i - 1) % ${#steps[@]}))]}" "$i"
  done
  line="  round $i: du -sb $(echo "${wall[du_b]}" | awk '{print $NF}') ms, du -sB1 $(echo "${wall[du_s]}" | awk '{print $NF}') ms"
  for p in "${parallelisms[@]}"; do line+=", warm p=$p $(echo "${wall[warm_$p]}" | awk '{print $NF}') ms"; done
  say "$line, process $(echo "${wall[process]}" | awk '{print $NF}') ms"
done
exec {scan_fd_in}>&-
wait "$scan_pid" 2>/dev/null || true
forget_pid "$scan_pid"

# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
thousands() { sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' <<<"$1"; }
files_label="$(thousands $((dirs * files_per_dir))) files in $(thousands "$dirs") directories"
med() { echo "${wall[$1]}" | median; }
best() { echo "${wall[$1]}" | minimum; }
cpu_med() { echo "${cpu[$1]}" | median; }
du_b_med=$(med du_b)
row() { # step label baseline-note
  local m
  m=$(med "$1")
  printf '| %s | %s / %s | %s | %s | %s |\n' "$2" "$(fmt "$m" 0)" "$(fmt "$(best "$1")" 0)" "$(fmt "$(cpu_med "$1")" 0)" \
    "$(ratio "$m" "$du_b_med")" "$3"
}
verdict() { awk -v r="$(ratio "$(med "$1")" "$du_b_med")" 'BEGIN {print (r <= 1.0 ? "≤ 1: met" : "≤ 1: **missed**")}'; }
table=$(
  echo "| Measure (tree of $files_label) | Wall ms (median / best) | CPU ms (median) | Ratio to \`du -sb\` (wall medians) | Target |"
  echo "|---|---|---|---|---|"
  row du_b "\`du -sb\` (apparent bytes)" "baseline"
  row du_s "\`du -sB1\` (allocated bytes; what \`du -s\` counts, to the byte)" "reported"
  for p in "${parallelisms[@]}"; do
    target="reported"
    [[ $p == "$process_parallelism" ]] && target=$(verdict "warm_$p")
    row "warm_$p" "scanner, warm JVM, one \`measure()\` call, parallelism $p (both sums in one pass)" "$target"
  done
  row process "scanner as a whole process, parallelism $process_parallelism (JVM start, JNA load, cold code)" "reported"
)
echo "$table" >"$results/table.md"

java_version=$("$JAVA_HOME/bin/java" -version 2>&1 | head -1)
cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
disk_dev=$(df -P "$work" | awk 'NR==2 {print $1}')
section="$results/section.md"
{
  echo "<!-- scanner-bench:begin -->"
  cat <<EOF
## Directory usage scanner against \`du\`

Written by \`bench/run-scanner.sh\` (about a minute; \`bench/run-e2e.sh\` keeps this block when
it rewrites the file). The quota scanner (\`DirectoryUsage\` in core, issue 5) measures what
build processes write directly into their \`workspace/\`, \`temp/\` and \`metadata/\`; the
spec's recipe is \`du -sb\` every 30 s. Both walk the same tree of $files_label
(files of 0 to 16 KiB, seeded), $(awk -v b="$expect_allocated" 'BEGIN {printf "%.0f MiB", b / 1048576}') allocated, on the disk below; the page
cache is warm for both (each ran once before the rounds; nothing is dropped), and every
answer of either side was checked: the scanner's allocated and apparent bytes equal \`du -sB1\`
and \`du -sb\` to the byte.

| | |
|---|---|
| date (UTC) | $(date -u '+%Y-%m-%d %H:%M') |
| CPU | $(nproc) cores, $cpu_model |
| kernel | $(uname -r) |
| JDK | $java_version |
| du | $(du --version | head -1) |
| disk | $disk_dev, $fstype (tree in a temp dir under $work_parent) |
| rounds | $rounds, the order of the steps rotated each round; the warm JVM first made $warmup \`measure()\` calls per parallelism |
| CPU busy before the run | ${busy_before}% (other work on the machine; > 15% makes the figures noisy) |
| load average | $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end |

$table

Method: \`du\` and the whole-process scanner are timed by bash's \`time\` around the process
(wall; CPU = user + system from \`getrusage\`). The warm scanner is a JVM that stays up
(\`ScanBench serve\`, fed one request per measurement): only the \`measure()\` call is timed,
wall by \`System.nanoTime\` and CPU as the whole process's \`CLOCK_PROCESS_CPUTIME_ID\` (all
threads, JIT and GC included): the way a daemon runs it, in its own JVM every 30 s.
\`du -sb\` and \`du -sB1\` each give one of the two sums; the scanner gives both per walk.
Command: \`bench/run-scanner.sh\` (raw figures in \`bench/results/scanner-<timestamp>/raw.tsv\`).

EOF
  awk -v m="$(med "warm_$process_parallelism")" -v b="$du_b_med" -v p="$process_parallelism" -v pr="$(med process)" \
    -v c="$(cpu_med "warm_$process_parallelism")" -v dc="$(cpu_med du_b)" 'BEGIN {
    printf "- Warm, parallelism %d: the scanner took %.2f× the wall time of `du -sb` (target ≤ 1: %s) and %.2f× its CPU time.\n", p, m / b, (m <= b ? "met" : "missed"), c / dc
    printf "- As a separate process it took %.2f× the wall time of `du -sb`: the JVM start, not the walk, is that difference; the daemon never pays it per scan.\n", pr / b
  }'
  if [[ -f $root/bench/scanner-notes.md ]]; then echo; cat "$root/bench/scanner-notes.md"; fi
  echo "<!-- scanner-bench:end -->"
} >"$section"

if [[ -z ${BENCH_NO_DOC:-} ]]; then
  replace_doc_section scanner-bench "$section" "$root/docs/performance.md"
  say "wrote the scanner section of docs/performance.md"
fi

echo
echo "$table"
echo
say "done; raw output in $results"
