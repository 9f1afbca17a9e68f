#!/usr/bin/env bash
# End-to-end benchmark of the Builderd Storage daemon against nginx, side by side, on loopback.
#
#   bench/run-e2e.sh
#
# One run: installs what it needs (as root, via apt), starts nginx (own config, WebDAV PUT,
# sendfile) and the daemon (bin/builderd, -Xmx256m) on 127.0.0.1 with their data in a temp
# directory on a real disk (not tmpfs), measures
#   1. GET of a 1 GiB file           (daemon artifact GET vs nginx static GET, MB/s)
#   2. durable PUT of a 1 GiB file   (daemon PUT, which fsyncs and hashes, vs nginx PUT + sync)
#   3. 4 KiB GETs per second         (wrk, daemon artifact vs nginx static file)
#   4. daemon start-up time          (process start to /health/ready = 200, hyperfine)
#   5. memory                        (-Xmx256m daemon: 4 concurrent 2 GiB uploads, then 4
#                                     concurrent downloads, all verified by SHA-256; peak RSS)
# writes docs/performance.md, prints the table, keeps raw output in bench/results/<timestamp>/
# (git-ignored), and cleans up (processes by PID, big files) on exit.
#
# Knobs (environment), for quick trial runs; the defaults are the documented benchmark:
#   BENCH_RUNS=3            repetitions of the 4 KiB wrk runs (median and best reported)
#   BENCH_BIG_RUNS=5        repetitions of the big GET and PUT (the noisiest figures)
#   BENCH_BIG_MIB=1024      size of the GET/PUT file
#   BENCH_MEM_MIB=2048      size of each of the 4 files of the memory test (scaled down when the
#                           disk has less than 20 GiB free)
#   BENCH_WRK_SECONDS=8     duration of each wrk run
#   BENCH_WORK_DIR=/var/tmp where the temp directory goes (must not be tmpfs)
#   BENCH_NGINX_PORT=18480 BENCH_DAEMON_PORT=18482 BENCH_STARTUP_PORT=18483
#   BENCH_NO_DOC=1          do not rewrite docs/performance.md
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${BENCH_RUNS:-3}
big_runs=${BENCH_BIG_RUNS:-5}
big_mib=${BENCH_BIG_MIB:-1024}
mem_mib=${BENCH_MEM_MIB:-2048}
wrk_seconds=${BENCH_WRK_SECONDS:-8}
nginx_port=${BENCH_NGINX_PORT:-18480}
daemon_port=${BENCH_DAEMON_PORT:-18482}
startup_port=${BENCH_STARTUP_PORT:-18483}
work_parent=${BENCH_WORK_DIR:-/var/tmp}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
results="$root/bench/results/$stamp"
mkdir -p "$results"
log_file="$results/run.log"
# shellcheck disable=SC2034   # read by bench/lib/harness.sh
bench_name="bench/run-e2e.sh"
# say, die, now_ns, make_work_dir (with cleanup on exit), forget_pid, check_idle, the daemon's readiness wait, stop_daemon,
# api, the statistics helpers, raw and doc_section
# shellcheck source=bench/lib/harness.sh
# shellcheck disable=SC1091
source "$root/bench/lib/harness.sh"

# ---------------------------------------------------------------------------------------------
# 1. Tools
# ---------------------------------------------------------------------------------------------
missing=()
for tool in nginx wrk hyperfine curl openssl; do
  command -v "$tool" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
export PATH="$PATH:/usr/sbin:/sbin"
nginx_has_dav() { nginx -V 2>&1 | grep -q -- '--with-http_dav_module'; }
if command -v nginx >/dev/null 2>&1 && ! nginx_has_dav; then
  missing+=("nginx(with the dav module)")
fi
if ((${#missing[@]})); then
  if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "installing: ${missing[*]} (apt)"
    apt-get update -qq >>"$log_file" 2>&1
    # `nginx` on Debian 12 carries the dav module; nginx-light does not.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx wrk hyperfine curl openssl >>"$log_file" 2>&1
    nginx_has_dav || die "the installed nginx lacks http_dav_module: apt-get install nginx-full (or nginx, not nginx-light)"
  else
    die "missing: ${missing[*]}. Install them, e.g. as root: apt-get install -y nginx wrk hyperfine curl openssl (nginx, not nginx-light: the benchmark needs its dav module)"
  fi
fi

# shellcheck source=bin/lib/jdk.sh
# shellcheck disable=SC1091
source "$root/bin/lib/jdk.sh"   # exports JAVA_HOME of a JDK >= 21 (exits with a message if none)

for port in "$nginx_port" "$daemon_port" "$startup_port"; do
  if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port on 127.0.0.1 is in use; choose others with BENCH_NGINX_PORT / BENCH_DAEMON_PORT / BENCH_STARTUP_PORT"
  fi
done

# ---------------------------------------------------------------------------------------------
# 2. Work directory (a real disk), clean-up
# ---------------------------------------------------------------------------------------------
make_work_dir builderd-bench
check_idle

mib=$((1024 * 1024))
avail_kib=$(df -Pk "$work" | awk 'NR==2 {print $4}')
avail_gib=$((avail_kib / 1024 / 1024))
say "work directory $work ($fstype, ${avail_gib} GiB free), results in $results"
# Needed: the big file 3x (source, nginx copy, daemon copy) + 8 x the memory-test size + 2 GiB slack.
need_mib=$((3 * big_mib + 8 * mem_mib + 2048))
if ((avail_kib / 1024 < need_mib)); then
  new_mem=$(((avail_kib / 1024 - 3 * big_mib - 2048) / 8))
  if ((new_mem < 64)); then
    die "only ${avail_gib} GiB free under $work_parent; the benchmark needs about $((need_mib / 1024)) GiB"
  fi
  say "NOTE: only ${avail_gib} GiB free (< $((need_mib / 1024)) GiB): the memory test uses 4 x ${new_mem} MiB instead of 4 x ${mem_mib} MiB"
  mem_mib=$new_mem
fi

# ---------------------------------------------------------------------------------------------
# 3. Daemon jar (built now, so no later start includes a build), input files
# ---------------------------------------------------------------------------------------------
say "building the daemon jar if stale (bin/builderd --help)"
"$root/bin/builderd" --help >>"$log_file" 2>&1 || die "bin/builderd --help failed; see $log_file"

big="$work/big.bin"
small="$work/small.bin"
say "generating the ${big_mib} MiB test file"
head -c $((big_mib * mib)) /dev/zero | openssl enc -aes-256-ctr -pass pass:builderd-bench -nosalt -pbkdf2 2>/dev/null >"$big"
head -c 4096 /dev/urandom >"$small"
big_bytes=$(stat -c %s "$big")
big_sha=$(openssl dgst -sha256 -r "$big" | cut -d' ' -f1)
small_sha=$(openssl dgst -sha256 -r "$small" | cut -d' ' -f1)

# ---------------------------------------------------------------------------------------------
# 4. nginx and the daemon
# ---------------------------------------------------------------------------------------------
ng="$work/nginx"
mkdir -p "$ng/www/put" "$ng/body" "$ng/logs"
cp "$big" "$ng/www/big.bin"
cp "$small" "$ng/www/small.bin"
user_line=""
[[ $EUID -eq 0 ]] && user_line="user root;"   # workers must write into the temp dir we own
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
  client_max_body_size 0;
  client_body_temp_path $ng/body;
  server {
    listen 127.0.0.1:$nginx_port;
    root $ng/www;
    location /put/ {
      dav_methods PUT;
      create_full_put_path on;
      dav_access user:rw;
    }
  }
}
EOF
nginx -p "$ng" -c "$ng/nginx.conf" -e "$ng/logs/error.log" -t >>"$log_file" 2>&1 || die "nginx config test failed; see $log_file"
nginx -p "$ng" -c "$ng/nginx.conf" -e "$ng/logs/error.log" >>"$results/nginx.log" 2>&1 &
nginx_pid=$!
pids+=("$nginx_pid")

admin_token="bench-$(openssl rand -hex 16)"
auth="Authorization: Bearer $admin_token"
daemon_data="$work/daemon-data"
start_daemon() { # $1 = log file, $2.. = extra JVM options; sets daemon_pid
  local log=$1
  shift
  UNKEY_BUILDERD_PORT=$daemon_port UNKEY_BUILDERD_BIND_ADDRESS=127.0.0.1 \
    UNKEY_BUILDERD_DATA_DIR="$daemon_data" UNKEY_BUILDERD_ADMIN_TOKEN="$admin_token" \
    BUILDERD_JAVA_OPTS="-Xmx256m -XX:ErrorFile=$results/hs_err_%p.log $*" "$root/bin/builderd" >"$log" 2>&1 &
  daemon_pid=$!
  pids+=("$daemon_pid")
  wait_daemon_ready "$log"
}
vm_hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

start_daemon "$results/daemon.log" "-Xlog:gc:file=$results/gc.log"
for _ in $(seq 100); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$nginx_port/small.bin" || true) == 200 ]] && break
  sleep 0.05
done
[[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$nginx_port/small.bin") == 200 ]] || die "nginx does not serve; see $ng/logs/error.log"
say "nginx (pid $nginx_pid) on 127.0.0.1:$nginx_port, daemon (pid $daemon_pid, -Xmx256m) on 127.0.0.1:$daemon_port"

D="http://127.0.0.1:$daemon_port"
N="http://127.0.0.1:$nginx_port"
api PUT /v1/tenants/bench -H 'Content-Type: application/json' -d "$plain_tenant" >>"$log_file"
for b in get put small; do
  api POST /v1/tenants/bench/builds -H 'Content-Type: application/json' -d "{\"build_id\":\"$b\"}" >>"$log_file"
done
A="$D/v1/tenants/bench/builds"
say "uploading the ${big_mib} MiB and 4 KiB artifacts"
api PUT /v1/tenants/bench/builds/get/artifacts/big.bin -H 'Expect:' -T "$big" >>"$log_file"
api PUT /v1/tenants/bench/builds/small/artifacts/small.bin -T "$small" >>"$log_file"
echo >>"$log_file"

# ---------------------------------------------------------------------------------------------
# 5. Measurements
# ---------------------------------------------------------------------------------------------
printf 'measure\tserver\trun\tvalue\tunit\n' >"$results/raw.tsv"

# --- GET 1 GiB ---------------------------------------------------------------------------------
get_mbps() { # url [curl args...] -> MB/s (10^6 bytes/s); checks status and size
  local url=$1 out code size speed
  shift
  out=$(curl -sS -o /dev/null -w '%{http_code} %{size_download} %{speed_download}' "$@" "$url")
  read -r code size speed <<<"$out"
  [[ $code == 200 && $size == "$big_bytes" ]] || die "GET $url: status $code, $size bytes"
  awk -v s="$speed" 'BEGIN {printf "%.1f", s / 1e6}'
}
say "GET ${big_mib} MiB: warm-up (both files into the page cache), then $big_runs runs each, alternating"
get_mbps "$N/big.bin" >/dev/null
get_mbps "$A/get/artifacts/big.bin" -H "$auth" >/dev/null
get_n=() get_d=()
get_nginx() { v=$(get_mbps "$N/big.bin"); get_n+=("$v"); raw "get_1g	nginx	$i	$v	MB/s"; }
get_daemon() { v=$(get_mbps "$A/get/artifacts/big.bin" -H "$auth"); get_d+=("$v"); raw "get_1g	daemon	$i	$v	MB/s"; }
for i in $(seq "$big_runs"); do
  if ((i % 2)); then get_nginx; get_daemon; else get_daemon; get_nginx; fi
  say "  run $i: nginx ${get_n[-1]} MB/s, daemon ${get_d[-1]} MB/s"
done

# --- durable PUT 1 GiB -------------------------------------------------------------------------
put_nginx() { # -> MB/s of PUT + sync
  rm -f "$ng/www/put/up.bin"
  sync
  local t0 t1 code
  t0=$(now_ns)
  code=$(curl -sS -o /dev/null -w '%{http_code}' -H 'Expect:' -T "$big" "$N/put/up.bin")
  sync
  t1=$(now_ns)
  [[ $code == 201 || $code == 204 ]] || die "nginx PUT: status $code"
  mbps_of_ns $((t1 - t0))
}
put_daemon() { # $1 = with-digest (0/1) -> "MB/s sync-after-ms"
  local with=$1 t0 t1 t2 code body extra=()
  curl -sS -o /dev/null -X DELETE -H "$auth" "$A/put/artifacts/up.bin" || true
  sync
  ((with)) && extra=(-H "X-Checksum-Sha256: $big_sha")
  t0=$(now_ns)
  body=$(curl -sS -w '\n%{http_code}' -H "$auth" -H 'Expect:' "${extra[@]}" -T "$big" "$A/put/artifacts/up.bin")
  t1=$(now_ns)
  sync
  t2=$(now_ns)
  code=${body##*$'\n'}
  [[ $code == 201 ]] || die "daemon PUT: status $code: ${body%$'\n'*}"
  [[ $body == *"$big_sha"* ]] || die "daemon PUT: digest differs from $big_sha: ${body%$'\n'*}"
  echo "$(mbps_of_ns $((t1 - t0))) $(((t2 - t1) / 1000000))"
}
say "durable PUT ${big_mib} MiB: one warm-up each, then $big_runs runs each of nginx PUT+sync, daemon PUT, daemon PUT with X-Checksum-Sha256"
put_nginx >/dev/null
put_daemon 0 >/dev/null
put_n=() put_d=() put_h=() sync_after=()
put_n_run() { v=$(put_nginx); put_n+=("$v"); raw "put_1g	nginx+sync	$i	$v	MB/s"; }
put_d_run() { out=$(put_daemon 0); read -r v s <<<"$out"; put_d+=("$v"); sync_after+=("$s"); raw "put_1g	daemon	$i	$v	MB/s"; raw "put_1g_sync_after	daemon	$i	$s	ms"; }
put_h_run() { out=$(put_daemon 1); read -r v s <<<"$out"; put_h+=("$v"); sync_after+=("$s"); raw "put_1g	daemon+digest	$i	$v	MB/s"; raw "put_1g_sync_after	daemon+digest	$i	$s	ms"; }
for i in $(seq "$big_runs"); do
  case $((i % 3)) in   # rotate the order, so neither server always goes first
    1) put_n_run; put_d_run; put_h_run ;;
    2) put_d_run; put_h_run; put_n_run ;;
    0) put_h_run; put_n_run; put_d_run ;;
  esac
  say "  run $i: nginx+sync ${put_n[-1]} MB/s, daemon ${put_d[-1]} MB/s, daemon+digest ${put_h[-1]} MB/s"
done
rm -f "$ng/www/put/up.bin"
curl -sS -o /dev/null -X DELETE -H "$auth" "$A/put/artifacts/up.bin" || true

# --- 4 KiB GETs --------------------------------------------------------------------------------
wrk_rps() { # url [wrk args...] -> requests/s; fails on errors or non-2xx answers
  local url=$1 out
  shift
  out=$(wrk -t2 -c32 -d"${wrk_seconds}s" --latency "$@" "$url")
  echo "$out" >>"$results/wrk.txt"
  if grep -q 'Non-2xx or 3xx responses' <<<"$out"; then die "wrk $url: non-2xx answers; see $results/wrk.txt"; fi
  awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out"
}
say "4 KiB GETs: wrk -t2 -c32 -d${wrk_seconds}s, $runs runs each"
[[ $(curl -sS -H "$auth" "$A/small/artifacts/small.bin" | openssl dgst -sha256 -r | cut -d' ' -f1) == "$small_sha" ]] || die "4 KiB artifact differs"
# Warm-up; the daemon's request path needs ~10 s of load before the JIT has compiled it.
wrk -t2 -c32 -d2s "$N/small.bin" >/dev/null
wrk -t2 -c32 -d10s -H "$auth" "$A/small/artifacts/small.bin" >/dev/null
rps_n=() rps_d=()
rps_nginx() { echo "== nginx run $i" >>"$results/wrk.txt"; v=$(wrk_rps "$N/small.bin"); rps_n+=("$v"); raw "get_4k	nginx	$i	$v	req/s"; }
rps_daemon() { echo "== daemon run $i" >>"$results/wrk.txt"; v=$(wrk_rps "$A/small/artifacts/small.bin" -H "$auth"); rps_d+=("$v"); raw "get_4k	daemon	$i	$v	req/s"; }
for i in $(seq "$runs"); do
  if ((i % 2)); then rps_nginx; rps_daemon; else rps_daemon; rps_nginx; fi
  say "  run $i: nginx ${rps_n[-1]} req/s, daemon ${rps_d[-1]} req/s"
done
hwm_main_kib=$(vm_hwm_kib "$daemon_pid")
stop_daemon

# --- start-up ----------------------------------------------------------------------------------
say "start-up to /health/ready: hyperfine, 5 runs with an empty data directory, 5 with an existing one"
export BENCH_STARTUP_PORT=$startup_port BENCH_ADMIN_TOKEN=$admin_token BENCH_STARTUP_LOG="$results/startup-daemons.log"
export BENCH_STARTUP_DATA_DIR="$work/startup-data" BUILDERD_JAVA_OPTS="-Xmx256m"
hyperfine --style basic --runs 5 --prepare "rm -rf '$BENCH_STARTUP_DATA_DIR'" \
  --export-json "$results/startup-cold.json" -n 'cold (empty data dir)' "$root/bench/lib/start-until-ready.sh" >>"$results/hyperfine.txt" 2>&1
hyperfine --style basic --runs 5 --warmup 1 \
  --export-json "$results/startup-warm.json" -n 'warm (existing data dir)' "$root/bench/lib/start-until-ready.sh" >>"$results/hyperfine.txt" 2>&1
unset BUILDERD_JAVA_OPTS
hf() { # json field -> ms
  tr -d ' \n' <"$1" | grep -o "\"$2\":[0-9.e+-]*" | head -1 | cut -d: -f2 | awk '{printf "%.0f", $1 * 1000}'
}
start_cold_med=$(hf "$results/startup-cold.json" median) start_cold_min=$(hf "$results/startup-cold.json" min)
start_warm_med=$(hf "$results/startup-warm.json" median) start_warm_min=$(hf "$results/startup-warm.json" min)
raw "startup_cold	daemon	median	$start_cold_med	ms"; raw "startup_warm	daemon	median	$start_warm_med	ms"
say "  cold: median $start_cold_med ms (best $start_cold_min), warm: median $start_warm_med ms (best $start_warm_min)"

# --- memory: 4 x 2 GiB concurrent, -Xmx256m ----------------------------------------------------
wait_all() { local pid ok=0; for pid in "$@"; do wait "$pid" || ok=1; done; return $ok; }
say "memory: generating 4 x ${mem_mib} MiB input files"
declare -a mem_sha
gen_pids=()
for i in 1 2 3 4; do
  (set -o pipefail; head -c $((mem_mib * mib)) /dev/zero | openssl enc -aes-256-ctr -pass "pass:builderd-mem-$i" -nosalt -pbkdf2 2>/dev/null |
    tee "$work/mem-$i.bin" | openssl dgst -sha256 -r | cut -d' ' -f1 >"$work/mem-$i.sha") &
  gen_pids+=($!)
done
wait_all "${gen_pids[@]}" || die "generating the memory-test files failed"
for i in 1 2 3 4; do mem_sha[i]=$(<"$work/mem-$i.sha"); done
sync
start_daemon "$results/daemon-memory.log" "-Xlog:gc:file=$results/gc-memory.log"
rss_base_kib=$(vm_hwm_kib "$daemon_pid")
for i in 1 2 3 4; do
  api POST /v1/tenants/bench/builds -H 'Content-Type: application/json' -d "{\"build_id\":\"mem-$i\"}" >>"$log_file"
done
( while kill -0 "$daemon_pid" 2>/dev/null; do
    printf '%s %s\n' "$(date +%s.%N)" "$(awk '/^VmRSS:/ {print $2}' "/proc/$daemon_pid/status" 2>/dev/null)"
    sleep 0.25
  done ) >"$results/rss-memory.txt" &
sampler_pid=$!
pids+=("$sampler_pid")

say "memory: 4 concurrent ${mem_mib} MiB uploads (daemon pid $daemon_pid, -Xmx256m)"
t0=$(now_ns)
up_pids=()
for i in 1 2 3 4; do
  curl -sS -H "$auth" -H 'Expect:' -T "$work/mem-$i.bin" -o "$results/mem-upload-$i.json" -w '%{http_code}' \
    "$A/mem-$i/artifacts/rootfs.img" >"$results/mem-upload-$i.status" 2>>"$log_file" &
  up_pids+=($!)
done
wait_all "${up_pids[@]}" || die "a memory-test upload failed; see $log_file"
t1=$(now_ns)
up_ok=0
for i in 1 2 3 4; do
  if [[ $(<"$results/mem-upload-$i.status") == 201 ]] && grep -q "${mem_sha[i]}" "$results/mem-upload-$i.json"; then
    up_ok=$((up_ok + 1))
  else
    say "  upload $i: status $(<"$results/mem-upload-$i.status"), answer $(<"$results/mem-upload-$i.json"), expected ${mem_sha[i]}"
  fi
done
up_s=$(awk -v ns=$((t1 - t0)) 'BEGIN {printf "%.1f", ns / 1e9}')
up_mbps=$(awk -v ns=$((t1 - t0)) -v b=$((4 * mem_mib * mib)) 'BEGIN {printf "%.0f", b / (ns / 1e9) / 1e6}')
hwm_after_up_kib=$(vm_hwm_kib "$daemon_pid")
say "  $up_ok/4 uploads verified in ${up_s} s (${up_mbps} MB/s aggregate), VmHWM $((hwm_after_up_kib / 1024)) MiB"

say "memory: 4 concurrent ${mem_mib} MiB downloads, each hashed as it arrives"
t0=$(now_ns)
down_pids=()
for i in 1 2 3 4; do
  (set -o pipefail; curl -sS --fail -H "$auth" "$A/mem-$i/artifacts/rootfs.img" | openssl dgst -sha256 -r | cut -d' ' -f1 >"$results/mem-download-$i.sha") 2>>"$log_file" &
  down_pids+=($!)
done
wait_all "${down_pids[@]}" || die "a memory-test download failed; see $log_file"
t1=$(now_ns)
down_ok=0
for i in 1 2 3 4; do
  if [[ $(<"$results/mem-download-$i.sha") == "${mem_sha[i]}" ]]; then
    down_ok=$((down_ok + 1))
  else
    say "  download $i: sha256 $(<"$results/mem-download-$i.sha"), expected ${mem_sha[i]}"
  fi
done
down_s=$(awk -v ns=$((t1 - t0)) 'BEGIN {printf "%.1f", ns / 1e9}')
down_mbps=$(awk -v ns=$((t1 - t0)) -v b=$((4 * mem_mib * mib)) 'BEGIN {printf "%.0f", b / (ns / 1e9) / 1e6}')
hwm_mem_kib=$(vm_hwm_kib "$daemon_pid")
say "  $down_ok/4 downloads verified in ${down_s} s (${down_mbps} MB/s aggregate), VmHWM $((hwm_mem_kib / 1024)) MiB"
kill "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
forget_pid "$sampler_pid"
stop_daemon
rm -f "$work"/mem-*.bin
raw "memory_upload	daemon	1	$up_mbps	MB/s"; raw "memory_download	daemon	1	$down_mbps	MB/s"; raw "memory_vmhwm	daemon	1	$hwm_mem_kib	KiB"

# ---------------------------------------------------------------------------------------------
# 6. Report
# ---------------------------------------------------------------------------------------------
gm_n=$(echo "${get_n[*]}" | median) gb_n=$(echo "${get_n[*]}" | maximum)
gm_d=$(echo "${get_d[*]}" | median) gb_d=$(echo "${get_d[*]}" | maximum)
pm_n=$(echo "${put_n[*]}" | median) pb_n=$(echo "${put_n[*]}" | maximum)
pm_d=$(echo "${put_d[*]}" | median) pb_d=$(echo "${put_d[*]}" | maximum)
pm_h=$(echo "${put_h[*]}" | median) pb_h=$(echo "${put_h[*]}" | maximum)
rm_n=$(echo "${rps_n[*]}" | median) rb_n=$(echo "${rps_n[*]}" | maximum)
rm_d=$(echo "${rps_d[*]}" | median) rb_d=$(echo "${rps_d[*]}" | maximum)
sync_max=$(echo "${sync_after[*]}" | maximum)
r_get=$(ratio "$gm_d" "$gm_n") r_put=$(ratio "$pm_d" "$pm_n") r_puth=$(ratio "$pm_h" "$pm_n") r_rps=$(ratio "$rm_d" "$rm_n")
verdict() { awk -v r="$1" -v t="$2" 'BEGIN {print (r >= t ? "met" : "**missed**")}'; }
v_get=$(verdict "$r_get" 0.8) v_put=$(verdict "$r_put" 0.9) v_puth=$(verdict "$r_puth" 0.9)
mem_ok=$([[ $up_ok == 4 && $down_ok == 4 ]] && echo met || echo "**missed**")

java_version=$("$JAVA_HOME/bin/java" -version 2>&1 | head -1)
java_vm=$("$JAVA_HOME/bin/java" -version 2>&1 | sed -n 3p)
cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
mem_total=$(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1024 / 1024}' /proc/meminfo)
disk_dev=$(df -P "$work" | awk 'NR==2 {print $1}')
nginx_version=$(nginx -v 2>&1 | sed 's/^nginx version: //')
mem_label="4 × $((mem_mib / 1024)) GiB"
((mem_mib % 1024)) && mem_label="4 × ${mem_mib} MiB"
big_label="$((big_mib / 1024)) GiB"
((big_mib % 1024)) && big_label="${big_mib} MiB"

table=$(cat <<EOF
| Measure | Daemon (median / best) | nginx baseline (median / best) | Ratio daemon/nginx (medians / bests) | Target (on medians) |
|---|---|---|---|---|
| GET of a $big_label artifact, MB/s | $(fmt "$gm_d") / $(fmt "$gb_d") | $(fmt "$gm_n") / $(fmt "$gb_n") (static file, sendfile) | $r_get / $(ratio "$gb_d" "$gb_n") | ≥ 0.8: $v_get |
| Durable PUT of $big_label, SHA-256 on the server, MB/s | $(fmt "$pm_d") / $(fmt "$pb_d") | $(fmt "$pm_n") / $(fmt "$pb_n") (DAV PUT + \`sync\`) | $r_put / $(ratio "$pb_d" "$pb_n") | ≥ 0.9: $v_put |
| Same, client sends \`X-Checksum-Sha256\`, MB/s | $(fmt "$pm_h") / $(fmt "$pb_h") | $(fmt "$pm_n") / $(fmt "$pb_n") | $r_puth / $(ratio "$pb_h" "$pb_n") | ≥ 0.9: $v_puth |
| 4 KiB GETs per second (wrk -t2 -c32) | $rm_d / $rb_d | $rm_n / $rb_n (static file) | $r_rps / $(ratio "$rb_d" "$rb_n") | reported |
| Start-up to \`/health/ready\` = 200, empty data dir | $start_cold_med ms / $start_cold_min ms | — | — | reported |
| Start-up to \`/health/ready\` = 200, existing data dir | $start_warm_med ms / $start_warm_min ms | — | — | reported |
| -Xmx256m: $mem_label concurrent uploads, SHA-256 verified | $up_ok/4 verified, ${up_s} s, ${up_mbps} MB/s aggregate | — | — | 4/4: $mem_ok |
| -Xmx256m: $mem_label concurrent downloads, SHA-256 verified | $down_ok/4 verified, ${down_s} s, ${down_mbps} MB/s aggregate | — | — | 4/4: $mem_ok |
| Peak RSS (VmHWM) of the -Xmx256m daemon over the GET, PUT and 4 KiB tests | $((hwm_main_kib / 1024)) MiB | — | — | reported |
| Peak RSS (VmHWM) of the -Xmx256m daemon over the memory test | $((hwm_mem_kib / 1024)) MiB (right after start: $((rss_base_kib / 1024)) MiB) | — | — | reported |
EOF
)
echo "$table" >"$results/table.md"

if [[ -z ${BENCH_NO_DOC:-} ]]; then
  mkdir -p "$root/docs"
  notes="$root/bench/performance-notes.md"
  # The sections the other benchmarks write (each between its own markers) are carried over
  # unchanged, with the heading just above each.
  other_blocks=$(other_doc_sections "$root/docs/performance.md")
  {
    cat <<EOF
# Performance

End-to-end figures of the daemon against nginx, measured side by side in one run on loopback
(127.0.0.1) with the filesystem backend and SQLite metadata. nginx is the yardstick: a static
file server with \`sendfile\`, and a WebDAV \`PUT\` followed by \`sync\` as the durable upload. The
daemon's upload does more per byte (SHA-256 while streaming, fsync of the file and its directory,
manifest and \`checksums.sha256\` rewritten, metadata row committed) and its downloads go
through the JVM rather than \`sendfile\`.

Reproduce with one command (root installs nginx, wrk and hyperfine with apt when missing; about 5
minutes, needs ~20 GiB free under /var/tmp):

\`\`\`
bench/run-e2e.sh
\`\`\`

Raw output (curl, wrk, hyperfine JSON, daemon logs, GC log, RSS samples) goes to
\`bench/results/<timestamp>/\`, which git ignores.

## Machine and run

| | |
|---|---|
| date (UTC) | $(date -u '+%Y-%m-%d %H:%M') |
| CPU | $(nproc) cores, $cpu_model |
| memory | $mem_total |
| kernel | $(uname -r) |
| JDK | $java_version ($java_vm) |
| disk | $disk_dev, $fstype (data of both servers in one temp dir under $work_parent) |
| nginx | $nginx_version, \`worker_processes auto\` |
| daemon | \`bin/builderd\`, \`-Xmx256m\`, default logging (one INFO line per request to stderr) |
| repetitions | $big_runs for the big GET and PUT, $runs for the 4 KiB runs, alternating the order of the servers; median and best reported |
| CPU busy before the run | ${busy_before}% (other work on the machine; > 15% makes the figures noisy) |
| load average | $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end (the run itself adds about 2) |

## Results

$table

Method: GETs are \`curl -o /dev/null\` with both files already in the page cache (one warm-up
each), speed as curl reports it (MB = 10^6 bytes). A PUT (\`curl -T\`, \`Expect: 100-continue\` off for both servers) is timed from its start until the
server answered; for nginx the following \`sync\` is inside the timing, and before every PUT of
either server the previous upload is deleted and \`sync\` runs outside the timing. A \`sync\` after
the daemon's answer took at most ${sync_max} ms (the daemon had already flushed its file). The 4 KiB
runs use \`wrk -t2 -c32 -d${wrk_seconds}s\` after a 10 s warm-up, with the admin token's \`Authorization\` header for the daemon;
wrk shares the two cores with the server under test. Start-up is timed by hyperfine around
\`bench/lib/start-until-ready.sh\` (starts \`bin/builderd\`, polls \`/health/ready\` every 5 ms, then kills
the JVM with SIGKILL), so it includes the JVM start and the script's JDK discovery. In the memory
test each input file comes from a different AES-CTR key stream and is hashed while written; uploads
are compared with the digest the daemon answers, downloads are hashed as they arrive.

## Interpretation

EOF
    awk -v g="$r_get" -v p="$r_put" -v h="$r_puth" -v s="$r_rps" 'BEGIN {
      printf "- GET: the daemon reached %.0f%% of nginx'"'"'s throughput (target 80%%): %s.\n", g * 100, (g >= 0.8 ? "met" : "missed")
      printf "- Durable PUT: %.0f%% of nginx PUT + sync with the server computing SHA-256, %.0f%% with the client'"'"'s digest given (target 90%%): %s.\n", p * 100, h * 100, (p >= 0.9 && h >= 0.9 ? "met" : "missed")
      printf "- 4 KiB GETs: %.0f%% of nginx'"'"'s rate; every daemon GET authenticates the token and reads the artifact row from SQLite before it opens the file.\n", s * 100
    }'
    echo "- Memory: with a 256 MiB heap the daemon moved $mem_label up and down concurrently, $up_ok/4 and $down_ok/4 verified, peak RSS $((hwm_mem_kib / 1024)) MiB: bodies stream, nothing is buffered whole."
    echo
    if [[ -f $notes ]]; then cat "$notes"; fi
    if [[ -n $other_blocks ]]; then echo; echo "$other_blocks"; fi
  } >"$root/docs/performance.md"
  say "wrote docs/performance.md"
fi

echo
echo "$table"
echo
say "done; raw output in $results"
