#!/usr/bin/env bash
# Starts the daemon (bin/builderd) once, waits until GET /health/ready answers 200, then kills it
# with SIGKILL (so shutdown time is not measured) and waits for it. Used by bench/run-e2e.sh under
# hyperfine to time start-up. Environment: BENCH_STARTUP_PORT, BENCH_STARTUP_DATA_DIR,
# BENCH_ADMIN_TOKEN, BENCH_STARTUP_LOG (appended), BUILDERD_JAVA_OPTS.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
port=${BENCH_STARTUP_PORT:?}
UNKEY_BUILDERD_PORT=$port UNKEY_BUILDERD_BIND_ADDRESS=127.0.0.1 \
  UNKEY_BUILDERD_DATA_DIR=${BENCH_STARTUP_DATA_DIR:?} UNKEY_BUILDERD_ADMIN_TOKEN=${BENCH_ADMIN_TOKEN:?} \
  "$root/bin/builderd" >>"${BENCH_STARTUP_LOG:-/dev/null}" 2>&1 &
pid=$!
trap 'kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT
deadline=$((SECONDS + 60))
until [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health/ready" || true) == 200 ]]; do
  if ! kill -0 "$pid" 2>/dev/null; then echo "daemon exited before it was ready" >&2; exit 1; fi
  if ((SECONDS > deadline)); then echo "daemon not ready after 60 s" >&2; exit 1; fi
  sleep 0.005
done
