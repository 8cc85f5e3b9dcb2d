#!/usr/bin/env bash
# Starts the real `cdp` binary (with its worker, a bootstrap admin and a small seeded
# marketplace) on its own database and a free port, then runs against it: a Python grpcio client
# that was not generated from this repository (reflection, health, a call), and the SDKs
# generated from the protos, including the Python example examples/redeem.py end to end.
set -euo pipefail
cdp=${1:?usage: run.sh path/to/cdp}
here=$(cd "$(dirname "$0")" && pwd)
venv=${CDP_CACHE_DIR:-$HOME/.cache/cdp}/interop-venv
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$here/requirements.txt" "$venv/requirements.txt"; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$venv/requirements.txt"
fi
db="cdp_interop_$$"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export DATABASE_URL="postgres://${PGUSER:-postgres}@${PGHOST:-127.0.0.1}:${PGPORT:-5432}/$db"
export CDP_LISTEN_ADDR="127.0.0.1:$port" CDP_JWT_SECRET="interop-$(head -c 32 /dev/urandom | base64 | tr -d '/+=\n')"
export CDP_REDIS_KEY_PREFIX="cdp_interop_$$" RUST_LOG=warn
unset CDP_WEB_DIST_DIR
# The first super admin, created by `cdp serve`; its password is made up for this run only.
export CDP_BOOTSTRAP_ADMIN_EMAIL="admin@interop.test" CDP_BOOTSTRAP_ADMIN_PASSWORD="interop-$(head -c 18 /dev/urandom | base64 | tr -d '/+=\n')"
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  psql -h "${PGHOST:-127.0.0.1}" -U "${PGUSER:-postgres}" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  # The promotion's keys expire with it; drop whatever else this run wrote under its prefix.
  if command -v redis-cli >/dev/null; then
    redis=(redis-cli -u "${REDIS_URL:-redis://127.0.0.1:6379/0}")
    "${redis[@]}" --scan --pattern "$CDP_REDIS_KEY_PREFIX:*" 2>/dev/null | xargs -r "${redis[@]}" del >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
"$cdp" migrate
"$cdp" seed --users 500 >/dev/null
"$cdp" serve --with-worker & pid=$!
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
"$venv/bin/python" "$here/reflection_check.py" "127.0.0.1:$port"
# The SDKs, generated from the same protos, against the same server.
root=$(cd "$here/../.." && pwd)
PYTHON="$venv/bin/python" "$root/sdk/python/generate.sh"
(cd "$root/sdk/python" && "$venv/bin/python" test_sdk.py "127.0.0.1:$port")
# examples/redeem.py against the live server: cohort, promotion, credential set up with the stubs.
(cd "$root/sdk/python" && CDP_SDK_TEST_ADMIN_EMAIL="$CDP_BOOTSTRAP_ADMIN_EMAIL" CDP_SDK_TEST_ADMIN_PASSWORD="$CDP_BOOTSTRAP_ADMIN_PASSWORD" \
  "$venv/bin/python" test_redeem_example.py "127.0.0.1:$port")
(cd "$root/sdk/typescript" && { [ -d node_modules/@connectrpc ] || npm ci --no-audit --no-fund --loglevel=error; } && CDP_SDK_TEST_URL="http://127.0.0.1:$port" npm test --silent)
