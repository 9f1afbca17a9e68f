#!/usr/bin/env bash
# JMH microbenchmarks of encryption at rest (EncryptingBlobStore) against the JDK's raw AES-GCM.
#
#   bench/run-crypto-jmh.sh
#
# Builds bench/target/builderd-bench.jar (./mvnw package -pl bench -am), runs the benchmarks of
# bench/src/main/java/dev/builderd/storage/bench/ in one JMH run on the JDK that bin/lib/jdk.sh
# picks, all on the same 64 MiB of pseudo-random bytes, one thread:
#   EncryptingBlobStoreBenchmark.encryptPut        put of 64 MiB into a store that discards
#   EncryptingBlobStoreBenchmark.decryptAll        open(key, ByteRange.ALL) of a 64 MiB blob held
#                                                  in a MemoryBlobStore, read to the end
#   EncryptingBlobStoreBenchmark.decryptAllAsRange the same blob as the range (0, size), as the
#                                                  daemon's GET of a whole artifact asks for it
#   EncryptingBlobStoreBenchmark.decryptRange1MiB  1 MiB range from the middle of that blob
#   CryptoBaselineBenchmark.aesGcmEncrypt/Decrypt  raw Cipher "AES/GCM/NoPadding", 256-bit key,
#                                                  one GCM message per 256 KiB chunk
#   CryptoBaselineBenchmark.sha256                 SHA-256 of the 64 MiB
# writes the section "Encryption (JMH)" of docs/performance.md (between <!-- crypto-jmh:begin -->
# and <!-- crypto-jmh:end -->, replacing an earlier one; with the hand-written
# bench/crypto-jmh-notes.md when present), prints the table, and keeps JMH's raw output in
# bench/results/crypto-<timestamp>/ (git-ignored). About 3 minutes with the defaults.
#
# Knobs (environment); the defaults are the documented benchmark:
#   BENCH_JMH_FORKS=1 BENCH_JMH_WARMUPS=3 BENCH_JMH_ITERATIONS=5 BENCH_JMH_SECONDS=2
#                           forks, warm-up and measurement iterations, seconds per iteration
#   BENCH_JMH_INCLUDE=...   JMH's benchmark regexp (default: the seven above; with fewer, only
#                           JMH's own output is kept: the table needs all seven)
#   BENCH_NO_DOC=1          do not rewrite docs/performance.md
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
forks=${BENCH_JMH_FORKS:-1}
warmups=${BENCH_JMH_WARMUPS:-3}
iterations=${BENCH_JMH_ITERATIONS:-5}
seconds=${BENCH_JMH_SECONDS:-2}
include=${BENCH_JMH_INCLUDE:-'dev\.builderd\.storage\.bench\.(EncryptingBlobStore|CryptoBaseline)Benchmark\.'}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
results="$root/bench/results/crypto-$stamp"
mkdir -p "$results"
log_file="$results/run.log"
# shellcheck disable=SC2034   # read by bench/lib/harness.sh
bench_name="bench/run-crypto-jmh.sh"
# say, die, check_idle, cleanup (the failure message), the statistics helpers, machine_rows, replace_doc_section
# shellcheck source=bench/lib/harness.sh
# shellcheck disable=SC1091
source "$root/bench/lib/harness.sh"
pids=() work="" daemon_pid=""
trap cleanup EXIT

# shellcheck source=bin/lib/jdk.sh
# shellcheck disable=SC1091
source "$root/bin/lib/jdk.sh"   # exports JAVA_HOME of a JDK >= 21 (exits with a message if none)

check_idle
say "building bench/target/builderd-bench.jar (./mvnw package -pl bench -am)"
(cd "$root" && ./mvnw -B -q -DskipTests package -pl bench -am) >>"$log_file" 2>&1 || die "the build failed; see $log_file"
jar="$root/bench/target/builderd-bench.jar"

jmh_args=(-f "$forks" -wi "$warmups" -i "$iterations" -w "${seconds}s" -r "${seconds}s" -rf csv -rff "$results/jmh.csv")
say "JMH: ${jmh_args[*]:0:10} '$include' (raw output in $results/jmh.txt)"
t0=$SECONDS
"$JAVA_HOME/bin/java" -jar "$jar" "${jmh_args[@]}" "$include" >"$results/jmh.txt" 2>&1 ||
  die "JMH failed; see $results/jmh.txt"
elapsed=$((SECONDS - t0))

# ---------------------------------------------------------------------------------------------
# Report. Each benchmark counts one operation per byte, so ops/s / 10^6 = MB/s.
# ---------------------------------------------------------------------------------------------
for method in encryptPut decryptAll decryptAllAsRange decryptRange1MiB aesGcmEncrypt aesGcmDecrypt sha256; do
  if ! grep -q "\\.$method\"," "$results/jmh.csv"; then
    say "$method did not run (BENCH_JMH_INCLUDE), so there is no table; JMH's output: $results/jmh.txt"
    tail -n 20 "$results/jmh.txt"
    exit 0
  fi
done
score() { # method [column: 5 score, 6 error] -> MB/s
  awk -F, -v m="$1" -v c="${2:-5}" '{gsub(/"/, "")} $1 ~ ("\\." m "$") {printf "%.0f", ($c == "NaN" ? 0 : $c / 1e6); found = 1}
    END {if (!found) exit 1}' "$results/jmh.csv" || die "no result for $1 in $results/jmh.csv"
}
row() { # label method [baseline method]
  local s e
  s=$(score "$2") e=$(score "$2" 6)
  echo "| $1 | $s ± $e | $([[ -n ${3:-} ]] && ratio "$s" "$(score "$3")" || echo —) |"
}
enc=$(score encryptPut) dec=$(score decryptAll) dec_range=$(score decryptAllAsRange) rng=$(score decryptRange1MiB)
aes_enc=$(score aesGcmEncrypt) aes_dec=$(score aesGcmDecrypt) sha=$(score sha256)
range_us=$(awk -v s="$rng" 'BEGIN {printf "%.0f", (s > 0 ? 1048576 / s : 0)}')   # MB/s = bytes/µs
table=$(cat <<EOF
| Path (64 MiB of pseudo-random bytes, one thread) | MB/s (mean ± 99.9% error) | Ratio to raw AES-GCM, same direction |
|---|---|---|
$(row "\`EncryptingBlobStore.put\` of 64 MiB (encrypt; into a store that discards)" encryptPut aesGcmEncrypt)
$(row "\`EncryptingBlobStore.open(key, ByteRange.ALL)\` of a 64 MiB blob in a \`MemoryBlobStore\`, read fully (decrypt)" decryptAll aesGcmDecrypt)
$(row "the same blob opened as the range \`(0, 64 MiB)\`, as the daemon's GET of a whole artifact does (seekable decryption)" decryptAllAsRange aesGcmDecrypt)
$(row "\`EncryptingBlobStore.open\` of a 1 MiB range from the middle, read fully (≈ $range_us µs per range)" decryptRange1MiB aesGcmDecrypt)
$(row "raw \`Cipher\` \"AES/GCM/NoPadding\", 256-bit key, encrypt in 256 KiB chunks" aesGcmEncrypt)
$(row "raw \`Cipher\` \"AES/GCM/NoPadding\", 256-bit key, decrypt in 256 KiB chunks" aesGcmDecrypt)
$(row "SHA-256 of the 64 MiB (reference)" sha256)
EOF
)
echo "$table" >"$results/table.md"

if [[ -z ${BENCH_NO_DOC:-} ]]; then
  command_line="bench/run-crypto-jmh.sh"
  [[ $forks$warmups$iterations$seconds == 1352 ]] ||
    command_line="BENCH_JMH_FORKS=$forks BENCH_JMH_WARMUPS=$warmups BENCH_JMH_ITERATIONS=$iterations BENCH_JMH_SECONDS=$seconds $command_line"
  section="$results/section.md"
  {
    echo "<!-- crypto-jmh:begin -->"
    echo "## Encryption (JMH)"
    echo
    cat <<EOF
Written by \`bench/run-crypto-jmh.sh\` (about $(((elapsed + 59) / 60)) min). JMH microbenchmarks of
\`EncryptingBlobStore\` (module \`blob\`: Tink streaming AEAD, AES-256-GCM with HKDF-SHA256,
256 KiB ciphertext segments, the blob's key as associated data) against the JDK's own
\`AES/GCM/NoPadding\` on the same bytes, in the same run on the same JDK: the ratio says what the
streaming format and the store wrapper cost on top of the cipher. No disk, no network.

\`\`\`
$command_line
\`\`\`

| | |
|---|---|
$(machine_rows)
| JMH | $(find "$root/bench/target/lib" -name 'jmh-core-*.jar' -printf '%f' | sed 's/^jmh-core-\(.*\)\.jar$/\1/'), throughput mode, $forks fork, $warmups warm-up + $iterations measurement iterations of $seconds s, one thread, \`-Xmx1g\` |
| CPU busy before the run | ${busy_before}% (other work on the machine; > 15% makes the figures noisy) |

$table

Method: every benchmark counts one operation per byte it moves (\`@OperationsPerInvocation\`), so
JMH's ops/s divided by 10^6 is MB/s (of plaintext). The encrypt path is \`put(key, stream, 64 MiB,
OVERWRITE)\` with a fresh \`ByteArrayInputStream\` over the plaintext, into a \`BlobStore\` that
reads the ciphertext in 256 KiB reads and keeps nothing; the decrypt paths read with a 256 KiB
buffer. A \`MemoryBlobStore\` is not file-backed, so the daemon's read-ahead (decryption on a
second thread, for local files) is not part of these figures: they are one thread's work. The 1 MiB range starts at 32 MiB + 123457 (not aligned
to a segment) and its time includes opening it: a \`stat\`, reading the envelope and Tink's
header, deriving the segment key, and authenticating the 5 segments it touches (1.25 MiB). The raw
baseline seals each 256 KiB chunk as its own GCM message with its own 12-byte IV (what Tink does
per segment, without the key derivation, the framing and the stream copies). Raw output:
\`bench/results/crypto-<timestamp>/\`.

### Interpretation

EOF
    awk -v e="$enc" -v d="$dec" -v dr="$dec_range" -v ae="$aes_enc" -v ad="$aes_dec" -v s="$sha" 'BEGIN {
      printf "- Encrypting through `EncryptingBlobStore` runs at %.0f%% of the raw cipher'"'"'s speed, decrypting at %.0f%% (%.0f%% through the seekable path a whole-artifact GET takes).\n", 100 * e / ae, 100 * d / ad, 100 * dr / ad
      printf "- One core hashes (SHA-256) at %d MB/s, so an upload that both hashes and encrypts is bound on one core at about %.0f MB/s (1 / (1/SHA-256 + 1/encrypt)), a download that decrypts (the digest is stored) at %d MB/s; the daemon also copies every byte through the socket and, on upload, to disk.\n", s, 1 / (1 / s + 1 / e), dr
    }'
    if [[ -f $root/bench/crypto-jmh-notes.md ]]; then echo; cat "$root/bench/crypto-jmh-notes.md"; fi
    echo "<!-- crypto-jmh:end -->"
  } >"$section"
  replace_doc_section crypto-jmh "$section" "$root/docs/performance.md"
  say "wrote the section \"Encryption (JMH)\" of docs/performance.md"
fi

echo
echo "$table"
echo
say "done; raw output in $results"
