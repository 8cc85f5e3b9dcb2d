#!/usr/bin/env bash
# Redemption load benchmark (issue 7; docs/benchmarks.md). Builds `cdp` and the load generator
# in release mode, migrates a scratch database, starts `cdp serve` and `cdp worker` on
# 127.0.0.1, prints the machine's ceilings (../shared/bench/ceilings.sh) and then the load
# generator's figures, all in the same run. Never part of `make test`.
#
#   tests/bench/redemption/run.sh            # CDP_BENCH_SECONDS=10 CDP_BENCH_RUNS=3 by default
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cdp-target}
# One invocation: both packages share one feature resolution, so the server is compiled once.
(cd "$root" && cargo build --release --quiet -p cdp-server --bin cdp -p cdp-tests --bin cdp-bench-redemption)
cdp=$CARGO_TARGET_DIR/release/cdp
load=$CARGO_TARGET_DIR/release/cdp-bench-redemption

pg=(psql -h "${PGHOST:-127.0.0.1}" -p "${PGPORT:-5432}" -U "${PGUSER:-postgres}")
# CDP_BENCH_DB keeps (and reuses) a database between runs; by default a scratch one is dropped.
db=${CDP_BENCH_DB:-cdp_bench_redemption_$$}
port=${CDP_BENCH_PORT:-50231}
export DATABASE_URL="postgres://${PGUSER:-postgres}@${PGHOST:-127.0.0.1}:${PGPORT:-5432}/$db"
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
export CDP_REDIS_KEY_PREFIX="cdp_bench_${CDP_BENCH_DB:-$$}"
export CDP_LISTEN_ADDR="127.0.0.1:$port" CDP_BENCH_ADDR="127.0.0.1:$port"
export CDP_JWT_SECRET="bench-$(head -c 32 /dev/urandom | base64 | tr -d '/+=\n')"
# A kept scratch database keeps its bootstrap admin, so its password must not change between runs.
if [ -n "${CDP_BENCH_DB:-}" ]; then admin_password="bench-admin-of-$db"; else admin_password="bench-$(head -c 12 /dev/urandom | base64 | tr -d '/+=\n')"; fi
export CDP_BOOTSTRAP_ADMIN_EMAIL=bench@cdp.local CDP_BOOTSTRAP_ADMIN_PASSWORD="$admin_password"
export CDP_JOB_POLL_INTERVAL_MS=100 RUST_LOG=${RUST_LOG:-warn}

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -n "${CDP_BENCH_DB:-}" ] || "${pg[@]}" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  [ -n "${CDP_BENCH_DB:-}" ] || redis-cli -u "$REDIS_URL" --scan --pattern "$CDP_REDIS_KEY_PREFIX:*" | xargs -r -n 500 redis-cli -u "$REDIS_URL" DEL >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GB; $("${pg[@]}" -Atc 'SHOW server_version'); redis $(redis-cli -u "$REDIS_URL" INFO server | sed -n 's/^redis_version:\([0-9.]*\).*/\1/p')"
ceilings=${CDP_CEILINGS:-$root/../shared/bench/ceilings.sh}
if [ -x "$ceilings" ]; then
  echo "== ceilings ($ceilings, CLIENTS=32)"
  CLIENTS=32 SECONDS_EACH=${SECONDS_EACH:-10} "$ceilings"
else
  echo "== ceilings: $ceilings is absent on this machine; no ceilings printed"
fi

"$cdp" migrate >/dev/null
"$cdp" serve & pids+=($!)
"$cdp" worker & pids+=($!)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
echo "== redemption load (release cdp serve + cdp worker on 127.0.0.1:$port, database $db)"
"$load"
