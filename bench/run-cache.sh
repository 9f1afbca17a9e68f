#!/usr/bin/env bash
# Benchmark of the tenant caches (issue 6) against baselines measured side by side in one run, on
# loopback, with the daemon's data in a temp directory on a real disk (not tmpfs):
#
#   bench/run-cache.sh
#
#   1. 4 KiB cache GETs per second (wrk -t2 -c32, as bench/run-e2e.sh's 4 KiB test) against
#      nginx's static GET of the same 4 KiB: memory-tier hits of a plaintext tenant and of an
#      encrypted one (the daemon's defaults), and disk hits of a plaintext tenant from a second
#      daemon started with its memory tier off (UNKEY_BUILDERD_CACHE_MEMORY_TIER_MB=0; with the
#      filesystem backend the store itself is the disk tier).
#   2. 64 concurrent clients PUTting distinct 4 KiB dependencies entries (wrk -t2 -c64 and
#      bench/lib/cache-put.lua), entries/s, against the single-writer durable-publish rate of the
#      same disk (bench/lib/fsync-rate.py: write 4 KiB, fsync, rename, fsync the directory).
#   3. Restart to serving with BENCH_CACHE_ENTRIES entries in the index: the daemon stopped, the
#      entries added directly (files plus index rows, cache usage and quota ledger raised alike, by
#      bench/lib/cache-fill.py, not by that many PUTs), then each restart timed from the process
#      start to the first 200 of a cache GET.
#   4. Eviction of all of them: PUT .../cache-policies/dependencies {"max_size_bytes":1}, which
#      evicts at once, timed around that one request, entries/s.
# writes the section "Caches" of docs/performance.md (between <!-- caches:begin --> and
# <!-- caches:end -->, nothing else), prints the table, keeps raw output in
# bench/results/cache-<timestamp>/ (git-ignored), cleans up (processes by PID, files) on exit.
#
# Knobs (environment), for quick trial runs; the defaults are the documented benchmark:
#   BENCH_CACHE_ENTRIES=1000000  entries filled for the restart and eviction tests
#   BENCH_CACHE_ENTRY_BYTES=100  size of each filled entry
#   BENCH_RUNS=3                 repetitions of each wrk and fsync run (median and best reported)
#   BENCH_RESTARTS=3             timed restarts
#   BENCH_WRK_SECONDS=8          duration of each wrk run (and of each fsync-rate run)
#   BENCH_WORK_DIR=/var/tmp      where the temp directory goes (must not be tmpfs)
#   BENCH_NGINX_PORT=18490 BENCH_DAEMON_PORT=18492 BENCH_DISK_DAEMON_PORT=18493
#   BENCH_JAVA_OPTS              extra JVM options of the daemon (e.g. a JFR recording)
#   BENCH_NO_DOC=1               do not rewrite docs/performance.md
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
entries=${BENCH_CACHE_ENTRIES:-1000000}
entry_bytes=${BENCH_CACHE_ENTRY_BYTES:-100}
runs=${BENCH_RUNS:-3}
restarts=${BENCH_RESTARTS:-3}
wrk_seconds=${BENCH_WRK_SECONDS:-8}
nginx_port=${BENCH_NGINX_PORT:-18490}
daemon_port=${BENCH_DAEMON_PORT:-18492}
disk_port=${BENCH_DISK_DAEMON_PORT:-18493}
work_parent=${BENCH_WORK_DIR:-/var/tmp}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
results="$root/bench/results/cache-$stamp"
mkdir -p "$results"
log_file="$results/run.log"
# shellcheck disable=SC2034   # read by bench/lib/harness.sh
bench_name="bench/run-cache.sh"
# say, die, now_ns, make_work_dir (with cleanup on exit), forget_pid, check_idle, wait_daemon_ready,
# stop_daemon, api, the statistics helpers, raw, machine_rows, replace_doc_section, plain_tenant
# shellcheck source=bench/lib/harness.sh
# shellcheck disable=SC1091
source "$root/bench/lib/harness.sh"

missing=()
export PATH="$PATH:/usr/sbin:/sbin"
for tool in nginx wrk curl python3 openssl; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
  if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "installing: ${missing[*]} (apt)"
    apt-get update -qq >>"$log_file" 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx wrk curl python3 openssl >>"$log_file" 2>&1
  else
    die "missing: ${missing[*]}. Install them, e.g. as root: apt-get install -y nginx wrk curl python3 openssl"
  fi
fi
# shellcheck source=bin/lib/jdk.sh
# shellcheck disable=SC1091
source "$root/bin/lib/jdk.sh"   # exports JAVA_HOME of a JDK >= 21 (exits with a message if none)
for port in "$nginx_port" "$daemon_port" "$disk_port"; do
  if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port on 127.0.0.1 is in use; choose others with BENCH_NGINX_PORT / BENCH_DAEMON_PORT / BENCH_DISK_DAEMON_PORT"
  fi
done

make_work_dir builderd-cache
check_idle
say "work directory $work ($fstype), results in $results"
say "building the daemon jar if stale (bin/builderd --help)"
"$root/bin/builderd" --help >>"$log_file" 2>&1 || die "bin/builderd --help failed; see $log_file"

# ---------------------------------------------------------------------------------------------
# nginx (static 4 KiB file) and the daemon
# ---------------------------------------------------------------------------------------------
small="$work/small.bin"
head -c 4096 /dev/urandom >"$small"
small_sha=$(openssl dgst -sha256 -r "$small" | cut -d' ' -f1)
ng="$work/nginx"
mkdir -p "$ng/www" "$ng/logs"
cp "$small" "$ng/www/small.bin"
user_line=""
[[ $EUID -eq 0 ]] && user_line="user root;"
cat >"$ng/nginx.conf" <<EOF
$user_line
daemon off;
worker_processes auto;
pid $ng/nginx.pid;
error_log $ng/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$nginx_port;
    root $ng/www;
  }
}
EOF
nginx -p "$ng" -c "$ng/nginx.conf" -e "$ng/logs/error.log" >>"$results/nginx.log" 2>&1 &
nginx_pid=$!
pids+=("$nginx_pid")

admin_token="bench-$(openssl rand -hex 16)"
auth="Authorization: Bearer $admin_token"
daemon_data="$work/daemon-data"
D="http://127.0.0.1:$daemon_port"
N="http://127.0.0.1:$nginx_port"
start_daemon() { # $1 = log file; sets daemon_pid; returns at once (the caller waits as it needs)
  UNKEY_BUILDERD_PORT=$daemon_port UNKEY_BUILDERD_BIND_ADDRESS=127.0.0.1 \
    UNKEY_BUILDERD_DATA_DIR="$daemon_data" UNKEY_BUILDERD_ADMIN_TOKEN="$admin_token" \
    BUILDERD_JAVA_OPTS="-Xmx256m -XX:ErrorFile=$results/hs_err_%p.log ${BENCH_JAVA_OPTS:-}" "$root/bin/builderd" >"$1" 2>&1 &
  daemon_pid=$!
  pids+=("$daemon_pid")
}
start_daemon "$results/daemon.log"
wait_daemon_ready "$results/daemon.log"
# The disk-hit daemon: the same, with its own data and its memory tier off.
UNKEY_BUILDERD_PORT=$disk_port UNKEY_BUILDERD_BIND_ADDRESS=127.0.0.1 UNKEY_BUILDERD_CACHE_MEMORY_TIER_MB=0 \
  UNKEY_BUILDERD_DATA_DIR="$work/disk-data" UNKEY_BUILDERD_ADMIN_TOKEN="$admin_token" \
  BUILDERD_JAVA_OPTS="-Xmx256m -XX:ErrorFile=$results/hs_err_%p.log" "$root/bin/builderd" >"$results/daemon-disk.log" 2>&1 &
disk_pid=$!
pids+=("$disk_pid")
K="http://127.0.0.1:$disk_port"
for _ in $(seq 1200); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' "$K/health/ready" || true) == 200 ]] && break
  kill -0 "$disk_pid" 2>/dev/null || die "the disk-hit daemon exited at start; see $results/daemon-disk.log"
  sleep 0.05
done
for _ in $(seq 100); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' "$N/small.bin" || true) == 200 ]] && break
  sleep 0.05
done
say "nginx (pid $nginx_pid) on 127.0.0.1:$nginx_port, daemon (pid $daemon_pid, -Xmx256m) on 127.0.0.1:$daemon_port, memory tier off (pid $disk_pid) on 127.0.0.1:$disk_port"

# Two tenants with a token each: plaintext (the harness's pro tenant) and encrypted (enterprise).
api PUT /v1/tenants/plain -H 'Content-Type: application/json' -d "$plain_tenant" >>"$log_file"
api PUT /v1/tenants/secret -H 'Content-Type: application/json' -d '{"tier":"enterprise","limits":{'"$unlimited_rate"'}}' >>"$log_file"
token_of() { api POST "/v1/tenants/$1/tokens" | sed -n 's/.*"token" *: *"\([^"]*\)".*/\1/p'; }
plain_auth="Authorization: Bearer $(token_of plain)"
secret_auth="Authorization: Bearer $(token_of secret)"
entry=dependencies/npm/bench-4k.tgz
for t in plain secret; do
  [[ $t == plain ]] && a=$plain_auth || a=$secret_auth
  curl -sS --fail-with-body -X PUT -H "$a" --data-binary "@$small" "$D/v1/tenants/$t/cache/$entry" >>"$log_file"
  [[ $(curl -sS --fail -H "$a" "$D/v1/tenants/$t/cache/$entry" | openssl dgst -sha256 -r | cut -d' ' -f1) == "$small_sha" ]] ||
    die "the 4 KiB cache entry of $t reads back different"
done
curl -sS --fail-with-body -X PUT -H "$auth" -H 'Content-Type: application/json' -d "$plain_tenant" "$K/v1/tenants/plain" >>"$log_file"
disk_auth="Authorization: Bearer $(curl -sS --fail-with-body -X POST -H "$auth" "$K/v1/tenants/plain/tokens" | sed -n 's/.*"token" *: *"\([^"]*\)".*/\1/p')"
curl -sS --fail-with-body -X PUT -H "$disk_auth" --data-binary "@$small" "$K/v1/tenants/plain/cache/$entry" >>"$log_file"
[[ $(curl -sS --fail -H "$disk_auth" "$K/v1/tenants/plain/cache/$entry" | openssl dgst -sha256 -r | cut -d' ' -f1) == "$small_sha" ]] ||
  die "the 4 KiB cache entry of the disk-hit daemon reads back different"
stored_plain=$(find "$daemon_data" -path "*/plain/cache/$entry" -print -quit)
stored_secret=$(find "$daemon_data" -path "*/secret/cache/$entry" -print -quit)
[[ -n $stored_plain && -n $stored_secret ]] || die "cannot find the stored cache entries under $daemon_data"
rest_plain=$(cmp -s "$stored_plain" "$small" && echo "plaintext" || echo "NOT the plaintext")
rest_secret=$(cmp -s "$stored_secret" "$small" && echo "PLAINTEXT" || echo "encrypted ($(stat -c %s "$stored_secret") bytes stored)")
say "at rest: plain $rest_plain, secret $rest_secret"
printf 'measure\tserver\trun\tvalue\tunit\n' >"$results/raw.tsv"

# ---------------------------------------------------------------------------------------------
# 1. 4 KiB GETs
# ---------------------------------------------------------------------------------------------
wrk_rps() { # label url [wrk args...] -> requests/s; fails on errors or non-2xx answers
  local label=$1 url=$2 out
  shift 2
  out=$(wrk --latency "$@" "$url")
  printf '== %s\n%s\n' "$label" "$out" >>"$results/wrk.txt"
  if grep -q 'Non-2xx or 3xx responses' <<<"$out"; then die "wrk $label: non-2xx answers; see $results/wrk.txt"; fi
  awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out"
}
get_args=(-t2 -c32 -d"${wrk_seconds}s")
say "4 KiB GETs: wrk ${get_args[*]}, $runs runs each, after a warm-up (the JIT needs ~10 s of load)"
wrk -t2 -c32 -d2s "$N/small.bin" >/dev/null
wrk -t2 -c32 -d10s -H "$plain_auth" "$D/v1/tenants/plain/cache/$entry" >/dev/null
wrk -t2 -c32 -d5s -H "$secret_auth" "$D/v1/tenants/secret/cache/$entry" >/dev/null
wrk -t2 -c32 -d10s -H "$disk_auth" "$K/v1/tenants/plain/cache/$entry" >/dev/null
get_n=() get_p=() get_s=() get_k=()
g_nginx() { v=$(wrk_rps "nginx get $i" "$N/small.bin" "${get_args[@]}"); get_n+=("$v"); raw "get_4k	nginx	$i	$v	req/s"; }
g_plain() { v=$(wrk_rps "plain get $i" "$D/v1/tenants/plain/cache/$entry" "${get_args[@]}" -H "$plain_auth"); get_p+=("$v"); raw "get_4k	daemon-plain	$i	$v	req/s"; }
g_disk() { v=$(wrk_rps "plain disk get $i" "$K/v1/tenants/plain/cache/$entry" "${get_args[@]}" -H "$disk_auth"); get_k+=("$v"); raw "get_4k	daemon-plain-disk	$i	$v	req/s"; }
g_secret() { v=$(wrk_rps "secret get $i" "$D/v1/tenants/secret/cache/$entry" "${get_args[@]}" -H "$secret_auth"); get_s+=("$v"); raw "get_4k	daemon-encrypted	$i	$v	req/s"; }
for i in $(seq "$runs"); do
  case $((i % 4)) in   # rotate the order, so that none always goes first
    1) g_nginx; g_plain; g_disk; g_secret ;;
    2) g_plain; g_disk; g_secret; g_nginx ;;
    3) g_disk; g_secret; g_nginx; g_plain ;;
    0) g_secret; g_nginx; g_plain; g_disk ;;
  esac
  say "  run $i: nginx ${get_n[-1]}, daemon plain: memory ${get_p[-1]}, disk ${get_k[-1]}; encrypted: memory ${get_s[-1]} req/s"
done
kill -TERM "$disk_pid" 2>/dev/null || true
wait "$disk_pid" 2>/dev/null || true
forget_pid "$disk_pid"

# ---------------------------------------------------------------------------------------------
# 2. 64 concurrent durable 4 KiB PUTs against the single-writer fsync rate
# ---------------------------------------------------------------------------------------------
put_args=(-t2 -c64 -d"${wrk_seconds}s" -s "$root/bench/lib/cache-put.lua")
say "64 concurrent 4 KiB cache PUTs (wrk ${put_args[*]}) against fsync-rate.py, $runs runs each"
put_d=() fsync_n=()
p_daemon() {
  v=$(BENCH_PUT_PREFIX="npm/put-$i" wrk_rps "plain put $i" "$D/v1/tenants/plain/cache/dependencies/" "${put_args[@]}" -H "$plain_auth")
  put_d+=("$v"); raw "put_4k_c64	daemon-plain	$i	$v	entries/s"
}
p_fsync() {
  v=$(python3 "$root/bench/lib/fsync-rate.py" "$work/fsync-rate" "$wrk_seconds")
  fsync_n+=("$v"); raw "fsync_publish_4k	single-writer	$i	$v	files/s"
}
BENCH_PUT_PREFIX="npm/warm" wrk -t2 -c64 -d3s -s "$root/bench/lib/cache-put.lua" -H "$plain_auth" "$D/v1/tenants/plain/cache/dependencies/" >/dev/null
for i in $(seq "$runs"); do
  if ((i % 2)); then p_fsync; p_daemon; else p_daemon; p_fsync; fi
  say "  run $i: single-writer fsync ${fsync_n[-1]} files/s, daemon ${put_d[-1]} entries/s"
done
usage_entries() { # -> the entries of plain's dependencies in the cache index
  api GET /v1/tenants/plain/cache-policies | python3 -c '
import json, sys
print(next(t for t in json.load(sys.stdin)["cache_types"] if t["type"] == "dependencies")["entries"])'
}
# Every stored file is indexed and reads back: the files under the type's directory (the 4 KiB GET
# entry and the PUT ones) are as many as the index's entries, once the PUTs that wrk left in flight
# when it stopped have ended.
type_dir=${stored_plain%/npm/bench-4k.tgz}
for _ in $(seq 20); do
  indexed=$(usage_entries)
  put_files=$(find "$type_dir/npm" -type f | wc -l)
  [[ $put_files == "$indexed" && $(usage_entries) == "$indexed" ]] && break
  sleep 0.5
done
[[ $put_files == "$indexed" ]] || die "$put_files files of plain's dependencies are stored, but the index has $indexed entries"
sample_key=$(find "$type_dir/npm/put-1" -type f -print -quit)
sample_key=${sample_key#"$type_dir/"}
[[ $(curl -sS -o /dev/null -w '%{http_code}' -H "$plain_auth" "$D/v1/tenants/plain/cache/dependencies/$sample_key") == 200 ]] ||
  die "the PUT entry $sample_key does not read back"
say "  $indexed entries stored and indexed"

# ---------------------------------------------------------------------------------------------
# 3. Fill BENCH_CACHE_ENTRIES entries directly, then restart to the first cache hit
# ---------------------------------------------------------------------------------------------
restart_to_hit() { # $1 = log name; sets restart_took to the ms from the process start to the first 200 of a cache GET
  local t0 deadline
  t0=$(now_ns)
  start_daemon "$results/$1.log"
  deadline=$((SECONDS + 60))
  until [[ $(curl -s -o /dev/null -w '%{http_code}' -H "$plain_auth" "$D/v1/tenants/plain/cache/$entry" || true) == 200 ]]; do
    kill -0 "$daemon_pid" 2>/dev/null || die "the daemon exited at start; see $results/$1.log"
    ((SECONDS < deadline)) || die "no cache hit within 60 s of the start; see $results/$1.log"
    sleep 0.005
  done
  restart_took=$((($(now_ns) - t0) / 1000000))
}
small_entries=$indexed
stop_daemon
restart_small_ms=()
for i in $(seq "$restarts"); do
  restart_to_hit "daemon-restart-small-$i"
  v=$restart_took
  restart_small_ms+=("$v"); raw "restart_to_hit_small	daemon	$i	$v	ms"
  say "  restart $i with $small_entries entries: first cache hit $v ms after the process started"
  stop_daemon
done
say "filling $entries entries of $entry_bytes bytes into plain's dependencies (files + index rows + ledger, daemon stopped)"
t0=$(now_ns)
python3 "$root/bench/lib/cache-fill.py" "$daemon_data/metadata/builderd.db" "$type_dir" plain dependencies npm/fill \
  "$entries" "$entry_bytes" >>"$log_file"
sync
fill_s=$(awk -v ns=$(($(now_ns) - t0)) 'BEGIN {printf "%.0f", ns / 1e9}')
say "  filled in $fill_s s"
restart_ms=()
for i in $(seq "$restarts"); do
  ((i == 1)) || stop_daemon
  restart_to_hit "daemon-restart-$i"
  v=$restart_took
  restart_ms+=("$v"); raw "restart_to_hit	daemon	$i	$v	ms"
  say "  restart $i: first cache hit $v ms after the process started"
done

# ---------------------------------------------------------------------------------------------
# 4. Evict them all
# ---------------------------------------------------------------------------------------------
before=$(usage_entries)
ledger_before=$(api GET /v1/tenants/plain/usage)
say "evicting all $before entries of plain's dependencies: max_size_bytes 1"
t0=$(now_ns)
api PUT /v1/tenants/plain/cache-policies/dependencies -H 'Content-Type: application/json' -d '{"max_size_bytes":1}' >>"$log_file"
evict_ns=$(($(now_ns) - t0))
after=$(usage_entries)
ledger_after=$(api GET /v1/tenants/plain/usage)
echo "usage before: $ledger_before" >>"$log_file"
echo "usage after: $ledger_after" >>"$log_file"
evicted=$((before - after))
left=$(find "$type_dir/npm/fill" -type f | wc -l)
evict_s=$(awk -v ns="$evict_ns" 'BEGIN {printf "%.1f", ns / 1e9}')
evict_rate=$(awk -v ns="$evict_ns" -v n="$evicted" 'BEGIN {printf "%.0f", n / (ns / 1e9)}')
raw "evict_all	daemon	1	$evict_rate	entries/s"
say "  evicted $evicted entries in $evict_s s ($evict_rate entries/s); $after left in the index, $left filled files left on disk"
stop_daemon

# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
med() { echo "$*" | median; }
best() { echo "$*" | maximum; }
gn=$(med "${get_n[*]}") gp=$(med "${get_p[*]}") gs=$(med "${get_s[*]}") gk=$(med "${get_k[*]}")
pd=$(med "${put_d[*]}") fn=$(med "${fsync_n[*]}")
rs=$(echo "${restart_ms[*]}" | median | cut -d. -f1)
rss=$(echo "${restart_small_ms[*]}" | median | cut -d. -f1)
target() { awk -v r="$1" -v t="$2" 'BEGIN {print (r >= t ? "met" : "**missed**")}'; }
table=$(cat <<EOF
| Measure | Daemon (median / best) | Baseline (median / best) | Ratio daemon/baseline (medians) | Target |
|---|---|---|---|---|
| 4 KiB cache GETs/s, plaintext tenant, memory-tier hits (wrk -t2 -c32) | $gp / $(best "${get_p[*]}") | nginx static GET: $gn / $(best "${get_n[*]}") | $(ratio "$gp" "$gn") | ≥ 0.5: $(target "$(ratio "$gp" "$gn")" 0.5) |
| 4 KiB cache GETs/s, plaintext tenant, disk hits (memory tier off: the file of the filesystem store) | $gk / $(best "${get_k[*]}") | nginx static GET: $gn / $(best "${get_n[*]}") | $(ratio "$gk" "$gn") | reported |
| 4 KiB cache GETs/s, encrypted tenant, memory-tier hits (ciphertext in memory, decrypted per read) | $gs / $(best "${get_s[*]}") | nginx static GET: $gn / $(best "${get_n[*]}") | $(ratio "$gs" "$gn") | reported |
| 4 KiB durable cache PUTs/s, 64 clients, distinct keys (wrk -t2 -c64) | $pd / $(best "${put_d[*]}") | one writer: write + fsync + rename + fsync dir: $fn / $(best "${fsync_n[*]}") | $(ratio "$pd" "$fn") | reported |
| Restart to the first cache hit, $before entries indexed | $rs ms / $(echo "${restart_ms[*]}" | minimum) ms | the same restart with $small_entries entries: $rss ms / $(echo "${restart_small_ms[*]}" | minimum) ms | $(ratio "$rs" "$rss") | < 5000 ms: $( ((rs < 5000)) && echo met || echo "**missed**") |
| Eviction of $evicted entries (one policy change), entries/s | $evict_rate ($evict_s s) | — | — | reported |
EOF
)
echo "$table" >"$results/table.md"

if [[ -z ${BENCH_NO_DOC:-} ]]; then
  knobs=""
  [[ $entries == 1000000 ]] || knobs+="BENCH_CACHE_ENTRIES=$entries "
  [[ $runs == 3 ]] || knobs+="BENCH_RUNS=$runs "
  [[ $wrk_seconds == 8 ]] || knobs+="BENCH_WRK_SECONDS=$wrk_seconds "
  section="$results/section.md"
  {
    echo "<!-- caches:begin -->"
    echo "## Caches"
    echo
    cat <<EOF
Written by \`bench/run-cache.sh\` (about $((SECONDS / 60 + 1)) min). The daemon (\`bin/builderd\`,
filesystem backend, SQLite, -Xmx256m) and nginx on 127.0.0.1, side by side in the same run (for
the disk hits, a second daemon with its memory tier off); the daemon serves two tenants, \`plain\` (the harness's pro tenant, stored as plaintext: $rest_plain
at rest) and \`secret\` (\`{"tier":"enterprise"}\`, always encrypted: $rest_secret), each with its
own tenant token.

\`\`\`
${knobs}bench/run-cache.sh
\`\`\`

| | |
|---|---|
$(machine_rows)
| disk | $(df -P "$work" | awk 'NR==2 {print $1}'), $fstype (the daemon's data and the fsync baseline in one temp dir under $work_parent) |
| daemon | \`bin/builderd\`, \`-Xmx256m\`, defaults otherwise (one INFO log line per request) |
| nginx | $(nginx -v 2>&1 | sed 's/^nginx version: //'), \`worker_processes auto\`, \`sendfile on\`, no access log |
| repetitions | $runs runs of each wrk and fsync measurement, rotating which goes first; $restarts restarts before and $restarts after the fill |
| CPU busy before the run | ${busy_before}% (other work on the machine; > 15% makes the figures noisy) |
| load average | $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end |

$table

Method: the GETs are \`wrk -t2 -c32 -d${wrk_seconds}s\` (bench/run-e2e.sh's 4 KiB settings) of
\`/v1/tenants/T/cache/$entry\` with the tenant's token, after warm-ups (10 s plaintext, 5 s
encrypted; the body was checked against the file's SHA-256), and of nginx's static copy of the
same 4 KiB; wrk shares the $(nproc) cores with the server under test. The memory-tier hits are
the daemon's defaults (\`CACHE_MEMORY_TIER_MB\` 256); the disk hits come from a second daemon,
started alike with its own data and \`UNKEY_BUILDERD_CACHE_MEMORY_TIER_MB=0\`, idle while the
others are measured and stopped after the GETs. The PUTs are \`wrk -t2 -c64\` with \`bench/lib/cache-put.lua\`: every request a new
key \`npm/put-<run>/<thread>-<n>.tgz\` with the same 4 KiB body, so each one reserves quota, publishes
its file durably (fsync of the file and its directory) and commits its index row and ledger line
before its 201; a non-2xx answer fails the run. The baseline is \`bench/lib/fsync-rate.py\`: one
thread writing 4 KiB to a new file, fsync, rename to its own name, fsync of the directory, on the
same file system, for ${wrk_seconds} s. For the restart and eviction tests the daemon was stopped
and $entries entries of $entry_bytes bytes were added to \`plain\`'s dependencies by
\`bench/lib/cache-fill.py\` ($fill_s s): files in the store's tree (1000 per directory) and, in one
SQLite transaction, their index rows with the type's cache usage and the quota ledger's cache
line raised by the same figures, which is what that many PUTs leave behind (not made through the
API, to keep the run short). Before the fill, the same restart with only the entries the PUT
test left is the baseline: what a start costs whatever the cache holds. A restart is timed from the daemon's process start (JVM start
included) to the first 200 of a GET of the plaintext 4 KiB entry, polled every 5 ms. The
eviction is one \`PUT /v1/tenants/plain/cache-policies/dependencies {"max_size_bytes":1}\`, which
answers once it has evicted what it can, timed around that request; after it, $after entries
were left in the index and $left of the filled files on disk.

EOF
    if [[ -f $root/bench/cache-notes.md ]]; then cat "$root/bench/cache-notes.md"; fi
    echo "<!-- caches:end -->"
  } >"$section"
  replace_doc_section caches "$section" "$root/docs/performance.md"
  say "wrote the caches section of docs/performance.md"
fi

echo
echo "$table"
echo
say "done; raw output in $results"
