#!/usr/bin/env bash
# Benchmark of per-tenant fairness (issue 11): does one tenant's flood slow another tenant down?
#
#   bench/run-fairness.sh
#
# Two daemons on loopback, alike but for the fairness limits: one with the product default
# (UNKEY_BUILDERD_RATE_LIMITS=true), one with them off (false). Each serves two pro tenants with
# the tier's limits: `victim` and `flood`. Tenant victim's small-GET latency (a 4 KiB cache hit,
# wrk -t1 -c1: one request at a time; median and p99 from wrk --latency) is measured
#   1. unloaded (nothing else runs),
#   2. while flood sends 4 KiB cache GETs on many connections (wrk -t2 -c64),
#   3. while flood uploads 4 MiB cache entries on 8 connections (wrk -t1 -c8, bench/lib/cache-put.lua),
# on each daemon, rotating the order. The figure of the issue is the ratio of victim's loaded
# median to its unloaded median on the same daemon (target: within 2x with the limits on).
# Writes the section "Fairness" of docs/performance.md (between <!-- fairness:begin --> and
# <!-- fairness:end -->, nothing else), prints the table, keeps raw output in
# bench/results/fairness-<timestamp>/ (git-ignored), cleans up (processes by PID, files) on exit.
#
# Knobs (environment), for quick trial runs; the defaults are the documented benchmark:
#   BENCH_RUNS=3              repetitions of each measurement (medians reported)
#   BENCH_WRK_SECONDS=8       duration of each victim measurement (the flood runs 2 s longer on each side)
#   BENCH_FLOOD_CONNECTIONS=64  connections of the GET flood
#   BENCH_WORK_DIR=/var/tmp   where the temp directory goes (must not be tmpfs)
#   BENCH_DAEMON_PORT=18494 BENCH_OFF_DAEMON_PORT=18495
#   BENCH_NO_DOC=1            do not rewrite docs/performance.md
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${BENCH_RUNS:-3}
wrk_seconds=${BENCH_WRK_SECONDS:-8}
flood_connections=${BENCH_FLOOD_CONNECTIONS:-64}
daemon_port=${BENCH_DAEMON_PORT:-18494}
off_port=${BENCH_OFF_DAEMON_PORT:-18495}
work_parent=${BENCH_WORK_DIR:-/var/tmp}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
results="$root/bench/results/fairness-$stamp"
mkdir -p "$results"
log_file="$results/run.log"
# shellcheck disable=SC2034   # read by bench/lib/harness.sh
bench_name="bench/run-fairness.sh"
# shellcheck source=bench/lib/harness.sh
# shellcheck disable=SC1091
source "$root/bench/lib/harness.sh"

need_tools wrk curl python3 openssl
# shellcheck source=bin/lib/jdk.sh
# shellcheck disable=SC1091
source "$root/bin/lib/jdk.sh"
for port in "$daemon_port" "$off_port"; do
  if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port on 127.0.0.1 is in use; choose others with BENCH_DAEMON_PORT / BENCH_OFF_DAEMON_PORT"
  fi
done

make_work_dir builderd-fairness
check_idle
say "work directory $work ($fstype), results in $results"
say "building the daemon jar if stale (bin/builderd --help)"
"$root/bin/builderd" --help >>"$log_file" 2>&1 || die "bin/builderd --help failed; see $log_file"

admin_token="bench-$(openssl rand -hex 16)"
auth="Authorization: Bearer $admin_token"
start() { # name port limits(true|false): starts a daemon, waits until it is ready
  local name=$1 port=$2 limits=$3 pid
  UNKEY_BUILDERD_PORT=$port UNKEY_BUILDERD_BIND_ADDRESS=127.0.0.1 UNKEY_BUILDERD_RATE_LIMITS=$limits \
    UNKEY_BUILDERD_DATA_DIR="$work/data-$name" UNKEY_BUILDERD_ADMIN_TOKEN="$admin_token" \
    BUILDERD_JAVA_OPTS="-Xmx512m -XX:ErrorFile=$results/hs_err_%p.log" "$root/bin/builderd" >"$results/daemon-$name.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 1200); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health/ready" || true) == 200 ]] && return 0
    kill -0 "$pid" 2>/dev/null || die "the daemon $name exited at start; see $results/daemon-$name.log"
    sleep 0.05
  done
  die "the daemon $name was not ready within 60 s; see $results/daemon-$name.log"
}
start on "$daemon_port" true
start off "$off_port" false
say "daemons on 127.0.0.1:$daemon_port (fairness limits on, the default) and :$off_port (UNKEY_BUILDERD_RATE_LIMITS=false)"

small="$work/small.bin"
head -c 4096 /dev/urandom >"$small"
entry=dependencies/npm/small-4k.tgz
declare -A token=()
for d in on off; do
  [[ $d == on ]] && D="http://127.0.0.1:$daemon_port" || D="http://127.0.0.1:$off_port"
  # Both pro. The victim's fairness limits are raised: its measurement sends one request after the
  # other as fast as they are answered, which no limit should cut short; flood has the tier's.
  # flood's cache may hold what its uploads send.
  api PUT /v1/tenants/victim -H 'Content-Type: application/json' -d '{"tier":"pro","limits":{'"$unlimited_rate"'}}' >>"$log_file"
  api PUT /v1/tenants/flood -H 'Content-Type: application/json' \
    -d '{"tier":"pro","limits":{"total_bytes":1099511627776,"cache_bytes":1099511627776}}' >>"$log_file"
  for t in victim flood; do
    token[$d-$t]=$(api POST "/v1/tenants/$t/tokens" | sed -n 's/.*"token" *: *"\([^"]*\)".*/\1/p')
    curl -sS --fail-with-body -X PUT -H "Authorization: Bearer ${token[$d-$t]}" --data-binary "@$small" \
      "$D/v1/tenants/$t/cache/$entry" >>"$log_file"
  done
done
url() { [[ $1 == on ]] && echo "http://127.0.0.1:$daemon_port" || echo "http://127.0.0.1:$off_port"; }
printf 'measure\tdaemon\trun\tvalue\tunit\n' >"$results/raw.tsv"

ms_of() { # a wrk latency such as 812.00us, 1.23ms or 2.01s -> milliseconds
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) {sub(/us$/, "", v); printf "%.3f", v / 1000}
    else if (v ~ /ms$/) {sub(/ms$/, "", v); printf "%.3f", v}
    else if (v ~ /m$/) {sub(/m$/, "", v); printf "%.3f", v * 60000}
    else {sub(/s$/, "", v); printf "%.3f", v * 1000}}'
}
victim() { # daemon label -> "median_ms p99_ms"; fails on errors or non-2xx answers of the victim
  local d=$1 label=$2 out
  out=$(wrk --latency -t1 -c1 -d"${wrk_seconds}s" -H "Authorization: Bearer ${token[$d-victim]}" "$(url "$d")/v1/tenants/victim/cache/$entry")
  printf '== victim %s %s\n%s\n' "$d" "$label" "$out" >>"$results/wrk.txt"
  if grep -q 'Non-2xx or 3xx responses' <<<"$out"; then die "victim $d $label: non-2xx answers; see $results/wrk.txt"; fi
  if grep -q '^ *0 requests in' <<<"$out"; then die "victim $d $label: no answer at all; see $results/wrk.txt and the daemon's log"; fi
  echo "$(ms_of "$(awk '$1 == "50%" {print $2}' <<<"$out")") $(ms_of "$(awk '$1 == "99%" {print $2}' <<<"$out")")"
}
flood() { # daemon kind(get|put) label: starts flood's load in the background for wrk_seconds + 4 s; sets flood_pid
  local d=$1 kind=$2 label=$3 a="Authorization: Bearer ${token[$1-flood]}"
  if [[ $kind == get ]]; then
    wrk -t2 -c"$flood_connections" -d"$((wrk_seconds + 4))s" -H "$a" "$(url "$d")/v1/tenants/flood/cache/$entry" \
      >"$results/flood-$d-$label.txt" 2>&1 &
  else
    # 4 MiB: above the memory tier's largest entry, so the uploads go to disk, not the heap.
    BENCH_PUT_PREFIX="npm/flood-$label" BENCH_PUT_BYTES=4194304 wrk -t1 -c8 -d"$((wrk_seconds + 4))s" \
      -s "$root/bench/lib/cache-put.lua" -H "$a" "$(url "$d")/v1/tenants/flood/cache/dependencies/" \
      >"$results/flood-$d-$label.txt" 2>&1 &
  fi
  flood_pid=$!
  pids+=("$flood_pid")
  sleep 2   # the flood at full strength before the victim is measured
}
end_flood() {
  wait "$flood_pid" || true
  forget_pid "$flood_pid"
}

say "warm-up: 10 s of victim GETs and 5 s of each flood on each daemon (the JIT needs load)"
for d in on off; do
  wrk -t1 -c4 -d10s -H "Authorization: Bearer ${token[$d-victim]}" "$(url "$d")/v1/tenants/victim/cache/$entry" >/dev/null
  wrk -t2 -c8 -d5s -H "Authorization: Bearer ${token[$d-flood]}" "$(url "$d")/v1/tenants/flood/cache/$entry" >/dev/null
done

declare -A med=() p99=()
measure() { # daemon scenario(unloaded|get|put) run
  local d=$1 s=$2 i=$3 m p
  if [[ $s == unloaded ]]; then
    read -r m p < <(victim "$d" "$s-$i")
  else
    flood "$d" "$s" "$s-$i"
    read -r m p < <(victim "$d" "$s-$i")
    end_flood
  fi
  med[$d-$s]+="$m " p99[$d-$s]+="$p "
  raw "victim_median_ms	$d-$s	$i	$m	ms"
  raw "victim_p99_ms	$d-$s	$i	$p	ms"
  say "  run $i, limits $d, $s: victim median $m ms, p99 $p ms"
}
for i in $(seq "$runs"); do
  case $((i % 3)) in   # rotate the order, so that no scenario always comes first
    1) order=(unloaded get put) ;;
    2) order=(get put unloaded) ;;
    0) order=(put unloaded get) ;;
  esac
  for s in "${order[@]}"; do
    if ((i % 2)); then measure on "$s" "$i"; measure off "$s" "$i"; else measure off "$s" "$i"; measure on "$s" "$i"; fi
  done
done

# What the floods got: requests/s and refused (429) answers, from their wrk output.
flood_summary() { # daemon scenario -> "N req/s, M% refused"
  python3 - "$results" "$1" "$2" <<'EOF'
import glob, re, sys
results, d, s = sys.argv[1:]
rates, total, bad = [], 0, 0
for path in sorted(glob.glob(f"{results}/flood-{d}-{s}-*.txt")):
    text = open(path).read()
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    n = re.search(r"(\d+) requests in", text)
    e = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m: rates.append(float(m.group(1)))
    if n: total += int(n.group(1))
    if e: bad += int(e.group(1))
rates.sort()
rate = rates[len(rates) // 2] if rates else 0
print(f"{rate:.0f} req/s, {100 * bad / total if total else 0:.0f}% answered 429")
EOF
}
med_of() { echo "${med[$1]}" | median; }
p99_of() { echo "${p99[$1]}" | median; }
row() { # daemon scenario label
  local d=$1 s=$2 label=$3 flood="—"
  [[ $s == unloaded ]] || flood=$(flood_summary "$d" "$s")
  echo "| $label | $(fmt "$(med_of "$d-$s")" 3) | $(fmt "$(p99_of "$d-$s")" 3) | $(ratio "$(med_of "$d-$s")" "$(med_of "$d-unloaded")") | $(ratio "$(p99_of "$d-$s")" "$(p99_of "$d-unloaded")") | $flood |"
}
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
table=$(cat <<EOF
| Victim's 4 KiB cache GET (wrk -t1 -c1) | median ms | p99 ms | median / unloaded | p99 / unloaded | flood's load |
|---|---|---|---|---|---|
$(row on unloaded "limits on (default): unloaded")
$(row on get "limits on: flood GETs 4 KiB, $flood_connections connections")
$(row on put "limits on: flood PUTs 4 MiB, 8 connections")
$(row off unloaded "limits off: unloaded")
$(row off get "limits off: flood GETs 4 KiB, $flood_connections connections")
$(row off put "limits off: flood PUTs 4 MiB, 8 connections")
EOF
)
echo "$table" >"$results/table.md"

if [[ -z ${BENCH_NO_DOC:-} ]]; then
  knobs=""
  [[ $runs == 3 ]] || knobs+="BENCH_RUNS=$runs "
  [[ $wrk_seconds == 8 ]] || knobs+="BENCH_WRK_SECONDS=$wrk_seconds "
  [[ $flood_connections == 64 ]] || knobs+="BENCH_FLOOD_CONNECTIONS=$flood_connections "
  section="$results/section.md"
  {
    echo "<!-- fairness:begin -->"
    echo "## Fairness"
    echo
    cat <<EOF
Written by \`bench/run-fairness.sh\` (about $((SECONDS / 60 + 1)) min): does one tenant's flood slow
another tenant down? Target (issue 11): with one tenant flooding, another tenant's small-GET
latency stays within 2x of its unloaded value, with the fairness limits on (the default;
[security-fairness.md](security-fairness.md)).

\`\`\`
${knobs}bench/run-fairness.sh
\`\`\`

| | |
|---|---|
$(machine_rows)
| disk | $(df -P "$work" | awk 'NR==2 {print $1}'), $fstype (both daemons' data in one temp dir under $work_parent) |
| daemons | two \`bin/builderd\`, \`-Xmx512m\`, filesystem backend, SQLite, defaults otherwise; one with \`UNKEY_BUILDERD_RATE_LIMITS=false\` |
| repetitions | $runs runs of each measurement, rotating the order; medians of the runs |
| CPU busy before the run | ${busy_before}% (other work on the machine; > 15% makes the figures noisy) |
| load average | $load_start at the start, $load_end at the end |

$table

Method: both tenants are \`{"tier":"pro"}\`. The flooding tenant has the tier's fairness limits
(200 requests/s in bursts of 400, 100 MiB/s of bodies, 32 requests in flight; its storage quota
raised to hold its uploads); the victim's are raised out of the way, since its measurement sends
one request after another as fast as they are answered (a closed loop, faster than the tier's 200
requests/s), and only the flood is to be held back. The victim's latency is \`wrk --latency -t1 -c1 -d${wrk_seconds}s\` of its 4 KiB
cache entry (a memory-tier hit) with its own token: one request at a time, so each figure is
what one client waits, not what a queue of them does. A flood starts 2 s before the victim's
measurement and ends 2 s after it: \`wrk -t2 -c$flood_connections\` GETs of flood's own 4 KiB entry, or
\`wrk -t1 -c8\` PUTs of new 4 MiB cache entries (\`bench/lib/cache-put.lua\`, every one fsynced;
larger than the memory tier's largest entry, so they go to disk). With the limits on, most of the
GET flood is answered 429, each after a pause of up to a second; the uploads are paced to the
tier's bandwidth. wrk, both daemons and the rest of the machine share the $(nproc) cores: the
flood's own client takes CPU from everyone, with the limits on or off alike. A machine that is not idle
(see the load above) makes every figure noisy: compare the ratios, which are measured on the
same daemon minutes apart, more than the absolute figures.

EOF
    if [[ -f $root/bench/fairness-notes.md ]]; then cat "$root/bench/fairness-notes.md"; fi
    echo "<!-- fairness:end -->"
  } >"$section"
  replace_doc_section fairness "$section" "$root/docs/performance.md"
  say "wrote the fairness section of docs/performance.md"
fi

echo
echo "$table"
echo
say "done; raw output in $results"
