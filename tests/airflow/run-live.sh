#!/usr/bin/env bash
# The Airflow client against real Airflow from PyPI: 2.10.5 (API v1, basic auth) and 3.3.2
# (API v2, JWT). For each version: a throwaway AIRFLOW_HOME on SQLite, the project's DAGs
# (infra/airflow/dags), Airflow's servers on 127.0.0.1 only (scheduler with --skip-serve-logs,
# so no log server binds other interfaces), then tests/airflow/live.rs drives ListDags,
# TriggerDag and the run's state through the CDP's IntegrationService, and a real
# cdp_users_load run publishes into the CDP database. Every wait is bounded; every process
# started here is stopped by its PID (process group) on exit.
#
# Starting and stopping one Airflow is tests/airflow/lib.sh (shared with tests/e2e/run.sh); it
# lives in the same cached virtualenvs as infra/airflow/check-dagbag.sh,
# ${CDP_CACHE_DIR:-$HOME/.cache/cdp}/airflow-<version>, installed only when absent.
#   CDP_AIRFLOW_VERSIONS="2.10.5 3.3.2"   versions to run
#   PGHOST/PGPORT/PGUSER                 the PostgreSQL (default 127.0.0.1:5432, postgres)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=tests/airflow/lib.sh
source "$here/lib.sh"
read -r -a versions <<< "${CDP_AIRFLOW_VERSIONS:-2.10.5 3.3.2}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cdp-target}"
pg_host="${PGHOST:-127.0.0.1}" pg_port="${PGPORT:-5432}" pg_user="${PGUSER:-postgres}"
started=$SECONDS

home=""
database=""
cleanup() {
  airflow_stop
  if [[ -n "$database" ]]; then
    psql -h "$pg_host" -p "$pg_port" -U "$pg_user" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" postgres >/dev/null 2>&1 || true
  fi
  [[ -n "$home" ]] && rm -rf "$home"
  home="" database=""
}
trap cleanup EXIT

echo "run-live: building the driver"
(cd "$root" && cargo build --quiet -p cdp-tests --bin cdp-airflow-live)
driver="$CARGO_TARGET_DIR/debug/cdp-airflow-live"

for version in "${versions[@]}"; do
  version_started=$SECONDS
  airflow_ensure "$version" > /dev/null
  home="$(mktemp -d "${TMPDIR:-/tmp}/cdp-airflow-live.XXXXXX")"
  database="cdp_airflow_live_$$_${version//./_}"
  airflow_init "$version" "$home" "$(airflow_free_port)"

  # The ETL tasks write to the driver's database through cdp_etl and read its marketplace table.
  export CDP_ETL_DSN="postgresql://$pg_user@$pg_host:$pg_port/$database"
  export CDP_ETL_SOURCE_DSN="$CDP_ETL_DSN"
  export CDP_ETL_SOURCE_RELATION=marketplace.users
  export CDP_ETL_STAGING_DIR="$home/staging"

  airflow_start
  case "$AIRFLOW_API" in
    v1) airflow_wait 90 ;;
    v2) airflow_wait 120 ;;
  esac
  echo "run-live: Airflow $version ($AIRFLOW_API) up on $AIRFLOW_URL after $((SECONDS - version_started))s"

  if ! "$driver" --airflow-url "$AIRFLOW_URL" --api "$AIRFLOW_API" --username "$AIRFLOW_USER" --password "$AIRFLOW_PASSWORD" --database "$database"; then
    echo "run-live: Airflow $version failed; its logs:" >&2
    airflow_logs 60
    find "$home/logs" -name '*.log' -newer "$home/db-migrate.log" -path '*cdp_users_load*' -exec tail -n 40 {} + >&2 2>/dev/null || true
    exit 1
  fi
  cleanup
  echo "run-live: Airflow $version passed in $((SECONDS - version_started))s"
done
echo "run-live: all done in $((SECONDS - started))s"
