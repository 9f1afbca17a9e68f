#!/usr/bin/env bash
# Several daemons on this machine against one shared PostgreSQL and one shared object store
# (issue 10; dev.builderd.storage.bench.ClusterBench), in one run:
#
#   bench/run-cluster.sh
#
# Builds the bench module (and what it needs), then ClusterBench starts a PostgreSQL and an
# s3proxy on 127.0.0.1 (the test fixtures: bin/test installs both), and for 1, 2 and 3 daemon
# processes (a fresh database and bucket each time):
#   - small cache writes, then reads (BENCH_CLUSTER_SMALL_OPS of BENCH_CLUSTER_SMALL_BYTES by
#     BENCH_CLUSTER_CLIENTS concurrent clients spread round-robin over the daemons): requests/s;
#   - one BENCH_CLUSTER_BIG_MIB artifact uploaded through each daemon at once, then each downloaded
#     through another daemon at once: aggregate MB/s;
# and the per-request cost of the PostgreSQL ledger against SQLite's: one daemon on the filesystem
# backend, small artifact uploads one after the other. On one 2-core machine the daemons, the
# database, the object store and the clients share the same CPUs: the figures show what a
# cluster costs per request and that nothing serialises across daemons, not a scale-out.
# Writes the "Several daemons" section of docs/performance.md (between <!-- cluster-bench:begin -->
# and <!-- cluster-bench:end -->) at the default sizes; raw output in bench/results/cluster-<timestamp>/.
#
# Knobs (environment); the defaults are the documented benchmark:
#   BENCH_CLUSTER_SMALL_OPS=20000  BENCH_CLUSTER_SMALL_BYTES=4096  BENCH_CLUSTER_CLIENTS=32
#   BENCH_CLUSTER_BIG_MIB=1024     BENCH_CLUSTER_LEDGER_OPS=2000
#   BENCH_JAVA_OPTS="-Xmx1g"       BENCH_WORK_DIR=/var/tmp   BENCH_NO_DOC=1 (leave docs/performance.md alone)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work_parent=${BENCH_WORK_DIR:-/var/tmp}
java_opts=${BENCH_JAVA_OPTS:--Xmx1g}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
results="$root/bench/results/cluster-$stamp"
mkdir -p "$results"
log_file="$results/run.log"
# shellcheck disable=SC2034   # read by bench/lib/harness.sh
bench_name="bench/run-cluster.sh"
# shellcheck source=bench/lib/harness.sh
# shellcheck disable=SC1091
source "$root/bench/lib/harness.sh"
# shellcheck source=bin/lib/jdk.sh
# shellcheck disable=SC1091
source "$root/bin/lib/jdk.sh"   # exports JAVA_HOME of a JDK >= 21 (exits with a message if none)

build_bench_class_path
make_work_dir builderd-cluster
check_idle
# s3proxy on disk (the test fixture's default keeps objects in its 512 MiB heap: no room for 1 GiB artifacts).
java_opts="$java_opts -Dbuilderd.s3proxy.provider=filesystem-nio2 -Dbench.cluster.smallOps=${BENCH_CLUSTER_SMALL_OPS:-20000} -Dbench.cluster.smallBytes=${BENCH_CLUSTER_SMALL_BYTES:-4096}
  -Dbench.cluster.clients=${BENCH_CLUSTER_CLIENTS:-32} -Dbench.cluster.bigMiB=${BENCH_CLUSTER_BIG_MIB:-1024}
  -Dbench.cluster.ledgerOps=${BENCH_CLUSTER_LEDGER_OPS:-2000}"
run_bench_main ClusterBench "$work"
((bench_status == 0)) || die "ClusterBench failed (exit $bench_status); see $results/bench.out and $results/storage.log"
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

knobs=""
for var in $(compgen -e | grep -E '^BENCH_(CLUSTER_|JAVA_OPTS$|WORK_DIR$)' | sort); do
  knobs+="$var=${!var} "
done
section="$results/section.md"
{
  echo "<!-- cluster-bench:begin -->"
  printf '## Several daemons\n\n'
  cat <<EOF
Written by \`bench/run-cluster.sh\` ($((SECONDS / 60)) min $((SECONDS % 60)) s): 1, 2 and 3 daemon processes on this
machine against one PostgreSQL and one s3proxy, all on 127.0.0.1, clients spread round-robin over
the daemons; downloads go through another daemon than the upload's. On 2 cores the daemons, the
database, the object store and the clients share the CPUs, so this shows the cost of a cluster
and that nothing serialises across daemons, not a scale-out.

\`\`\`
${knobs}bench/run-cluster.sh
\`\`\`

| | |
|---|---|
$(machine_rows)
| CPU busy before the run | ${busy_before}% |
| load average | $load_start at the start, $load_end at the end |

$(sed -n '/^| figure/,$p' "$results/bench.out")
EOF
  echo "<!-- cluster-bench:end -->"
} >"$section"

if [[ -z ${BENCH_NO_DOC:-} && -z $(compgen -e | grep -E '^BENCH_CLUSTER_' || true) ]]; then
  replace_doc_section cluster-bench "$section" "$root/docs/performance.md"
  say "wrote the cluster-bench section of docs/performance.md"
else
  say "docs/performance.md left alone (a trial size, or BENCH_NO_DOC set); the section is in $section"
fi
echo
cat "$section"
say "done; raw output in $results"
