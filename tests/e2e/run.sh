#!/usr/bin/env bash
# Runs the browser tests as a person would use the product: the real `cdp` binary serving the
# built web client on its own database and a free port, driven by Playwright in Debian's
# Chromium. Screenshots of every page land in tests/e2e/screenshots/.
#
# The Integrations page talks to a real Airflow 2.10.5 (tests/airflow/lib.sh: from PyPI into
# ~/.cache/cdp/airflow-2.10.5 on first use, on 127.0.0.1 with infra/airflow/dags), started
# while the database is seeded. CDP_E2E_AIRFLOW=0 runs without it (its spec is then skipped).
set -euo pipefail
cdp=${1:?usage: run.sh path/to/cdp}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# Debian's Chromium drives the browser; a fresh Debian machine gets it from the Debian mirror.
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "e2e: installing Debian's chromium (first run on this machine)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
  else
    echo "e2e: /usr/bin/chromium is missing (sudo apt-get install chromium)"; exit 1
  fi
fi
(cd "$here" && { [ -d node_modules/playwright-core ] && cmp -s package-lock.json node_modules/.package-lock.json 2>/dev/null || npm ci --no-audit --no-fund --loglevel=error; })
db="cdp_e2e_$$"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export DATABASE_URL="postgres://${PGUSER:-postgres}@${PGHOST:-127.0.0.1}:${PGPORT:-5432}/$db"
export CDP_LISTEN_ADDR="127.0.0.1:$port" CDP_PUBLIC_URL="http://127.0.0.1:$port"
export CDP_JWT_SECRET="e2e-$(head -c 32 /dev/urandom | base64 | tr -d '/+=\n')"
export CDP_REDIS_KEY_PREFIX="cdp_e2e_$$" CDP_WEB_DIST_DIR="$root/client-web/dist" RUST_LOG=warn
export CDP_BOOTSTRAP_ADMIN_EMAIL="admin@e2e.test" CDP_BOOTSTRAP_ADMIN_PASSWORD="e2e-$(head -c 12 /dev/urandom | base64 | tr -d '/+=\n')"
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  if [ -n "${setup:-}" ]; then  # migrate/seed still running: stop it (its child first)
    kill $(ps -o pid= --ppid "$setup") "$setup" 2>/dev/null || true
    wait "$setup" 2>/dev/null || true
  fi
  if [ -n "${airflow_home:-}" ]; then
    airflow_stop
    rm -rf "$airflow_home"
  fi
  psql -h "${PGHOST:-127.0.0.1}" -U "${PGUSER:-postgres}" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
# The database is migrated and seeded while Airflow starts.
("$cdp" migrate && "$cdp" seed --users 2000) & setup=$!
if [ "${CDP_E2E_AIRFLOW:-1}" != 0 ]; then
  # shellcheck source=tests/airflow/lib.sh
  source "$root/tests/airflow/lib.sh"
  airflow_home=$(mktemp -d "${TMPDIR:-/tmp}/cdp-e2e-airflow.XXXXXX")
  airflow_init 2.10.5 "$airflow_home" "$(airflow_free_port)"
  # The DAG tasks load into the e2e database; its seeded users stand in for the marketplace's
  # snapshot. Only runs someone starts: no scheduled runs (the DAGs start paused anyway), and
  # the unchanging DAG files are not parsed again every 30 s (less load on the other specs).
  export CDP_ETL_DSN="$DATABASE_URL" CDP_ETL_SOURCE_DSN="$DATABASE_URL" CDP_ETL_SOURCE_RELATION=public.users
  export CDP_ETL_STAGING_DIR="$airflow_home/staging" AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE=False
  export AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL=600
  airflow_start
  airflow_wait 90
  export CDP_AIRFLOW_URL="$AIRFLOW_URL" CDP_AIRFLOW_API_VERSION="$AIRFLOW_API"
  export CDP_AIRFLOW_USERNAME="$AIRFLOW_USER" CDP_AIRFLOW_PASSWORD="$AIRFLOW_PASSWORD"
  export CDP_E2E_AIRFLOW_URL="$AIRFLOW_URL" CDP_E2E_AIRFLOW_USERNAME="$AIRFLOW_USER" CDP_E2E_AIRFLOW_PASSWORD="$AIRFLOW_PASSWORD"
fi
wait "$setup"
setup=""
"$cdp" serve --with-worker & pid=$!
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
cd "$here"
status=0
CDP_E2E_URL="$CDP_PUBLIC_URL" CDP_E2E_ADMIN_EMAIL="$CDP_BOOTSTRAP_ADMIN_EMAIL" CDP_E2E_ADMIN_PASSWORD="$CDP_BOOTSTRAP_ADMIN_PASSWORD" npm test || status=$?
if [ "$status" != 0 ] && [ -n "${airflow_home:-}" ]; then
  echo "e2e: failed; the end of Airflow's logs:"
  airflow_logs 20
fi
exit "$status"
