# One real Airflow from PyPI (2.10.x: API v1, basic auth; 3.x: API v2, JWT) on 127.0.0.1 with
# the project's DAGs (infra/airflow/dags), for the tests that talk to it: tests/airflow/run-live.sh
# and tests/e2e/run.sh. Sourced, not run:
#
#   source tests/airflow/lib.sh
#   airflow_init 2.10.5 "$home" "$port"   # sets AIRFLOW_URL AIRFLOW_API AIRFLOW_USER AIRFLOW_PASSWORD
#   airflow_start                         # installs if absent, migrates, starts the servers
#   airflow_wait 90                       # until the health endpoint answers (bounded)
#   airflow_stop                          # every process airflow_start started, by process group
#
# Airflow lives in the cached virtualenvs shared with infra/airflow/check-dagbag.sh,
# ${CDP_CACHE_DIR:-$HOME/.cache/cdp}/airflow-<version>, installed only when absent. $home is a
# throwaway AIRFLOW_HOME (SQLite metadata, logs, the PIDs of the servers); the caller removes it.
# Airflow's own settings are given to Airflow's processes only; the rest of the caller's
# environment (e.g. CDP_ETL_DSN for the DAG tasks) reaches them as it is. Every server is bound
# to 127.0.0.1 (the scheduler's log server is skipped) and started in its own session.

_airflow_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
_airflow_etl="$_airflow_root/infra/airflow"
airflow_cache="${CDP_CACHE_DIR:-$HOME/.cache/cdp}"
airflow_python="${CDP_PYTHON:-python3}"
# The same venv and stamp as check-dagbag.sh, so the two share one install per version.
_airflow_stamp=".cdp-installed-$(sha256sum < "$_airflow_etl/requirements.txt" | cut -c1-16)"

airflow_ensure() {  # $1 = version; prints the venv path
  local version="$1" venv="$airflow_cache/airflow-$1"
  if [[ ! -f "$venv/$_airflow_stamp" ]]; then
    echo "airflow: installing apache-airflow==$version into $venv" >&2
    rm -rf "$venv"
    mkdir -p "$airflow_cache"
    "$airflow_python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
      "apache-airflow==$version" -r "$_airflow_etl/requirements.txt" >&2
    touch "$venv/$_airflow_stamp"
  fi
  echo "$venv"
}

airflow_free_port() {
  "$airflow_python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

airflow_init() {  # $1 = version, $2 = AIRFLOW_HOME (existing, empty), $3 = port
  AIRFLOW_VERSION_RUN="$1" AIRFLOW_HOME_DIR="$2" AIRFLOW_PORT="$3"
  AIRFLOW_URL="http://127.0.0.1:$3"
  AIRFLOW_USER=admin
  AIRFLOW_PASSWORD="af-$(head -c 12 /dev/urandom | base64 | tr -d '/+=\n')"
  case "$1" in
    2.*) AIRFLOW_API=v1 AIRFLOW_HEALTH="$AIRFLOW_URL/health" ;;
    3.*) AIRFLOW_API=v2 AIRFLOW_HEALTH="$AIRFLOW_URL/api/v2/monitor/health" ;;
    *) echo "airflow: no recipe for Airflow $1" >&2; return 1 ;;
  esac
}

# Installs (when absent), migrates the metadata database, creates the API user and starts the
# servers in the background. Returns once they are started, not once they answer (airflow_wait).
# Everything runs from the caller's shell, so a caller that is stopped starts nothing more, and
# its airflow_stop also ends a step still running.
airflow_start() {
  local venv home="$AIRFLOW_HOME_DIR"
  venv="$(airflow_ensure "$AIRFLOW_VERSION_RUN")" || return 1
  # Airflow's settings, for Airflow's processes only. Its executors start `airflow tasks run`
  # by name, hence PATH.
  local settings=(
    PATH="$venv/bin:$PATH"
    PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in the DAG folder
    AIRFLOW_HOME="$home"
    AIRFLOW__CORE__LOAD_EXAMPLES=False
    AIRFLOW__CORE__DAGS_FOLDER="$_airflow_etl/dags"
    AIRFLOW__CORE__UNIT_TEST_MODE=False
    AIRFLOW__LOGGING__LOGGING_LEVEL=WARNING
  )
  case "$AIRFLOW_API" in
    v1)
      settings+=(
        AIRFLOW__API__AUTH_BACKENDS=airflow.api.auth.backend.basic_auth,airflow.api.auth.backend.session
        AIRFLOW__WEBSERVER__WORKERS=1
        AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL=5
      )
      ;;
    v2)
      settings+=(
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="$AIRFLOW_USER:admin"
        AIRFLOW__API__HOST=127.0.0.1 AIRFLOW__API__PORT="$AIRFLOW_PORT" AIRFLOW__API__BASE_URL="$AIRFLOW_URL"
        AIRFLOW__API__WORKERS=1
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL="$AIRFLOW_URL/execution/"
        AIRFLOW__API_AUTH__JWT_SECRET="$(head -c 32 /dev/urandom | base64 | tr -d '/+=\n')"
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=5
      )
      ;;
  esac
  local airflow=(env "${settings[@]}" "$venv/bin/airflow")
  _airflow_step db-migrate "${airflow[@]}" db migrate || return 1
  case "$AIRFLOW_API" in
    v1)
      _airflow_step users "${airflow[@]}" users create --username "$AIRFLOW_USER" --password "$AIRFLOW_PASSWORD" \
        --role Admin --firstname CDP --lastname Test --email airflow@cdp.test || return 1
      _airflow_launch webserver "${airflow[@]}" webserver -H 127.0.0.1 -p "$AIRFLOW_PORT"
      _airflow_launch scheduler "${airflow[@]}" scheduler --skip-serve-logs
      ;;
    v2)
      printf '{"%s": "%s"}' "$AIRFLOW_USER" "$AIRFLOW_PASSWORD" > "$home/simple_auth_manager_passwords.json.generated"
      _airflow_launch api-server "${airflow[@]}" api-server
      _airflow_launch scheduler "${airflow[@]}" scheduler --skip-serve-logs
      _airflow_launch dag-processor "${airflow[@]}" dag-processor
      ;;
  esac
}

_airflow_launch() {  # $1 = log name, then the command: a server in a new session, its PID (= group) kept
  local name="$1"
  shift
  setsid "$@" > "$AIRFLOW_HOME_DIR/$name.log" 2>&1 < /dev/null &
  echo "$!" >> "$AIRFLOW_HOME_DIR/airflow.pids"
}

_airflow_step() {  # $1 = log name, then the command: runs it to its end; its log on failure
  local name="$1" status=0
  shift
  setsid "$@" > "$AIRFLOW_HOME_DIR/$name.log" 2>&1 < /dev/null &
  _airflow_step_pid=$!
  wait "$_airflow_step_pid" || status=$?
  _airflow_step_pid=""
  if ((status != 0)); then
    cat "$AIRFLOW_HOME_DIR/$name.log" >&2
    return "$status"
  fi
}

airflow_logs() {  # $1 = lines per log (default 40): the servers' logs, for a failure report
  tail -n "${1:-40}" "$AIRFLOW_HOME_DIR"/*.log >&2 2>/dev/null || true
}

airflow_wait() {  # $1 = seconds: waits for a 200 from the health endpoint
  local deadline=$((SECONDS + $1))
  until curl -fs -o /dev/null --max-time 2 "$AIRFLOW_HEALTH" 2>/dev/null; do
    if ((SECONDS > deadline)); then
      echo "airflow: $AIRFLOW_HEALTH did not answer within $1 s; logs:" >&2
      airflow_logs
      return 1
    fi
    sleep 0.5
  done
}

airflow_stop() {  # stops every process airflow_start started (TERM, then KILL after 10 s)
  local pids=() pid
  if [[ -n "${_airflow_step_pid:-}" ]]; then  # a step airflow_start is waiting for
    kill -TERM -- "-$_airflow_step_pid" 2>/dev/null || true
    _airflow_step_pid=""
  fi
  [[ -n "${AIRFLOW_HOME_DIR:-}" && -f "$AIRFLOW_HOME_DIR/airflow.pids" ]] || return 0
  mapfile -t pids < "$AIRFLOW_HOME_DIR/airflow.pids"
  for pid in "${pids[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  rm -f "$AIRFLOW_HOME_DIR/airflow.pids"
}
