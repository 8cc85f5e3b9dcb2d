#!/usr/bin/env bash
# The Airflow client against real Airflow from PyPI: 2.10.5 (API v1, basic auth) and 3.3.2
# (API v2, JWT). For each version: a throwaway AIRFLOW_HOME on SQLite, the project's DAGs
# (infra/airflow/dags), Airflow's servers on 127.0.0.1 only (scheduler with --skip-serve-logs,
# so no log server binds other interfaces), then tests/airflow/live.rs drives ListDags,
# TriggerDag and the run's state through the CDP's IntegrationService, and a real
# cdp_users_load run publishes into the CDP database. Every wait is bounded; every process
# started here is stopped by its PID (process group) on exit.
#
# Airflow lives in the same cached virtualenvs as infra/airflow/check-dagbag.sh,
# ${CDP_CACHE_DIR:-$HOME/.cache/cdp}/airflow-<version>, installed only when absent.
#   CDP_AIRFLOW_VERSIONS="2.10.5 3.3.2"   versions to run
#   PGHOST/PGPORT/PGUSER                 the PostgreSQL (default 127.0.0.1:5432, postgres)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
etl="$root/infra/airflow"
cache="${CDP_CACHE_DIR:-$HOME/.cache/cdp}"
python="${CDP_PYTHON:-python3}"
read -r -a versions <<< "${CDP_AIRFLOW_VERSIONS:-2.10.5 3.3.2}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cdp-target}"
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in the DAG folder
pg_host="${PGHOST:-127.0.0.1}" pg_port="${PGPORT:-5432}" pg_user="${PGUSER:-postgres}"
started=$SECONDS
base_path="$PATH"

# The same venv and stamp as check-dagbag.sh, so the two share one install per version.
stamp_name=".cdp-installed-$(cat "$etl/requirements.txt" | sha256sum | cut -c1-16)"
ensure_airflow() {  # $1 = version; prints the venv path
  local version="$1" venv="$cache/airflow-$1"
  if [[ ! -f "$venv/$stamp_name" ]]; then
    echo "run-live: installing apache-airflow==$version into $venv" >&2
    rm -rf "$venv"
    mkdir -p "$cache"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
      "apache-airflow==$version" -r "$etl/requirements.txt" >&2
    touch "$venv/$stamp_name"
  fi
  echo "$venv"
}

free_port() {
  "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pids=()
home=""
database=""
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    # Each server was started in its own session: stop its whole process group.
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  pids=()
  if [[ -n "$database" ]]; then
    psql -h "$pg_host" -p "$pg_port" -U "$pg_user" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" postgres >/dev/null 2>&1 || true
  fi
  [[ -n "$home" ]] && rm -rf "$home"
  home="" database=""
}
trap cleanup EXIT

start() {  # $1 = log name, then the command; runs it in a new session, remembers its PID
  local name="$1"
  shift
  setsid "$@" > "$home/$name.log" 2>&1 < /dev/null &
  pids+=("$!")
}

wait_http() {  # $1 = url, $2 = seconds; waits for a 200
  local deadline=$((SECONDS + $2))
  until curl -fs -o /dev/null --max-time 2 "$1" 2>/dev/null; do
    if ((SECONDS > deadline)); then
      echo "run-live: $1 did not answer within $2 s; logs:" >&2
      tail -n 40 "$home"/*.log >&2 || true
      return 1
    fi
    sleep 0.5
  done
}

echo "run-live: building the driver"
(cd "$root" && cargo build --quiet -p cdp-tests --bin cdp-airflow-live)
driver="$CARGO_TARGET_DIR/debug/cdp-airflow-live"

for version in "${versions[@]}"; do
  version_started=$SECONDS
  venv="$(ensure_airflow "$version")"
  home="$(mktemp -d "${TMPDIR:-/tmp}/cdp-airflow-live.XXXXXX")"
  database="cdp_airflow_live_$$_${version//./_}"
  port="$(free_port)"
  url="http://127.0.0.1:$port"
  user=admin
  password="live-$(head -c 12 /dev/urandom | base64 | tr -d '/+=\n')"

  # Airflow's executors start `airflow tasks run ...` by name.
  export PATH="$venv/bin:$base_path"
  export AIRFLOW_HOME="$home"
  export AIRFLOW__CORE__LOAD_EXAMPLES=False
  export AIRFLOW__CORE__DAGS_FOLDER="$etl/dags"
  export AIRFLOW__CORE__UNIT_TEST_MODE=False
  export AIRFLOW__LOGGING__LOGGING_LEVEL=WARNING
  # The ETL tasks write to the driver's database through cdp_etl and read its marketplace table.
  export CDP_ETL_DSN="postgresql://$pg_user@$pg_host:$pg_port/$database"
  export CDP_ETL_SOURCE_DSN="$CDP_ETL_DSN"
  export CDP_ETL_SOURCE_RELATION=marketplace.users
  export CDP_ETL_STAGING_DIR="$home/staging"

  "$venv/bin/airflow" db migrate > "$home/db-migrate.log" 2>&1 || { cat "$home/db-migrate.log" >&2; exit 1; }
  case "$version" in
    2.*)
      api=v1
      export AIRFLOW__API__AUTH_BACKENDS=airflow.api.auth.backend.basic_auth,airflow.api.auth.backend.session
      export AIRFLOW__WEBSERVER__WORKERS=1
      export AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL=5
      "$venv/bin/airflow" users create --username "$user" --password "$password" --role Admin \
        --firstname CDP --lastname Live --email live@cdp.test > "$home/users.log" 2>&1 \
        || { cat "$home/users.log" >&2; exit 1; }
      start webserver "$venv/bin/airflow" webserver -H 127.0.0.1 -p "$port"
      start scheduler "$venv/bin/airflow" scheduler --skip-serve-logs
      wait_http "$url/health" 90
      ;;
    3.*)
      api=v2
      export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="$user:admin"
      printf '{"%s": "%s"}' "$user" "$password" > "$home/simple_auth_manager_passwords.json.generated"
      export AIRFLOW__API__HOST=127.0.0.1 AIRFLOW__API__PORT="$port" AIRFLOW__API__BASE_URL="$url"
      export AIRFLOW__API__WORKERS=1
      export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="$url/execution/"
      export AIRFLOW__API_AUTH__JWT_SECRET="$(head -c 32 /dev/urandom | base64 | tr -d '/+=\n')"
      export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=5
      start api-server "$venv/bin/airflow" api-server
      start scheduler "$venv/bin/airflow" scheduler --skip-serve-logs
      start dag-processor "$venv/bin/airflow" dag-processor
      wait_http "$url/api/v2/monitor/health" 120
      ;;
    *) echo "run-live: no recipe for Airflow $version" >&2; exit 1 ;;
  esac
  echo "run-live: Airflow $version ($api) up on $url after $((SECONDS - version_started))s"

  if ! "$driver" --airflow-url "$url" --api "$api" --username "$user" --password "$password" --database "$database"; then
    echo "run-live: Airflow $version failed; its logs:" >&2
    tail -n 60 "$home"/*.log >&2 || true
    find "$home/logs" -name '*.log' -newer "$home/db-migrate.log" -path '*cdp_users_load*' -exec tail -n 40 {} + >&2 2>/dev/null || true
    exit 1
  fi
  cleanup
  unset AIRFLOW__API__AUTH_BACKENDS AIRFLOW__WEBSERVER__WORKERS AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL \
    AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS AIRFLOW__API__HOST AIRFLOW__API__PORT AIRFLOW__API__BASE_URL \
    AIRFLOW__API__WORKERS AIRFLOW__CORE__EXECUTION_API_SERVER_URL AIRFLOW__API_AUTH__JWT_SECRET \
    AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL
  echo "run-live: Airflow $version passed in $((SECONDS - version_started))s"
done
echo "run-live: all done in $((SECONDS - started))s"
