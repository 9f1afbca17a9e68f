#!/usr/bin/env bash
# The daemon's S3 backend against the AWS CLI, side by side, on one s3proxy on loopback.
#
#   bench/run-s3.sh
#
# One run: installs the AWS CLI if missing (as root, via apt), starts ONE s3proxy 4.1.0
# (filesystem-nio2 storage in a temp directory on a real disk, v2/v4 signatures checked) and the
# daemon (bin/builderd, -Xmx512m, S3 backend pointed at that s3proxy, temp data dir) on 127.0.0.1,
# then for BENCH_S3_RUNS rounds, alternating which client goes first:
#   - AWS CLI upload of a 1 GiB file   (aws s3 cp FILE s3://bucket/key), timed
#   - AWS CLI download                 (aws s3 cp s3://bucket/key - >/dev/null), timed
#   - daemon PUT of the same file      (curl -T .../artifacts/NAME; the daemon also hashes it)
#   - daemon GET                       (curl -o /dev/null)
# verifies once that the daemon's GET returns the file's SHA-256, optionally tries other daemon
# parallel-I/O settings (BENCH_S3_TRY), writes the section "S3 backend against the AWS CLI
# (s3proxy)" into docs/performance.md (with the hand-written bench/s3-notes.md; between the markers <!-- s3-bench:begin --> and
# <!-- s3-bench:end -->, replacing an earlier one; bench/run-e2e.sh carries that block over when it
# regenerates the file), prints the table, keeps raw output in bench/results/s3-<timestamp>/
# (git-ignored), and cleans up (processes by PID, big files) on exit.
#
# Knobs (environment); the defaults are the documented benchmark:
#   BENCH_S3_RUNS=3         rounds of the four transfers (median and best reported)
#   BENCH_S3_MIB=1024       size of the file
#   BENCH_S3_TRY="10:8 10:16" further daemon settings, WORKERS:PART_MIB each (UNKEY_BUILDERD_IO_WORKERS,
#                           UNKEY_BUILDERD_IO_PART_SIZE_MB), each measured with BENCH_S3_TRY_RUNS
#                           rounds of daemon PUT and GET (daemon restarted); "" for none
#   BENCH_S3_TRY_RUNS=2
#   BENCH_S3_TLS=0          1: s3proxy on https (self-signed certificate trusted by both clients)
#   BENCH_WORK_DIR=/var/tmp where the temp directory goes (must not be tmpfs)
#   BENCH_S3PROXY_PORT=18490 BENCH_DAEMON_PORT=18492
#   BENCH_S3PROXY_JAR=...   an s3proxy jar-with-dependencies (default: blob-s3/target/s3proxy, the
#                           local Maven repository, or ./mvnw dependency:copy)
#   BENCH_NO_DOC=1          do not rewrite docs/performance.md
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${BENCH_S3_RUNS:-3}
big_mib=${BENCH_S3_MIB:-1024}
try_configs=${BENCH_S3_TRY-10:8 10:16}
try_runs=${BENCH_S3_TRY_RUNS:-2}
s3_port=${BENCH_S3PROXY_PORT:-18490}
daemon_port=${BENCH_DAEMON_PORT:-18492}
work_parent=${BENCH_WORK_DIR:-/var/tmp}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
results="$root/bench/results/s3-$stamp"
mkdir -p "$results"
log_file="$results/run.log"
# shellcheck disable=SC2034   # read by bench/lib/harness.sh
bench_name="bench/run-s3.sh"
# say, die, now_ns, make_work_dir (with cleanup on exit), forget_pid, check_idle, the daemon's readiness wait, stop_daemon,
# api, the statistics helpers, raw, proc_ticks and replace_doc_section
# shellcheck source=bench/lib/harness.sh
# shellcheck disable=SC1091
source "$root/bench/lib/harness.sh"

# ---------------------------------------------------------------------------------------------
# 1. Tools
# ---------------------------------------------------------------------------------------------
missing=()
for tool in aws curl openssl; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
  if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "installing: ${missing[*]} (apt: awscli curl openssl)"
    apt-get update -qq >>"$log_file" 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq awscli curl openssl >>"$log_file" 2>&1
  else
    die "missing: ${missing[*]}. Install them, e.g. as root: apt-get install -y awscli curl openssl"
  fi
fi
aws_version=$(aws --version 2>&1 | head -1)

# shellcheck source=bin/lib/jdk.sh
# shellcheck disable=SC1091
source "$root/bin/lib/jdk.sh"   # exports JAVA_HOME of a JDK >= 21 (exits with a message if none)

s3proxy_jar=${BENCH_S3PROXY_JAR:-}
if [[ -z $s3proxy_jar ]]; then
  for candidate in "$root/blob-s3/target/s3proxy/s3proxy.jar" \
    "$HOME/.m2/repository/org/gaul/s3proxy/4.1.0/s3proxy-4.1.0-jar-with-dependencies.jar"; do
    if [[ -f $candidate ]]; then s3proxy_jar=$candidate; break; fi
  done
fi
if [[ -z $s3proxy_jar ]]; then
  say "fetching s3proxy 4.1.0 (./mvnw dependency:copy)"
  (cd "$root" && ./mvnw -q dependency:copy -Dartifact=org.gaul:s3proxy:4.1.0:jar:jar-with-dependencies \
    -DoutputDirectory="$results/s3proxy") >>"$log_file" 2>&1 || die "could not fetch s3proxy; see $log_file"
  s3proxy_jar="$results/s3proxy/s3proxy-4.1.0-jar-with-dependencies.jar"
fi
[[ -f $s3proxy_jar ]] || die "no s3proxy jar at $s3proxy_jar"

for port in "$s3_port" "$daemon_port"; do
  if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port on 127.0.0.1 is in use; choose others with BENCH_S3PROXY_PORT / BENCH_DAEMON_PORT"
  fi
done

# ---------------------------------------------------------------------------------------------
# 2. Work directory (a real disk), clean-up
# ---------------------------------------------------------------------------------------------
make_work_dir builderd-bench-s3
loads=()   # 1-minute load average at each timed transfer
check_idle

mib=$((1024 * 1024))
avail_kib=$(df -Pk "$work" | awk 'NR==2 {print $4}')
# The source file, the CLI's object, the daemon's object, and s3proxy's multipart parts while
# an upload completes: about 5 x the file, plus slack.
need_mib=$((5 * big_mib + 2048))
((avail_kib / 1024 >= need_mib)) || die "only $((avail_kib / 1024)) MiB free under $work_parent; need about $need_mib MiB"
say "work directory $work ($fstype, $((avail_kib / 1024 / 1024)) GiB free), results in $results"

say "building the daemon jar if stale (bin/builderd --help)"
"$root/bin/builderd" --help >>"$log_file" 2>&1 || die "bin/builderd --help failed; see $log_file"

big="$work/big.bin"
say "generating the ${big_mib} MiB test file"
head -c $((big_mib * mib)) /dev/zero | openssl enc -aes-256-ctr -pass pass:builderd-bench-s3 -nosalt -pbkdf2 2>/dev/null >"$big"
big_bytes=$(stat -c %s "$big")
big_sha=$(openssl dgst -sha256 -r "$big" | cut -d' ' -f1)
warm="$work/warm.bin"   # for warm-ups (JIT, connection pools): an eighth of the file
head -c $((big_mib * mib / 8)) "$big" >"$warm"

# ---------------------------------------------------------------------------------------------
# 3. s3proxy, the AWS CLI, the daemon
# ---------------------------------------------------------------------------------------------
s3_id="bench-$(openssl rand -hex 6)"
s3_secret=$(openssl rand -hex 20)
bucket="builderd-bench"
mkdir -p "$work/s3proxy-data"
# BENCH_S3_TLS=1: s3proxy on HTTPS with a self-signed certificate that both clients trust; the
# production setting, where the SDK sends UNSIGNED-PAYLOAD instead of hashing every part.
transport=http
curl_tls=()
daemon_tls=()
if [[ ${BENCH_S3_TLS:-0} == 1 ]]; then
  transport=https
  "$JAVA_HOME/bin/keytool" -genkeypair -alias s3proxy -keyalg RSA -keysize 2048 -validity 2 -dname CN=127.0.0.1 \
    -ext SAN=IP:127.0.0.1 -keystore "$work/keystore.jks" -storetype JKS -storepass changeit -keypass changeit >>"$log_file" 2>&1
  "$JAVA_HOME/bin/keytool" -exportcert -rfc -alias s3proxy -keystore "$work/keystore.jks" -storepass changeit \
    >"$work/ca.pem" 2>>"$log_file"
  endpoint_properties="s3proxy.secure-endpoint=https://127.0.0.1:$s3_port
s3proxy.keystore-path=$work/keystore.jks
s3proxy.keystore-password=changeit"
  curl_tls=(--cacert "$work/ca.pem")
  export AWS_CA_BUNDLE="$work/ca.pem"
  daemon_tls=(UNKEY_BUILDERD_STORAGE_TLS_ENABLED=true "UNKEY_BUILDERD_STORAGE_TLS_CA_FILE=$work/ca.pem")
else
  endpoint_properties="s3proxy.endpoint=http://127.0.0.1:$s3_port"
fi
cat >"$work/s3proxy.properties" <<EOF
$endpoint_properties
s3proxy.authorization=aws-v2-or-v4
s3proxy.identity=$s3_id
s3proxy.credential=$s3_secret
jclouds.provider=filesystem-nio2
jclouds.filesystem.basedir=$work/s3proxy-data
jclouds.identity=unused
jclouds.credential=unused
EOF
s3proxy_opts="-Xmx512m"
# shellcheck disable=SC2086
"$JAVA_HOME/bin/java" $s3proxy_opts -jar "$s3proxy_jar" --properties "$work/s3proxy.properties" >"$results/s3proxy.log" 2>&1 &
s3proxy_pid=$!
pids+=("$s3proxy_pid")
S="$transport://127.0.0.1:$s3_port"
deadline=$((SECONDS + 60))
until [[ $(curl -s "${curl_tls[@]}" -o /dev/null -w '%{http_code}' "$S/" || true) != 000 ]]; do   # any answer (403) = up
  kill -0 "$s3proxy_pid" 2>/dev/null || die "s3proxy exited at start; see $results/s3proxy.log"
  ((SECONDS < deadline)) || die "s3proxy did not answer within 60 s; see $results/s3proxy.log"
  sleep 0.1
done

# The AWS CLI: private config (path-style addressing), credentials from the environment. Checksums
# only when required, as the daemon's SDK client is configured (and what s3proxy understands);
# the CLI's transfer settings stay at their defaults (8 MiB parts, 10 concurrent requests).
export AWS_CONFIG_FILE="$work/aws-config" AWS_SHARED_CREDENTIALS_FILE="$work/aws-credentials"
export AWS_ACCESS_KEY_ID=$s3_id AWS_SECRET_ACCESS_KEY=$s3_secret AWS_DEFAULT_REGION=us-east-1
export AWS_REQUEST_CHECKSUM_CALCULATION=when_required AWS_RESPONSE_CHECKSUM_VALIDATION=when_required
export AWS_PAGER="" AWS_EC2_METADATA_DISABLED=true
: >"$AWS_SHARED_CREDENTIALS_FILE"
aws configure set default.s3.addressing_style path
aws_s3() { aws --endpoint-url "$S" s3 "$@"; }
aws_s3 mb "s3://$bucket" >>"$log_file" 2>&1 || die "could not create the bucket; see $log_file"
say "s3proxy (pid $s3proxy_pid, $s3proxy_opts, filesystem-nio2) on $S, bucket $bucket; $aws_version"

admin_token="bench-$(openssl rand -hex 16)"
auth="Authorization: Bearer $admin_token"
D="http://127.0.0.1:$daemon_port"
start_daemon() { # $1 = name (log, data dir), $2 = workers, $3 = part MiB; sets daemon_pid
  local name=$1 workers=$2 part=$3
  env "${daemon_tls[@]}" UNKEY_BUILDERD_PORT=$daemon_port UNKEY_BUILDERD_BIND_ADDRESS=127.0.0.1 \
    UNKEY_BUILDERD_DATA_DIR="$work/daemon-$name" UNKEY_BUILDERD_ADMIN_TOKEN="$admin_token" \
    UNKEY_BUILDERD_STORAGE_BACKEND=s3 UNKEY_BUILDERD_S3_ENDPOINT="$S" UNKEY_BUILDERD_S3_BUCKET="$bucket" \
    UNKEY_BUILDERD_S3_ACCESS_KEY_ID="$s3_id" UNKEY_BUILDERD_S3_SECRET_ACCESS_KEY="$s3_secret" \
    UNKEY_BUILDERD_S3_REGION=us-east-1 UNKEY_BUILDERD_IO_WORKERS="$workers" UNKEY_BUILDERD_IO_PART_SIZE_MB="$part" \
    BUILDERD_JAVA_OPTS="-Xmx512m -XX:ErrorFile=$results/hs_err_%p.log" \
    "$root/bin/builderd" >"$results/daemon-$name.log" 2>&1 &
  daemon_pid=$!
  pids+=("$daemon_pid")
  wait_daemon_ready "$results/daemon-$name.log"
  # Each configuration gets its own tenant, so its objects never meet another's in the bucket.
  {
    api PUT "/v1/tenants/$name" -H 'Content-Type: application/json' -d "$plain_tenant"
    api POST "/v1/tenants/$name/builds" -H 'Content-Type: application/json' -d '{"build_id":"s3"}'
    echo
  } >>"$log_file"
  A="$D/v1/tenants/$name/builds/s3/artifacts"
}

# ---------------------------------------------------------------------------------------------
# 4. Measurements
# ---------------------------------------------------------------------------------------------
printf 'measure\tclient\tconfig\trun\tvalue\tunit\tload1\n' >"$results/raw.tsv"
load1() { cut -d' ' -f1 /proc/loadavg; }

# CPU seconds spent by the client (this subshell's children: aws or curl), the daemon and
# s3proxy during one transfer, from /proc (utime + stime, cutime + cstime), into cpu.tsv.
# Call both in the same (command-substitution) subshell; cpu_cfg and i label the row.
tick=$(getconf CLK_TCK)
cpu_begin() {
  cpu_me=$BASHPID
  cpu_c0=$(proc_ticks "$cpu_me" 16) cpu_d0=$(proc_ticks "$daemon_pid" 14) cpu_s0=$(proc_ticks "$s3proxy_pid" 14)
}
cpu_end() { # $1 = measure
  local c d s
  c=$(proc_ticks "$cpu_me" 16) d=$(proc_ticks "$daemon_pid" 14) s=$(proc_ticks "$s3proxy_pid" 14)
  awk -v m="$1" -v cfg="$cpu_cfg" -v run="$i" -v t="$tick" -v c=$((c - cpu_c0)) -v d=$((d - cpu_d0)) -v s=$((s - cpu_s0)) \
    'BEGIN {printf "%s\t%s\t%s\t%.2f\t%.2f\t%.2f\n", m, cfg, run, c / t, d / t, s / t}' >>"$results/cpu.tsv"
}
printf 'measure\tconfig\trun\tclient_cpu_s\tdaemon_cpu_s\ts3proxy_cpu_s\n' >"$results/cpu.tsv"
cpu_cfg="4x16"
i=0

cli_put() { # -> MB/s
  local t0 t1
  cpu_begin
  t0=$(now_ns)
  aws_s3 cp --only-show-errors "$big" "s3://$bucket/cli/big.bin" >>"$log_file" 2>&1 || die "aws s3 cp (upload) failed; see $log_file"
  t1=$(now_ns)
  cpu_end put_1g_cli
  mbps_of_ns $((t1 - t0))
}
cli_get() { # -> MB/s
  local t0 t1 size
  cpu_begin
  t0=$(now_ns)
  size=$(set -o pipefail; aws_s3 cp --only-show-errors "s3://$bucket/cli/big.bin" - 2>>"$log_file" | wc -c) || die "aws s3 cp (download) failed; see $log_file"
  t1=$(now_ns)
  cpu_end get_1g_cli
  [[ $size == "$big_bytes" ]] || die "aws s3 cp (download): $size bytes, expected $big_bytes"
  mbps_of_ns $((t1 - t0))
}
daemon_warm() { # JIT, connection pools: PUT and GET of the small file, not timed
  curl -sS --fail -o /dev/null -H "$auth" -H 'Expect:' -T "$warm" "$A/warm.bin" || die "daemon warm-up PUT failed"
  curl -sS --fail -o /dev/null -H "$auth" "$A/warm.bin" || die "daemon warm-up GET failed"
}
daemon_put() { # -> MB/s; checks the status and the digest the daemon answers
  local t0 t1 body code
  cpu_begin
  t0=$(now_ns)
  body=$(curl -sS -w '\n%{http_code}' -H "$auth" -H 'Expect:' -T "$big" "$A/big.bin")
  t1=$(now_ns)
  cpu_end put_1g_daemon
  code=${body##*$'\n'}
  [[ $code == 201 || $code == 200 ]] || die "daemon PUT: status $code: ${body%$'\n'*}"
  [[ $body == *"$big_sha"* ]] || die "daemon PUT: digest differs from $big_sha: ${body%$'\n'*}"
  mbps_of_ns $((t1 - t0))
}
daemon_get() { # -> MB/s (curl's own figure); checks status and size
  local out code size speed
  cpu_begin
  out=$(curl -sS -o /dev/null -w '%{http_code} %{size_download} %{speed_download}' -H "$auth" "$A/big.bin")
  cpu_end get_1g_daemon
  read -r code size speed <<<"$out"
  [[ $code == 200 && $size == "$big_bytes" ]] || die "daemon GET: status $code, $size bytes"
  awk -v s="$speed" 'BEGIN {printf "%.1f", s / 1e6}'
}

start_daemon default 4 16
say "daemon (pid $daemon_pid, -Xmx512m, S3 backend, 4 workers x 16 MiB parts) on 127.0.0.1:$daemon_port"

say "warm-up (not counted; JIT of the daemon and of s3proxy): PUT and GET of a $((big_mib / 8)) MiB file by each client, twice"
for _ in 1 2; do
  aws_s3 cp --only-show-errors "$warm" "s3://$bucket/cli/warm.bin" >>"$log_file" 2>&1 || die "aws s3 cp (warm-up upload) failed; see $log_file"
  aws_s3 cp --only-show-errors "s3://$bucket/cli/warm.bin" - 2>>"$log_file" >/dev/null || die "aws s3 cp (warm-up download) failed; see $log_file"
  daemon_warm
done

cli_up=() cli_down=() d_up=() d_down=()
run_cli() {
  local v
  loads+=("$(load1)"); v=$(cli_put); cli_up+=("$v"); raw "put_1g	aws-cli	default	$i	$v	MB/s	$(load1)"
  loads+=("$(load1)"); v=$(cli_get); cli_down+=("$v"); raw "get_1g	aws-cli	default	$i	$v	MB/s	$(load1)"
}
run_daemon() {
  local v
  loads+=("$(load1)"); v=$(daemon_put); d_up+=("$v"); raw "put_1g	daemon	4x16	$i	$v	MB/s	$(load1)"
  loads+=("$(load1)"); v=$(daemon_get); d_down+=("$v"); raw "get_1g	daemon	4x16	$i	$v	MB/s	$(load1)"
}
say "$runs rounds of upload + download by each client, alternating which goes first"
for i in $(seq "$runs"); do
  if ((i % 2)); then run_cli; run_daemon; else run_daemon; run_cli; fi
  say "  round $i: CLI up ${cli_up[-1]} down ${cli_down[-1]} MB/s; daemon PUT ${d_up[-1]} GET ${d_down[-1]} MB/s"
done
cu_m=$(echo "${cli_up[*]}" | median) cd_m=$(echo "${cli_down[*]}" | median)
got_sha=$(curl -sS --fail -H "$auth" "$A/big.bin" | openssl dgst -sha256 -r | cut -d' ' -f1)
[[ $got_sha == "$big_sha" ]] || die "daemon GET returned sha256 $got_sha, expected $big_sha"
say "daemon GET verified (untimed): sha256 $big_sha"
hwm_kib=$(awk '/^VmHWM:/ {print $2}' "/proc/$daemon_pid/status")
stop_daemon

# Other parallel-I/O settings of the daemon, each on a fresh daemon (same s3proxy).
try_rows=""
for cfg in $try_configs; do
  w=${cfg%%:*} p=${cfg##*:}
  [[ $w =~ ^[0-9]+$ && $p =~ ^[0-9]+$ ]] || die "BENCH_S3_TRY: '$cfg' is not WORKERS:PART_MIB"
  start_daemon "w${w}p${p}" "$w" "$p"
  cpu_cfg="${w}x${p}"
  daemon_warm
  tu=() td=()
  for i in $(seq "$try_runs"); do
    loads+=("$(load1)"); v=$(daemon_put); tu+=("$v"); raw "put_1g	daemon	${w}x${p}	$i	$v	MB/s	$(load1)"
    loads+=("$(load1)"); v=$(daemon_get); td+=("$v"); raw "get_1g	daemon	${w}x${p}	$i	$v	MB/s	$(load1)"
  done
  stop_daemon
  tum=$(echo "${tu[*]}" | median) tub=$(echo "${tu[*]}" | maximum)
  tdm=$(echo "${td[*]}" | median) tdb=$(echo "${td[*]}" | maximum)
  say "  daemon ${w} workers x ${p} MiB: PUT ${tu[*]}, GET ${td[*]} MB/s"
  try_rows+="| daemon, ${w} workers × ${p} MiB parts ($try_runs rounds) | $(fmt "$tum") / $(fmt "$tub") ($(ratio "$tum" "$cu_m")× the CLI's median) | $(fmt "$tdm") / $(fmt "$tdb") ($(ratio "$tdm" "$cd_m")×) |"$'\n'
done

# ---------------------------------------------------------------------------------------------
# 5. Report
# ---------------------------------------------------------------------------------------------
cu_m=$(echo "${cli_up[*]}" | median) cu_b=$(echo "${cli_up[*]}" | maximum)
cd_m=$(echo "${cli_down[*]}" | median) cd_b=$(echo "${cli_down[*]}" | maximum)
du_m=$(echo "${d_up[*]}" | median) du_b=$(echo "${d_up[*]}" | maximum)
dd_m=$(echo "${d_down[*]}" | median) dd_b=$(echo "${d_down[*]}" | maximum)
r_up=$(ratio "$du_m" "$cu_m") r_down=$(ratio "$dd_m" "$cd_m")
verdict() { awk -v r="$1" 'BEGIN {print (r >= 0.9 ? "met" : "**missed**")}'; }
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
load_min=$(echo "${loads[*]}" | tr ' ' '\n' | sort -g | head -1)
load_max=$(echo "${loads[*]}" | maximum)
big_label="$((big_mib / 1024)) GiB"
((big_mib % 1024)) && big_label="${big_mib} MiB"

table=$(cat <<EOF
| $big_label, MB/s (median / best of $runs) | Upload | Download |
|---|---|---|
| AWS CLI (\`aws s3 cp\`, 8 MiB parts, 10 concurrent requests) | $(fmt "$cu_m") / $(fmt "$cu_b") | $(fmt "$cd_m") / $(fmt "$cd_b") |
| daemon, S3 backend, defaults (4 workers × 16 MiB parts) | $(fmt "$du_m") / $(fmt "$du_b") | $(fmt "$dd_m") / $(fmt "$dd_b") |
| ratio daemon / CLI (medians / bests) | $r_up / $(ratio "$du_b" "$cu_b") | $r_down / $(ratio "$dd_b" "$cd_b") |
| target ≥ 0.9 (on medians) | $(verdict "$r_up") | $(verdict "$r_down") |
EOF
)
if [[ -n $try_rows ]]; then
  table+=$'\n\n'"Other daemon settings (each on a restarted daemon after the rounds above; compare with the CLI's medians above):"$'\n\n'
  table+="| $big_label, MB/s (median / best) | daemon PUT | daemon GET |"$'\n'"|---|---|---|"$'\n'"${try_rows%$'\n'}"
fi
cpu_med() { # measure column -> median over the default configuration's rounds
  awk -F'\t' -v m="$1" -v c="$2" '$1 == m && $2 == "4x16" && $3 > 0 {print $c}' "$results/cpu.tsv" | tr '\n' ' ' | median
}
cpu_row() { # label measure
  local c d s
  c=$(cpu_med "$2" 4) d=$(cpu_med "$2" 5) s=$(cpu_med "$2" 6)
  echo "| $1 | $(fmt "$c" 1) | $(fmt "$d" 1) | $(fmt "$s" 1) | $(awk -v a="$c" -v b="$d" -v x="$s" 'BEGIN {printf "%.1f", a + b + x}') |"
}
table+=$'\n\n'"CPU seconds per $big_label transfer (median of the $runs rounds, from /proc; the machine has $(nproc) cores):"$'\n\n'
table+="| transfer | client (aws or curl) | daemon | s3proxy | total |"$'\n'"|---|---|---|---|---|"$'\n'
table+="$(cpu_row "AWS CLI upload" put_1g_cli)"$'\n'"$(cpu_row "daemon PUT" put_1g_daemon)"$'\n'
table+="$(cpu_row "AWS CLI download" get_1g_cli)"$'\n'"$(cpu_row "daemon GET" get_1g_daemon)"
echo "$table" >"$results/table.md"

if [[ -z ${BENCH_NO_DOC:-} ]]; then
  java_version=$("$JAVA_HOME/bin/java" -version 2>&1 | head -1)
  cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
  disk_dev=$(df -P "$work" | awk 'NR==2 {print $1}')
  section="$results/section.md"
  {
    echo "<!-- s3-bench:begin -->"
    echo "## S3 backend against the AWS CLI (s3proxy)"
    echo
    cat <<EOF
Written by \`bench/run-s3.sh\` (about 3 minutes; root installs the AWS CLI with apt when missing;
\`bench/run-e2e.sh\` keeps this block when it rewrites the file). One s3proxy 4.1.0 on 127.0.0.1
(\`filesystem-nio2\` storage on the disk below, signatures checked, $s3proxy_opts) serves both
clients in the same run: the AWS CLI copying a $big_label file to and from it, and the daemon
(\`bin/builderd\`, -Xmx512m, \`UNKEY_BUILDERD_STORAGE_BACKEND=s3\` on that s3proxy) taking the same
file as an artifact PUT and serving it as a GET.

\`\`\`
$( [[ $transport == https ]] && printf "BENCH_S3_TLS=1 " )bench/run-s3.sh
\`\`\`

| | |
|---|---|
| date (UTC) | $(date -u '+%Y-%m-%d %H:%M') |
| transport | \`$transport\` between the clients and s3proxy (\`BENCH_S3_TLS=1\` for https; with https the SDK sends \`UNSIGNED-PAYLOAD\`) |
| CPU | $(nproc) cores, $cpu_model |
| JDK | $java_version |
| disk | $disk_dev, $fstype (source file and s3proxy's storage in one temp dir under $work_parent) |
| AWS CLI | $aws_version, default transfer settings, \`AWS_REQUEST_CHECKSUM_CALCULATION=when_required\` (as the daemon's SDK client) |
| repetitions | $runs rounds of upload + download per client, alternating which client goes first; before them each client uploaded and downloaded an eighth of the file twice (JIT of the daemon and of s3proxy: without it the first 1 GiB upload of the run came out 2–3× slower); the daemon's GET was verified by SHA-256 after the rounds |
| daemon peak RSS | $((hwm_kib / 1024)) MiB (VmHWM over the rounds above, -Xmx512m) |
| CPU busy before the run | ${busy_before}% (other work on the machine; > 15% makes the figures noisy) |
| load average | $load_start at the start, $load_end at the end; 1-minute load between $load_min and $load_max during the timed transfers |

$table

Method: the CLI's upload is \`aws s3 cp FILE s3://bucket/key\`, its download
\`aws s3 cp s3://bucket/key - | wc -c\` (so neither side writes the download to disk), each timed as
the whole command, Python start-up included (~0.3–0.5 s). The daemon's upload is \`curl -T\` of the
same file to \`/v1/tenants/T/builds/B/artifacts/big.bin\` (same name each round; the daemon streams
it to s3proxy as a multipart upload while computing its SHA-256, and commits the metadata row),
timed from the start until its answer, which must carry the file's SHA-256; its download is
\`curl -o /dev/null\` (curl's average speed; the daemon reads the object back with ranged GETs). The
daemon's GET was checked once against the file's SHA-256. MB = 10^6 bytes. Both clients sign
every request with SigV4 over plain HTTP, which includes a SHA-256 of each part's payload.

### Interpretation

EOF
    awk -v u="$r_up" -v d="$r_down" 'BEGIN {
      printf "- Upload: the daemon reached %.0f%% of the AWS CLI'"'"'s throughput (target 90%%): %s.\n", u * 100, (u >= 0.9 ? "met" : "missed")
      printf "- Download: %.0f%% of the AWS CLI'"'"'s throughput (target 90%%): %s.\n", d * 100, (d >= 0.9 ? "met" : "missed")
    }'
    if [[ -f $root/bench/s3-notes.md ]]; then echo; cat "$root/bench/s3-notes.md"; fi
    echo "<!-- s3-bench:end -->"
  } >"$section"
  replace_doc_section s3-bench "$section" "$root/docs/performance.md"
  say "wrote the S3 section of docs/performance.md"
fi

echo
echo "$table"
echo
say "done; raw output in $results"
