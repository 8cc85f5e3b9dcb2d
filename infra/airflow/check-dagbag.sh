#!/usr/bin/env bash
# Loads infra/airflow/dags in a real Airflow 2.10.5 and 3.x (tests/dagbag_check.py): no import
# error, the three CDP DAGs with begin_batch → stage → validate → publish, and one real run of
# cdp_users_load per version (a good batch published, a broken one failing the run) against
# the PostgreSQL at CDP_TEST_PG (default 127.0.0.1:5432, user postgres).
#
# Each Airflow lives in a cached virtualenv, ${CDP_CACHE_DIR:-$HOME/.cache/cdp}/airflow-<version>,
# installed only when absent (or when requirements.txt changed); AIRFLOW_HOME is a fresh
# temporary directory per run (SQLite metadata, `airflow db migrate`), removed afterwards.
#   CDP_AIRFLOW_VERSIONS="2.10.5 3.3.2"   versions to check
#   CDP_DAGBAG_RUN=0                     only the import/structure check, no DAG run
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${CDP_CACHE_DIR:-$HOME/.cache/cdp}"
python="${CDP_PYTHON:-python3}"
read -r -a versions <<< "${CDP_AIRFLOW_VERSIONS:-2.10.5 3.3.2}"
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in the work tree
stamp_name=".cdp-installed-$(cat "$here/requirements.txt" | sha256sum | cut -c1-16)"

ensure_airflow() {  # $1 = version; prints the venv path
  local version="$1" venv="$cache/airflow-$1"
  if [[ ! -f "$venv/$stamp_name" ]]; then
    echo "check-dagbag: installing apache-airflow==$version into $venv" >&2
    rm -rf "$venv"
    mkdir -p "$cache"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
      "apache-airflow==$version" -r "$here/requirements.txt" >&2
    touch "$venv/$stamp_name"
  fi
  echo "$venv"
}

status=0
for version in "${versions[@]}"; do
  started=$SECONDS
  venv="$(ensure_airflow "$version")"
  home="$(mktemp -d "${TMPDIR:-/tmp}/cdp-airflow-home.XXXXXX")"
  (
    export AIRFLOW_HOME="$home"
    export AIRFLOW__CORE__LOAD_EXAMPLES=False
    export AIRFLOW__CORE__DAGS_FOLDER="$here/dags"
    export AIRFLOW__CORE__UNIT_TEST_MODE=False
    export AIRFLOW__LOGGING__LOGGING_LEVEL="${AIRFLOW__LOGGING__LOGGING_LEVEL:-WARNING}"
    # The metadata database is needed for the DAG runs, not for parsing.
    if [[ "${CDP_DAGBAG_RUN:-1}" != "0" ]]; then
      "$venv/bin/airflow" db migrate > "$home/db-migrate.log" 2>&1 \
        || { cat "$home/db-migrate.log" >&2; exit 1; }
    fi
    "$venv/bin/python" "$here/tests/dagbag_check.py" --dags "$here/dags" \
      $([[ "${CDP_DAGBAG_RUN:-1}" != "0" ]] && echo --run)
  ) || status=1
  rm -rf "$home"
  echo "check-dagbag: Airflow $version done in $((SECONDS - started))s (status so far: $status)"
done
exit "$status"
