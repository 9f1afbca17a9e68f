#!/usr/bin/env bash
# Encryption at rest, end to end: one daemon, a plaintext tenant and an encrypted one side by side.
#
#   bench/run-encryption.sh
#
# One run: starts ONE daemon (bin/builderd, filesystem backend, -Xmx256m) on 127.0.0.1 with its
# data in a temp directory on a real disk (not tmpfs); through the HTTP API creates the tenants
# `plain` ({"tier":"free"}: plaintext, its artifact quota raised to hold the big file) and `secret`
# ({"tier":"enterprise"}: always encrypted), a token and a build for each; checks on disk which of them the daemon really stored encrypted;
# then measures
#   1. PUT and GET of a 1 GiB artifact to each tenant, BENCH_BIG_RUNS rounds alternating which
#      tenant goes first (MB/s, median and best; ratio encrypted / plaintext)
#   2. a 4 GiB artifact uploaded to `secret`, then 1 MiB range GETs from its middle: the time, the
#      bytes the daemon read for each (rchar of /proc/<daemon pid>/io before and after), and the
#      SHA-256 of the body against the same bytes of the source file; the same range request on
#      the plaintext tenant's 1 GiB artifact for comparison
# writes the section between <!-- encryption-bench:begin --> and <!-- encryption-bench:end --> of
# docs/performance.md (with the hand-written bench/encryption-notes.md when present), prints the
# tables, keeps raw output in bench/results/encryption-<timestamp>/ (git-ignored), and cleans up
# (processes by PID, big files) on exit.
#
# Knobs (environment); the defaults are the documented benchmark:
#   BENCH_BIG_RUNS=5        rounds of PUT + GET per tenant (median and best reported)
#   BENCH_BIG_MIB=1024      size of the PUT/GET file
#   BENCH_RANGE_MIB=4096    size of the encrypted artifact the range GETs read from
#   BENCH_RANGE_RUNS=5      range GETs measured per tenant
#   BENCH_WORK_DIR=/var/tmp where the temp directory goes (must not be tmpfs)
#   BENCH_DAEMON_PORT=18486
#   BENCH_DAEMON_JAVA_OPTS=""  further JVM options of the daemon, e.g. for a profile:
#                           -XX:StartFlightRecording=filename=/tmp/enc.jfr,settings=profile
#   BENCH_PERF=1            also profile 3 more GETs per tenant with `perf record -a` (system-wide, every
#                           process on the 2 cores; needs perf and root) and write where the CPU went
#                           (by thread and by symbol, JIT code named through `jcmd Compiler.perfmap`) to
#                           the results directory: get-<tenant>.perf.txt
#   BENCH_NO_DOC=1          do not rewrite docs/performance.md
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
big_runs=${BENCH_BIG_RUNS:-5}
big_mib=${BENCH_BIG_MIB:-1024}
range_mib=${BENCH_RANGE_MIB:-4096}
range_runs=${BENCH_RANGE_RUNS:-5}
daemon_port=${BENCH_DAEMON_PORT:-18486}
work_parent=${BENCH_WORK_DIR:-/var/tmp}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
results="$root/bench/results/encryption-$stamp"
mkdir -p "$results"
log_file="$results/run.log"
# shellcheck disable=SC2034   # read by bench/lib/harness.sh
bench_name="bench/run-encryption.sh"
# say, die, now_ns, make_work_dir (with cleanup on exit), check_idle, the daemon's readiness wait, stop_daemon,
# api, the statistics helpers, raw, proc_ticks, machine_rows and replace_doc_section
# shellcheck source=bench/lib/harness.sh
# shellcheck disable=SC1091
source "$root/bench/lib/harness.sh"

mib=$((1024 * 1024))
range_len=$mib
((range_mib >= 2 && big_mib >= 2)) || { echo "BENCH_RANGE_MIB and BENCH_BIG_MIB must be at least 2" >&2; exit 1; }
# The measured ranges start in the middle of each artifact, off any segment or page boundary.
range_offset=$((range_mib * mib / 2 + 123457))
plain_range_offset=$((big_mib * mib / 2 + 123457))

# ---------------------------------------------------------------------------------------------
# 1. Tools, JDK, port
# ---------------------------------------------------------------------------------------------
for tool in curl openssl dd cmp; do
  command -v "$tool" >/dev/null 2>&1 || die "missing: $tool (apt-get install -y curl openssl coreutils diffutils)"
done
# shellcheck source=bin/lib/jdk.sh
# shellcheck disable=SC1091
source "$root/bin/lib/jdk.sh"   # exports JAVA_HOME of a JDK >= 21 (exits with a message if none)
if (echo >"/dev/tcp/127.0.0.1/$daemon_port") 2>/dev/null; then
  die "port $daemon_port on 127.0.0.1 is in use; choose another with BENCH_DAEMON_PORT"
fi

# ---------------------------------------------------------------------------------------------
# 2. Work directory (a real disk), clean-up, input files
# ---------------------------------------------------------------------------------------------
make_work_dir builderd-bench-enc
check_idle
avail_kib=$(df -Pk "$work" | awk 'NR==2 {print $4}')
# The big file 3x (source, two tenants' copies), the range file 2x (source, encrypted copy), slack.
need_mib=$((3 * big_mib + 2 * range_mib + 2048))
((avail_kib / 1024 >= need_mib)) || die "only $((avail_kib / 1024)) MiB free under $work_parent; need about $need_mib MiB"
say "work directory $work ($fstype, $((avail_kib / 1024 / 1024)) GiB free), results in $results"

say "building the daemon jar if stale (bin/builderd --help)"
"$root/bin/builderd" --help >>"$log_file" 2>&1 || die "bin/builderd --help failed; see $log_file"

gen_file() { # path MiB passphrase -> prints the SHA-256; incompressible bytes from an AES-CTR key stream
  (set -o pipefail; head -c $(($2 * mib)) /dev/zero | openssl enc -aes-256-ctr -pass "pass:$3" -nosalt -pbkdf2 2>/dev/null |
    tee "$1" | openssl dgst -sha256 -r | cut -d' ' -f1)
}
slice_sha() { # file offset length -> SHA-256 of those bytes
  dd if="$1" iflag=skip_bytes,count_bytes skip="$2" count="$3" bs=1M status=none | openssl dgst -sha256 -r | cut -d' ' -f1
}
big="$work/big.bin"
range_src="$work/range.bin"
say "generating the ${big_mib} MiB and ${range_mib} MiB test files"
big_sha=$(gen_file "$big" "$big_mib" builderd-bench-enc)
range_sha=$(gen_file "$range_src" "$range_mib" builderd-bench-enc-range)
big_bytes=$(stat -c %s "$big")
range_bytes=$(stat -c %s "$range_src")
range_last=$((range_offset + range_len - 1))
plain_range_last=$((plain_range_offset + range_len - 1))
((range_last < range_bytes && plain_range_last < big_bytes)) || die "the 1 MiB ranges do not fit in the files"
range_slice_sha=$(slice_sha "$range_src" "$range_offset" "$range_len")
plain_slice_sha=$(slice_sha "$big" "$plain_range_offset" "$range_len")
sync

# ---------------------------------------------------------------------------------------------
# 3. The daemon, two tenants, a token and a build each
# ---------------------------------------------------------------------------------------------
admin_token="bench-$(openssl rand -hex 16)"
auth="Authorization: Bearer $admin_token"
D="http://127.0.0.1:$daemon_port"
daemon_data="$work/daemon-data"
UNKEY_BUILDERD_PORT=$daemon_port UNKEY_BUILDERD_BIND_ADDRESS=127.0.0.1 \
  UNKEY_BUILDERD_DATA_DIR="$daemon_data" UNKEY_BUILDERD_ADMIN_TOKEN="$admin_token" \
  BUILDERD_JAVA_OPTS="-Xmx256m -XX:ErrorFile=$results/hs_err_%p.log -Xlog:gc:file=$results/gc.log ${BENCH_DAEMON_JAVA_OPTS:-}" \
  "$root/bin/builderd" >"$results/daemon.log" 2>&1 &
daemon_pid=$!
pids+=("$daemon_pid")
wait_daemon_ready "$results/daemon.log"
[[ -r /proc/$daemon_pid/io ]] || die "cannot read /proc/$daemon_pid/io"
say "daemon (pid $daemon_pid, -Xmx256m, filesystem backend) on $D, data in $daemon_data"

# The free tier holds 500 MiB of artifacts: `plain` gets room for the big file (a per-tenant
# override of its limits; nothing else about the tier changes).
plain_limit=$(((2 * big_mib + 1024) * mib))
declare -A tier=([plain]=free [secret]=enterprise) token=() encryption_flag=()
declare -A tenant_body=([plain]="{\"tier\":\"free\",\"limits\":{\"total_bytes\":$plain_limit,\"artifact_bytes\":$plain_limit,$unlimited_rate}}"
  [secret]='{"tier":"enterprise","limits":{'"$unlimited_rate"'}}')
for t in plain secret; do
  answer=$(api PUT "/v1/tenants/$t" -H 'Content-Type: application/json' -d "${tenant_body[$t]}")
  echo "$answer" >>"$log_file"
  encryption_flag[$t]=$(sed -n 's/.*"encryption":\(true\|false\).*/\1/p' <<<"$answer")
  token[$t]=$(api POST "/v1/tenants/$t/tokens" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
  [[ -n ${token[$t]} ]] || die "no token for tenant $t"
  curl -sS --fail-with-body -H "Authorization: Bearer ${token[$t]}" -H 'Content-Type: application/json' \
    -d '{"build_id":"b1","lease_seconds":7200}' "$D/v1/tenants/$t/builds" >>"$log_file"
  echo >>"$log_file"
  say "tenant $t: tier ${tier[$t]}, the API says encryption ${encryption_flag[$t]:-?}; build b1"
done
artifact_url() { echo "$D/v1/tenants/$1/builds/b1/artifacts/$2"; }   # tenant name

# ---------------------------------------------------------------------------------------------
# 4. Measurements
# ---------------------------------------------------------------------------------------------
printf 'measure\ttenant\trun\tvalue\tunit\tdaemon_cpu_s\tcurl_cpu_s\n' >"$results/raw.tsv"
tick=$(getconf CLK_TCK)
cpu_s() { awk -v a="$1" -v b="$2" -v t="$tick" 'BEGIN {printf "%.2f", (b - a) / t}'; }

# Both run in a command substitution; curl's CPU time is that subshell's children's (field 16;
# $BASHPID read outside any further substitution, which would be a subshell of its own).
put_artifact() { # tenant name file sha -> "MB/s daemon-CPU-s curl-CPU-s"; deletes the old one and syncs first (not timed)
  local t=$1 name=$2 file=$3 sha=$4 t0 t1 me c0 c1 k0 k1 body code
  curl -sS -o /dev/null -X DELETE -H "Authorization: Bearer ${token[$t]}" "$(artifact_url "$t" "$name")" || true
  sync
  me=$BASHPID c0=$(proc_ticks "$daemon_pid" 14) k0=$(proc_ticks "$me" 16)
  t0=$(now_ns)
  body=$(curl -sS -w '\n%{http_code}' -H "Authorization: Bearer ${token[$t]}" -H 'Expect:' -T "$file" "$(artifact_url "$t" "$name")")
  t1=$(now_ns)
  c1=$(proc_ticks "$daemon_pid" 14) k1=$(proc_ticks "$me" 16)
  code=${body##*$'\n'}
  [[ $code == 201 || $code == 200 ]] || die "PUT $name to $t: status $code: ${body%$'\n'*}"
  [[ $body == *"$sha"* ]] || die "PUT $name to $t: digest differs from $sha: ${body%$'\n'*}"
  echo "$(awk -v b="$(stat -c %s "$file")" -v ns=$((t1 - t0)) 'BEGIN {printf "%.1f", b / (ns / 1e9) / 1e6}') $(cpu_s "$c0" "$c1") $(cpu_s "$k0" "$k1")"
}
get_big() { # tenant -> "MB/s daemon-CPU-s curl-CPU-s" (curl's figure); checks status and size
  local t=$1 out code size speed me c0 c1 k0 k1
  me=$BASHPID c0=$(proc_ticks "$daemon_pid" 14) k0=$(proc_ticks "$me" 16)
  out=$(curl -sS -o /dev/null -w '%{http_code} %{size_download} %{speed_download}' -H "Authorization: Bearer ${token[$t]}" \
    "$(artifact_url "$t" big.bin)")
  c1=$(proc_ticks "$daemon_pid" 14) k1=$(proc_ticks "$me" 16)
  read -r code size speed <<<"$out"
  [[ $code == 200 && $size == "$big_bytes" ]] || die "GET big.bin of $t: status $code, $size bytes"
  echo "$(awk -v s="$speed" 'BEGIN {printf "%.1f", s / 1e6}') $(cpu_s "$c0" "$c1") $(cpu_s "$k0" "$k1")"
}
stored_file() { # tenant name -> the file the filesystem backend keeps for that artifact
  find "$daemon_data/tenants/$1" -type f -name "$2" -print -quit 2>/dev/null
}
at_rest() { # tenant name source -> "encrypted", "plaintext" or "missing", from the bytes on disk
  local f
  f=$(stored_file "$1" "$2")
  if [[ -z $f ]]; then echo missing
  elif cmp -s -n "$mib" "$f" "$3" && [[ $(stat -c %s "$f") == "$(stat -c %s "$3")" ]]; then echo plaintext
  elif ! cmp -s -n "$mib" "$f" "$3" && (($(stat -c %s "$f") > $(stat -c %s "$3"))); then echo encrypted
  else echo "neither (size $(stat -c %s "$f"))"
  fi
}

say "warm-up (not counted): PUT and GET of the ${big_mib} MiB file to each tenant, verified by SHA-256"
declare -A rest=()
for t in plain secret; do
  put_artifact "$t" big.bin "$big" "$big_sha" >/dev/null
  got=$(curl -sS --fail -H "Authorization: Bearer ${token[$t]}" "$(artifact_url "$t" big.bin)" | openssl dgst -sha256 -r | cut -d' ' -f1)
  [[ $got == "$big_sha" ]] || die "GET big.bin of $t returned sha256 $got, expected $big_sha"
  rest[$t]=$(at_rest "$t" big.bin "$big")
  say "  $t: stored $(stat -c %s "$(stored_file "$t" big.bin)" 2>/dev/null || echo ?) bytes for $big_bytes, at rest: ${rest[$t]}"
done
valid=1
[[ ${rest[plain]} == plaintext && ${rest[secret]} == encrypted ]] || valid=0
((valid)) || say "WARNING: the secret tenant is not stored encrypted (plain: ${rest[plain]}, secret: ${rest[secret]}): the encrypted figures are NOT valid"

declare -A put_v=() get_v=() put_c=() get_c=() put_k=() get_k=()
one_tenant() { # tenant: one timed PUT, then one timed GET
  local t=$1 out v c k
  out=$(put_artifact "$t" big.bin "$big" "$big_sha")   # a failure inside ends the run here (set -e)
  read -r v c k <<<"$out"
  put_v[$t]+="$v " put_c[$t]+="$c " put_k[$t]+="$k "
  raw "put_1g	$t	$i	$v	MB/s	$c	$k"
  out=$(get_big "$t")
  read -r v c k <<<"$out"
  get_v[$t]+="$v " get_c[$t]+="$c " get_k[$t]+="$k "
  raw "get_1g	$t	$i	$v	MB/s	$c	$k"
}
say "PUT + GET of ${big_mib} MiB: $big_runs rounds, alternating which tenant goes first"
last() { awk '{print $NF}' <<<"$1"; }
for i in $(seq "$big_runs"); do
  if ((i % 2)); then one_tenant plain; one_tenant secret; else one_tenant secret; one_tenant plain; fi
  say "  round $i: plain PUT $(last "${put_v[plain]}") GET $(last "${get_v[plain]}") MB/s; secret PUT $(last "${put_v[secret]}") GET $(last "${get_v[secret]}") MB/s"
done

if [[ -n ${BENCH_PERF:-} ]]; then
  command -v perf >/dev/null 2>&1 || die "BENCH_PERF needs perf (apt-get install -y linux-perf)"
  for t in plain secret; do
    u=$(artifact_url "$t" big.bin)
    perf record -q -e cpu-clock -F 1999 -a -o "$results/get-$t.perf.data" -- \
      curl -sS --fail -H "Authorization: Bearer ${token[$t]}" -o /dev/null -o /dev/null -o /dev/null "$u" "$u" "$u" 2>>"$log_file" ||
      die "the profiled GETs from $t failed; see $log_file"
  done
  "$JAVA_HOME/bin/jcmd" "$daemon_pid" Compiler.perfmap >>"$log_file" 2>&1
  per_get() { # perf-data sort-keys lines -> "CPU-s per GET  keys", heaviest first (idle time shows as swapper)
    perf report -i "$1" --stdio --no-children -g none -n --sort "$2" 2>/dev/null |
      awk -v hz=1999 -v n="$3" '!/^#/ && NF > 2 && shown < n {c = $2; $1 = ""; $2 = ""; printf "%6.3f %s\n", c / hz / 3, $0; shown++}'
  }
  for t in plain secret; do
    { echo "# CPU-seconds per GET of ${big_mib} MiB from $t (3 GETs, both cores; swapper = idle)"
      per_get "$results/get-$t.perf.data" comm 10
      echo "# the same by thread and symbol"
      per_get "$results/get-$t.perf.data" comm,sym 30
    } >"$results/get-$t.perf.txt"
  done
  say "profiles of the GETs: $results/get-plain.perf.txt, $results/get-secret.perf.txt"
fi

say "uploading the ${range_mib} MiB artifact to secret"
out=$(put_artifact secret range.bin "$range_src" "$range_sha")
read -r range_put_mbps range_put_cpu range_put_curl <<<"$out"
raw "put_range_file	secret	1	$range_put_mbps	MB/s	$range_put_cpu	$range_put_curl"
rest_range=$(at_rest secret range.bin "$range_src")
range_stored=$(stat -c %s "$(stored_file secret range.bin)" 2>/dev/null || echo 0)
say "  ${range_put_mbps} MB/s; stored $range_stored bytes for $range_bytes, at rest: $rest_range"
[[ $rest_range == encrypted ]] || valid=0

rchar() { awk '/^rchar:/ {print $2}' "/proc/$daemon_pid/io"; }
range_get() { # tenant name first last expected-sha -> "ms rchar-delta"; checks status, size and SHA-256
  local t=$1 name=$2 first=$3 last=$4 sha=$5 r0 r1 code size secs got
  # The body goes through a pipe into the hash, not into a file: a client write on a disk that
  # is busy writing back would stall curl and show up in the timing.
  r0=$(rchar)
  got=$(set -o pipefail; curl -sS -o - -w '%{stderr}%{http_code} %{size_download} %{time_total}\n' -H "Authorization: Bearer ${token[$t]}" \
    -H "Range: bytes=$first-$last" "$(artifact_url "$t" "$name")" 2>"$work/range.w" | openssl dgst -sha256 -r | cut -d' ' -f1) ||
    die "range GET of $name ($t) failed: $(cat "$work/range.w")"
  r1=$(rchar)
  read -r code size secs <"$work/range.w"
  [[ $code == 206 && $size == $((last - first + 1)) ]] || die "range GET of $name ($t): status $code, $size bytes"
  [[ $got == "$sha" ]] || die "range GET of $name ($t): sha256 $got, the source's bytes $first-$last have $sha"
  echo "$(awk -v s="$secs" 'BEGIN {printf "%.1f", s * 1000}') $((r1 - r0))"
}
# Segments of 256 KiB ciphertext, each 16 bytes of tag, the first also 40 bytes of Tink's header:
# the ciphertext a range must read is every segment it touches (EncryptingBlobStore's format).
expected_ciphertext=$(awk -v a="$range_offset" -v b="$range_last" 'BEGIN {
  s = 262144 - 16; n = int((b + 40) / s) - int((a + 40) / s) + 1; printf "%d %d", n, n * 262144 }')
read -r expected_segments expected_bytes <<<"$expected_ciphertext"

declare -A range_ms=() range_rchar=()
sync   # nothing left to write back while the ranges are timed
say "1 MiB range GETs: one warm-up each (elsewhere in the file), then $range_runs each at the middle"
range_get secret range.bin $((range_mib * mib / 4)) $((range_mib * mib / 4 + range_len - 1)) \
  "$(slice_sha "$range_src" $((range_mib * mib / 4)) "$range_len")" >/dev/null
range_get plain big.bin $((big_mib * mib / 4)) $((big_mib * mib / 4 + range_len - 1)) \
  "$(slice_sha "$big" $((big_mib * mib / 4)) "$range_len")" >/dev/null
for i in $(seq "$range_runs"); do
  out=$(range_get secret range.bin "$range_offset" "$range_last" "$range_slice_sha")
  read -r ms bytes <<<"$out"
  range_ms[secret]+="$ms " range_rchar[secret]+="$bytes "
  raw "range_1m_ms	secret	$i	$ms	ms	"; raw "range_1m_rchar	secret	$i	$bytes	bytes	"
  out=$(range_get plain big.bin "$plain_range_offset" "$plain_range_last" "$plain_slice_sha")
  read -r ms bytes <<<"$out"
  range_ms[plain]+="$ms " range_rchar[plain]+="$bytes "
  raw "range_1m_ms	plain	$i	$ms	ms	"; raw "range_1m_rchar	plain	$i	$bytes	bytes	"
done
say "  secret: ${range_ms[secret]}ms, daemon read ${range_rchar[secret]}bytes (the format needs $expected_bytes)"
say "  plain:  ${range_ms[plain]}ms, daemon read ${range_rchar[plain]}bytes"
hwm_kib=$(awk '/^VmHWM:/ {print $2}' "/proc/$daemon_pid/status")
stop_daemon

# ---------------------------------------------------------------------------------------------
# 5. Report
# ---------------------------------------------------------------------------------------------
med() { echo "$1" | median; }
best() { echo "$1" | maximum; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN {print (r >= t ? "met" : "**missed**")}'; }
pm_p=$(med "${put_v[plain]}") pb_p=$(best "${put_v[plain]}") pm_s=$(med "${put_v[secret]}") pb_s=$(best "${put_v[secret]}")
gm_p=$(med "${get_v[plain]}") gb_p=$(best "${get_v[plain]}") gm_s=$(med "${get_v[secret]}") gb_s=$(best "${get_v[secret]}")
r_put=$(ratio "$pm_s" "$pm_p") r_get=$(ratio "$gm_s" "$gm_p")
kib() { awk -v b="$1" 'BEGIN {printf "%.0f", b / 1024}'; }
rc_s=$(med "${range_rchar[secret]}") rc_p=$(med "${range_rchar[plain]}")
big_label="$((big_mib / 1024)) GiB"
((big_mib % 1024)) && big_label="${big_mib} MiB"
range_label="$((range_mib / 1024)) GiB"
((range_mib % 1024)) && range_label="${range_mib} MiB"
if ((valid)); then validity=""; else
  validity="**NOT VALID: the daemon did not store the \`secret\` tenant's artifacts encrypted (checked on disk: ${rest[secret]}, ${range_label} file: $rest_range), so its column measures plaintext.**"
fi

table=$(cat <<EOF
| $big_label artifact, MB/s | \`plain\` (free, plaintext): median / best | \`secret\` (enterprise, encrypted): median / best | Ratio encrypted / plaintext (medians / bests) | Target (on medians) |
|---|---|---|---|---|
| PUT (durable; SHA-256 on the server) | $(fmt "$pm_p") / $(fmt "$pb_p") | $(fmt "$pm_s") / $(fmt "$pb_s") | $r_put / $(ratio "$pb_s" "$pb_p") | ≥ 0.85: $(verdict "$r_put" 0.85) |
| GET | $(fmt "$gm_p") / $(fmt "$gb_p") | $(fmt "$gm_s") / $(fmt "$gb_s") | $r_get / $(ratio "$gb_s" "$gb_p") | ≥ 0.8: $(verdict "$r_get" 0.8) |
| CPU seconds per PUT, daemon + curl (medians) | $(fmt "$(med "${put_c[plain]}")" 2) + $(fmt "$(med "${put_k[plain]}")" 2) | $(fmt "$(med "${put_c[secret]}")" 2) + $(fmt "$(med "${put_k[secret]}")" 2) | | reported |
| CPU seconds per GET, daemon + curl (medians) | $(fmt "$(med "${get_c[plain]}")" 2) + $(fmt "$(med "${get_k[plain]}")" 2) | $(fmt "$(med "${get_c[secret]}")" 2) + $(fmt "$(med "${get_k[secret]}")" 2) | | reported |

| 1 MiB range GET, median of $range_runs (min–max) | time, ms | bytes the daemon read (\`rchar\`) | for comparison |
|---|---|---|---|
| \`secret\`: $range_label encrypted artifact, \`Range: bytes=$range_offset-$range_last\` | $(med "${range_ms[secret]}") ($(echo "${range_ms[secret]}" | minimum)–$(echo "${range_ms[secret]}" | maximum)) | $rc_s = $(kib "$rc_s") KiB ($(echo "${range_rchar[secret]}" | minimum)–$(echo "${range_rchar[secret]}" | maximum)) | the $expected_segments ciphertext segments the range touches: $expected_bytes bytes = $(kib "$expected_bytes") KiB |
| \`plain\`: $big_label plaintext artifact, \`Range: bytes=$plain_range_offset-$plain_range_last\` | $(med "${range_ms[plain]}") ($(echo "${range_ms[plain]}" | minimum)–$(echo "${range_ms[plain]}" | maximum)) | $rc_p = $(kib "$rc_p") KiB ($(echo "${range_rchar[plain]}" | minimum)–$(echo "${range_rchar[plain]}" | maximum)) | the range itself: $range_len bytes = 1024 KiB |

Every range body's SHA-256 equalled that of the same bytes of the source file ($range_runs of $range_runs for each tenant; a mismatch stops the run).
The $range_label upload to \`secret\` ran at ${range_put_mbps} MB/s ($(awk -v b="$range_bytes" -v m="$range_put_mbps" 'BEGIN {printf "%.1f", b / 1e6 / m}') s; CPU: daemon ${range_put_cpu} s, curl ${range_put_curl} s); the daemon stored $range_stored bytes for $range_bytes (at rest: $rest_range).
EOF
)
echo "$table" >"$results/table.md"

if [[ -z ${BENCH_NO_DOC:-} ]]; then
  command_line="bench/run-encryption.sh"
  knobs=""
  [[ $big_runs == 5 ]] || knobs+="BENCH_BIG_RUNS=$big_runs "
  [[ $big_mib == 1024 ]] || knobs+="BENCH_BIG_MIB=$big_mib "
  [[ $range_mib == 4096 ]] || knobs+="BENCH_RANGE_MIB=$range_mib "
  [[ $range_runs == 5 ]] || knobs+="BENCH_RANGE_RUNS=$range_runs "
  section="$results/section.md"
  {
    echo "<!-- encryption-bench:begin -->"
    echo "## Encryption at rest, end to end"
    echo
    if [[ -n $validity ]]; then echo "$validity"; echo; fi
    cat <<EOF
Written by \`bench/run-encryption.sh\` (about $((SECONDS / 60 + 1)) min, needs about $((need_mib / 1024 + 1)) GiB free under
$work_parent). ONE daemon (\`bin/builderd\`, filesystem backend, SQLite, -Xmx256m) on 127.0.0.1
serves two tenants in the same run: \`plain\` (\`{"tier":"free"}\`, stored as plaintext; its
artifact and total limits raised to $((plain_limit / mib)) MiB, since a free tenant may keep only 500 MiB of
artifacts) and \`secret\` (\`{"tier":"enterprise"}\`, always encrypted: Tink streaming
AES-256-GCM, 256 KiB segments; see "Encryption (JMH)" for the cipher alone). Each tenant has its
own token and build.

\`\`\`
${knobs}$command_line
\`\`\`

| | |
|---|---|
$(machine_rows)
| disk | $(df -P "$work" | awk 'NR==2 {print $1}'), $fstype (the daemon's data and the source files in one temp dir under $work_parent) |
| daemon | \`bin/builderd\`, \`-Xmx256m\`, defaults otherwise; peak RSS (VmHWM) $((hwm_kib / 1024)) MiB |
| at rest | checked on disk after the warm-up: \`plain\` ${rest[plain]}, \`secret\` ${rest[secret]} (the API said \`encryption\`: ${encryption_flag[plain]:-?} / ${encryption_flag[secret]:-?}) |
| repetitions | $big_runs rounds of PUT then GET per tenant, alternating which tenant goes first, after one untimed warm-up round; $range_runs range GETs per tenant after one warm-up each |
| CPU busy before the run | ${busy_before}% (other work on the machine; > 15% makes the figures noisy) |
| load average | $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end |

$table

Method: a PUT is \`curl -T\` of the file (\`Expect: 100-continue\` off) to
\`/v1/tenants/T/builds/b1/artifacts/big.bin\`, timed from its start until the daemon answered
(the daemon hashes the upload, encrypts it for \`secret\`, fsyncs it and commits its metadata
before it answers; the answer must carry the file's SHA-256); before every PUT the previous
artifact is deleted and \`sync\` runs, outside the timing. A GET is \`curl -o /dev/null\`, speed
as curl reports it, with the stored file in the page cache; the warm-up GETs were checked against
the file's SHA-256. MB = 10^6 bytes. CPU seconds (user + system) come from \`/proc/<pid>/stat\`
around each transfer, the daemon's own and curl's (as a waited-for child); both share the same
$(nproc) cores, so a transfer whose CPU seconds add up to about $(nproc) × its wall time is bound by the CPU. Each range GET's bytes read is the difference of
\`rchar\` in \`/proc/<daemon pid>/io\` read just before and just after the request, nothing
subtracted: \`rchar\` counts every byte the JVM's \`read\`-family system calls returned, from the
page cache or the disk alike, so besides the artifact's bytes it also counts the request's socket
reads (its headers, a few hundred bytes), SQLite's reads of a few KB of pages when they are not
cached (the token and the artifact's row) and anything else the daemon read meanwhile (its lease
check runs every 30 s).
The ranges start 123457 bytes past the middle of each file, off any segment boundary.

### Interpretation

EOF
    awk -v p="$r_put" -v g="$r_get" 'BEGIN {
      printf "- PUT: the encrypted tenant reached %.0f%% of the plaintext tenant'"'"'s throughput (target 85%%): %s.\n", p * 100, (p >= 0.85 ? "met" : "missed")
      printf "- GET: %.0f%% (target 80%%): %s.\n", g * 100, (g >= 0.8 ? "met" : "missed")
    }'
    awk -v r="$rc_s" -v e="$expected_bytes" -v n="$expected_segments" -v p="$rc_p" 'BEGIN {
      printf "- A 1 MiB range of the encrypted artifact made the daemon read %.0f KiB (%.2f× the range); the %d ciphertext segments it touches are %.0f KiB. The same request on plaintext read %.0f KiB.\n", r / 1024, r / 1048576, n, e / 1024, p / 1024
    }'
    if [[ -f $root/bench/encryption-notes.md ]]; then echo; cat "$root/bench/encryption-notes.md"; fi
    echo "<!-- encryption-bench:end -->"
  } >"$section"
  replace_doc_section encryption-bench "$section" "$root/docs/performance.md"
  say "wrote the encryption section of docs/performance.md"
fi

echo
echo "$table"
echo
((valid)) || say "WARNING: the secret tenant was not stored encrypted: the encrypted figures are NOT valid"
say "done; raw output in $results"
