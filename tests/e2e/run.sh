#!/usr/bin/env bash
# Runs the browser tests as a person would use the product: the real `cdp` binary serving the
# built web client on its own database and a free port, driven by Playwright in Debian's
# Chromium. Screenshots of every page land in tests/e2e/screenshots/.
set -euo pipefail
cdp=${1:?usage: run.sh path/to/cdp}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
[ -x /usr/bin/chromium ] || { echo "e2e: /usr/bin/chromium is missing (apt-get install chromium)"; exit 1; }
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
  psql -h "${PGHOST:-127.0.0.1}" -U "${PGUSER:-postgres}" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
"$cdp" migrate
"$cdp" seed --users 2000
"$cdp" serve --with-worker & pid=$!
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
cd "$here"
CDP_E2E_URL="$CDP_PUBLIC_URL" CDP_E2E_ADMIN_EMAIL="$CDP_BOOTSTRAP_ADMIN_EMAIL" CDP_E2E_ADMIN_PASSWORD="$CDP_BOOTSTRAP_ADMIN_PASSWORD" npm test
