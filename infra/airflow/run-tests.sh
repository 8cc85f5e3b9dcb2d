#!/usr/bin/env bash
# The ETL's tests: pytest in a cached virtualenv against the real PostgreSQL (CDP_TEST_PG,
# default 127.0.0.1:5432 as postgres), then check-dagbag.sh in real Airflow 2.10.5 and 3.x.
#   ${CDP_CACHE_DIR:-$HOME/.cache/cdp}/etl-test-venv   reused; reinstalled when a requirements file changes
#   extra arguments go to pytest (e.g. ./run-tests.sh -k activity); CDP_SKIP_DAGBAG=1 skips the Airflow part
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${CDP_CACHE_DIR:-$HOME/.cache/cdp}"
python="${CDP_PYTHON:-python3}"
venv="$cache/etl-test-venv"
stamp="$venv/.cdp-installed-$(cat "$here/requirements.txt" "$here/requirements-test.txt" | sha256sum | cut -c1-16)"
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in the work tree

started=$SECONDS
if [[ ! -f "$stamp" ]]; then
  echo "run-tests: installing the test venv into $venv"
  rm -rf "$venv"
  mkdir -p "$cache"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements-test.txt"
  touch "$stamp"
fi

"$venv/bin/python" - <<'PY'
import os, sys
import psycopg
dsn = os.environ.get("CDP_TEST_PG", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
try:
    psycopg.connect(dsn, connect_timeout=5).close()
except Exception as exc:
    sys.exit(f"run-tests: PostgreSQL is not reachable at {dsn!r} (set CDP_TEST_PG): {exc}")
PY

(cd "$here" && "$venv/bin/python" -m pytest "$@")
echo "run-tests: pytest done after $((SECONDS - started))s"

if [[ "${CDP_SKIP_DAGBAG:-0}" != "1" ]]; then
  "$here/check-dagbag.sh"
fi
echo "run-tests: all done in $((SECONDS - started))s"
