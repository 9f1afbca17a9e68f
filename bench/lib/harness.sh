# shellcheck shell=bash
# Shared helpers of the benchmark scripts (bench/run-e2e.sh, bench/run-s3.sh, bench/run-scanner.sh,
# bench/run-encryption.sh, bench/run-crypto-jmh.sh, bench/run-cache.sh, bench/run-quota.sh, bench/run-fairness.sh,
# bench/run-backup.sh); sourced, not run.
#
# The sourcing script sets, before it calls any of these functions:
#   bench_name   the script as its messages name it, e.g. bench/run-e2e.sh
#   log_file     where say() appends its lines
#   results      the raw-output directory (raw.tsv, cleanup's message)
#   work_parent  where make_work_dir creates the temp directory
#   pids         array of the PIDs cleanup stops (forget_pid drops one); make_work_dir empties it
#   daemon_pid   the running daemon, "" when none
#   daemon_port  the daemon's port on 127.0.0.1 (wait_daemon_ready)
#   auth, D      the admin token's Authorization header and the daemon's base URL (api)
#   root, java_opts  the worktree and the benchmark JVM's options (build_bench_class_path, run_bench_main)
#   big_bytes    the size of the big test file (mbps_of_ns)
# shellcheck disable=SC2154   # all of the above are assigned by the sourcing script
# It sets for the script: work and fstype (make_work_dir), busy_before and load_start (check_idle).
# shellcheck disable=SC2034

say() { printf '[%s load %s] %s\n' "$(date +%H:%M:%S)" "$(cut -d' ' -f1 /proc/loadavg)" "$*" | tee -a "$log_file" >&2; }
die() { say "ERROR: $*"; exit 1; }
now_ns() { date +%s%N; }

# ---------------------------------------------------------------------------------------------
# Processes and clean-up
# ---------------------------------------------------------------------------------------------
cleanup() {
  local status=$?
  local pid daemon_status=0
  # A daemon that died on its own is the likeliest cause of a failure: say how it ended.
  if ((status != 0)) && [[ -n $daemon_pid ]] && ! kill -0 "$daemon_pid" 2>/dev/null; then
    wait "$daemon_pid" 2>/dev/null || daemon_status=$?
    say "the daemon (pid $daemon_pid) had ended on its own, exit status $daemon_status$( ((daemon_status > 128)) && echo " (SIG$(kill -l $((daemon_status - 128))))")"
  fi
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
  if ((status != 0)); then
    echo "$bench_name failed (exit $status); raw output in $results" >&2
  fi
}
make_work_dir() { # $1 = name prefix; the temp directory under $work_parent (not tmpfs), cleaned up on exit
  mkdir -p "$work_parent"
  fstype=$(df -PT "$work_parent" | awk 'NR==2 {print $2}')
  [[ $fstype == tmpfs || $fstype == ramfs ]] && die "$work_parent is $fstype; set BENCH_WORK_DIR to a directory on a disk"
  work=$(mktemp -d "$work_parent/$1.XXXXXX")
  pids=()
  daemon_pid=""
  trap cleanup EXIT
  trap 'exit 130' INT TERM
}
forget_pid() {
  local gone=$1 kept=() pid
  for pid in "${pids[@]}"; do [[ $pid == "$gone" ]] || kept+=("$pid"); done
  pids=("${kept[@]}")
}

need_tools() { # tool...: installs the missing ones with apt when root (each tool is its Debian package), else dies naming them
  local missing=() tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  ((${#missing[@]})) || return 0
  if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "installing: ${missing[*]} (apt)"
    apt-get update -qq >>"$log_file" 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >>"$log_file" 2>&1 ||
      die "apt-get install ${missing[*]} failed; see $log_file"
  else
    die "missing: ${missing[*]}. Install them, e.g. as root: apt-get install -y ${missing[*]}"
  fi
}

# CPU busy before anything starts: other work on the machine makes every figure noisy.
cpu_busy_pct() { # over $1 seconds, from /proc/stat
  local a b
  a=$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
  sleep "$1"
  b=$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN {split(a, x, " "); split(b, y, " "); printf "%.0f", (y[2] > x[2] ? 100 * (y[1] - x[1]) / (y[2] - x[2]) : 0)}'
}
check_idle() { # sets busy_before (CPU busy % over 3 s) and load_start, warns when the machine is busy
  busy_before=$(cpu_busy_pct 3)
  load_start=$(cut -d' ' -f1-3 /proc/loadavg)
  say "CPU busy before the run (other work on the machine): ${busy_before}%"
  ((busy_before > 15)) && say "WARNING: the machine is not idle (${busy_before}% busy); expect noisy figures"
  return 0
}

# ---------------------------------------------------------------------------------------------
# Embedded benchmarks: a Java main of the bench module run on the worktree's own classes
# ---------------------------------------------------------------------------------------------
build_bench_class_path() { # builds the bench module and the modules it needs; sets cp, the class path
  say "building the bench module and what it needs (./mvnw -B -q install -DskipTests -pl bench -am, offline first)"
  # Offline first: ~/.m2 is shared with other checkouts and a warm one needs no network.
  (cd "$root" && { ./mvnw -B -q -o install -DskipTests -pl bench -am || ./mvnw -B -q install -DskipTests -pl bench -am; }) \
    >>"$log_file" 2>&1 || die "the build failed; see $log_file"
  (cd "$root" && ./mvnw -B -q -o -pl bench dependency:build-classpath -Dmdep.includeScope=runtime \
    -Dmdep.outputFile="$results/classpath.txt") >>"$log_file" 2>&1 || die "could not list the bench class path; see $log_file"
  # This project's modules come from their target/classes, never another checkout's jars in ~/.m2.
  cp="$root/bench/target/classes:$(sed "s#[^:]*/dev/builderd/builderd-\([a-z0-9-]*\)/[^:]*\.jar#$root/\1/target/classes#g" "$results/classpath.txt")"
  local dir
  for dir in $(tr ':' '\n' <<<"$cp" | grep "^$root/"); do
    [[ -d $dir ]] || die "class path entry $dir is missing (module layout changed?)"
  done
}
run_bench_main() { # class args...: runs dev.builderd.storage.bench.CLASS on $cp with $java_opts, its output
  # shown as it comes and kept in bench.out (its log in storage.log); sets bench_status (the caller decides)
  local class=$1 bench_pid tail_pid
  shift
  # shellcheck disable=SC2086   # the options are split on spaces on purpose
  "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED $java_opts -XX:ErrorFile="$results/hs_err_%p.log" \
    -cp "$cp" "dev.builderd.storage.bench.$class" "$@" >"$results/bench.out" 2>"$results/storage.log" &
  bench_pid=$!
  pids+=("$bench_pid")
  say "$class running (pid $bench_pid, $java_opts); its log: $results/storage.log"
  tail -n +1 -f --pid="$bench_pid" "$results/bench.out" >&2 &
  tail_pid=$!
  bench_status=0
  wait "$bench_pid" || bench_status=$?
  forget_pid "$bench_pid"
  wait "$tail_pid" || true
  cat "$results/bench.out" >>"$log_file"
}

# ---------------------------------------------------------------------------------------------
# The daemon
# ---------------------------------------------------------------------------------------------
wait_daemon_ready() { # $1 = the daemon's log (for the message); polls /health/ready for up to 60 s
  local log=$1 deadline=$((SECONDS + 60))
  until [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$daemon_port/health/ready" || true) == 200 ]]; do
    kill -0 "$daemon_pid" 2>/dev/null || die "the daemon exited at start; see $log"
    ((SECONDS < deadline)) || die "the daemon was not ready within 60 s; see $log"
    sleep 0.05
  done
}
stop_daemon() {
  kill -TERM "$daemon_pid" 2>/dev/null || true
  wait "$daemon_pid" 2>/dev/null || true
  forget_pid "$daemon_pid"
  daemon_pid=""
}
api() { # method path [curl args...]; fails on a non-2xx status
  local method=$1 path=$2
  shift 2
  curl -sS --fail-with-body -X "$method" -H "$auth" "$@" "$D$path"
}

# ---------------------------------------------------------------------------------------------
# Statistics over whitespace-separated numbers, formatting, raw output
# ---------------------------------------------------------------------------------------------
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
maximum() { tr ' ' '\n' | grep -v '^$' | sort -g | tail -1; }
minimum() { tr ' ' '\n' | grep -v '^$' | sort -g | head -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}'; }
fmt() { awk -v x="$1" -v d="${2:-0}" 'BEGIN {printf "%.*f", d, x}'; }
mbps_of_ns() { awk -v b="$big_bytes" -v ns="$1" 'BEGIN {printf "%.1f", b / (ns / 1e9) / 1e6}'; }
raw() { echo "$*" >>"$results/raw.tsv"; }

# CPU ticks (utime + stime from field $2 of /proc/PID/stat, 14 for the process itself, 16 for its
# waited-for children) of process $1; 0 when it is gone. Divide by `getconf CLK_TCK` for seconds.
proc_ticks() { if [[ -n $1 && -r /proc/$1/stat ]]; then awk -v f="$2" '{print $f + $(f + 1)}' "/proc/$1/stat"; else echo 0; fi; }

# ---------------------------------------------------------------------------------------------
# docs/performance.md
# ---------------------------------------------------------------------------------------------
replace_doc_section() { # name section_file doc: the lines from <!-- NAME:begin --> to <!-- NAME:end -->
  # of doc become section_file (which carries both markers); appended when doc has none yet
  local name=$1 section=$2 doc=$3
  if [[ -f $doc ]] && grep -q "^<!-- $name:begin -->\$" "$doc"; then
    awk -v sec="$section" -v begin="<!-- $name:begin -->" -v end="<!-- $name:end -->" '
      $0 == begin {while ((getline line < sec) > 0) print line; skip = 1; next}
      $0 == end {skip = 0; next}
      !skip {print}' "$doc" >"$doc.tmp"
  else
    { [[ -f $doc ]] && cat "$doc" && echo; cat "$section"; } >"$doc.tmp"
  fi
  mv "$doc.tmp" "$doc"
}
machine_rows() { # the rows a section's "machine and run" table starts with (JDK: $JAVA_HOME)
  echo "| date (UTC) | $(date -u '+%Y-%m-%d %H:%M') |"
  echo "| CPU | $(nproc) cores, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo) |"
  echo "| memory | $(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1024 / 1024}' /proc/meminfo) |"
  echo "| kernel | $(uname -r) |"
  echo "| JDK | $("$JAVA_HOME/bin/java" -version 2>&1 | head -1) ($("$JAVA_HOME/bin/java" -version 2>&1 | sed -n 3p)) |"
}
other_doc_sections() { # doc: every marked section of doc (each carries its own heading), for a rewrite of the rest
  [[ -f $1 ]] || return 0
  awk '/^<!-- [a-z0-9-]+:begin -->$/ {inside = 1} inside {print} /^<!-- [a-z0-9-]+:end -->$/ {inside = 0; print ""}' "$1"
}

# Fairness limits raised above anything a throughput benchmark asks (docs/security-fairness.md):
# they measure one tenant at full speed; the limits are still checked on every request.
# shellcheck disable=SC2034   # read by the scripts that source this file
unlimited_rate='"requests_per_second":1000000000,"bytes_per_second":1000000000000,"concurrent_requests":100000'
# The tenant the plaintext benchmarks use: pro (not encrypted at rest, unlike dedicated and
# enterprise) with limits raised above anything a benchmark stores or asks.
# shellcheck disable=SC2034   # read by the scripts that source this file
plain_tenant='{"tier":"pro","limits":{"total_bytes":1099511627776,"artifact_bytes":1099511627776,"concurrent_builds":50,'"$unlimited_rate"'}}'
