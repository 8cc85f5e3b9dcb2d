#!/usr/bin/env bash
# Seed benchmark: a scratch database, `cdp migrate`, then `cdp seed --users N` (default one
# million users, 180 days of activity), timed; prints the seed's report, the row counts and the
# table sizes. Uses a release build of `cdp` unless a binary is given.
#
#   tests/bench/seed.sh [users] [path/to/cdp]
#   CDP_BENCH_KEEP_DB=1 keeps the database (its name is printed) for other benchmarks.
set -euo pipefail
users=${1:-1000000}
root=$(cd "$(dirname "$0")/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cdp-target}
if [ -n "${2:-}" ]; then
  cdp=$2
else
  (cd "$root" && cargo build --release --quiet -p cdp-server --bin cdp)
  cdp=$CARGO_TARGET_DIR/release/cdp
fi
pg=(psql -h "${PGHOST:-127.0.0.1}" -p "${PGPORT:-5432}" -U "${PGUSER:-postgres}")
db=${CDP_BENCH_DB:-cdp_bench_seed_$$}
export DATABASE_URL="postgres://${PGUSER:-postgres}@${PGHOST:-127.0.0.1}:${PGPORT:-5432}/$db"
export CDP_JWT_SECRET="bench-$(head -c 32 /dev/urandom | base64 | tr -d '/+=\n')" RUST_LOG=warn
cleanup() {
  if [ "${CDP_BENCH_KEEP_DB:-0}" = 1 ]; then
    echo "kept database $db"
  else
    "${pg[@]}" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
"${pg[@]}" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null

echo "== cdp seed --users $users (binary: $cdp; $(nproc) cores; $("${pg[@]}" -Atc 'SHOW server_version'))"
start=$(date +%s.%N)
"$cdp" migrate >/dev/null
migrated=$(date +%s.%N)
"$cdp" seed --users "$users"
done_at=$(date +%s.%N)
printf 'migrate %.1fs, seed %.1fs (wall, including connect and ANALYZE)\n' \
  "$(echo "$migrated - $start" | bc)" "$(echo "$done_at - $migrated" | bc)"

echo "== rows and sizes"
"${pg[@]}" -d "$db" -c "
  SELECT t AS table, to_char(n, 'FM999,999,999') AS rows,
         pg_size_pretty(pg_relation_size(t::regclass)) AS heap,
         pg_size_pretty(pg_indexes_size(t::regclass)) AS indexes,
         pg_size_pretty(pg_total_relation_size(t::regclass)) AS total
  FROM (VALUES ('public.users', (SELECT count(*) FROM public.users)),
               ('cdp.user_daily_activity', (SELECT count(*) FROM cdp.user_daily_activity)),
               ('cdp.identities', (SELECT count(*) FROM cdp.identities)),
               ('cdp.ingestion_batches', (SELECT count(*) FROM cdp.ingestion_batches))) v(t, n)"
"${pg[@]}" -d "$db" -c "
  SELECT round(avg(n)) AS avg_dau, min(n) AS min_dau, max(n) AS max_dau,
         (SELECT count(DISTINCT user_id) FROM cdp.user_daily_activity WHERE day > current_date - 30) AS mau_last_30
  FROM (SELECT count(*) AS n FROM cdp.user_daily_activity GROUP BY day) d"
