# The two entry points a new engineer needs (README): `make up` runs the whole product locally,
# `make test` runs the entire suite. CI (.ci/run, .github/workflows/ci.yml) calls the same.
SHELL := /bin/bash
.DEFAULT_GOAL := help

export CARGO_TARGET_DIR ?= $(HOME)/.cache/cdp-target
CDP := $(CARGO_TARGET_DIR)/debug/cdp
BUF := tools/buf/node_modules/.bin/buf

.PHONY: help up env build web proto-ts lint test test-proto test-rust test-web test-interop test-e2e test-etl test-infra test-airflow-live bench-seed bench-dashboard bench-users bench-cohorts bench-redemption release-contract clean-test-dbs

help:
	@echo "make up    - migrate, build the web client, serve UI + gRPC + grpc-web and run the worker"
	@echo "make test  - the whole suite (contract lint, Rust integration tests, web tests, interop)"
	@echo "make lint  - formatting, clippy (warnings denied), buf, the web client's types and lint"

# A local .env (git-ignored) with fresh secrets, made once from .env.example.
.env:
	@cp .env.example .env
	@sed -i "s|^CDP_JWT_SECRET=.*|CDP_JWT_SECRET=$$(head -c 48 /dev/urandom | base64 | tr -d '/+=\n')|" .env
	@sed -i "s|^CDP_BOOTSTRAP_ADMIN_EMAIL=.*|CDP_BOOTSTRAP_ADMIN_EMAIL=admin@cdp.local|" .env
	@sed -i "s|^CDP_BOOTSTRAP_ADMIN_PASSWORD=.*|CDP_BOOTSTRAP_ADMIN_PASSWORD=$$(head -c 18 /dev/urandom | base64 | tr -d '/+=\n')|" .env
	@echo "Wrote .env with a new JWT secret and a bootstrap admin (see CDP_BOOTSTRAP_ADMIN_* in .env)."

env: .env

tools/buf/node_modules/.installed: tools/buf/package-lock.json
	cd tools/buf && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

proto-ts: tools/buf/node_modules/.installed
	$(BUF) generate

client-web/node_modules/.installed: client-web/package-lock.json
	cd client-web && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

web: proto-ts client-web/node_modules/.installed
	cd client-web && npm run build

build:
	cargo build -p cdp-server --bin cdp

up: .env build web
	@set -a; source ./.env; set +a; \
	  $(CDP) migrate && \
	  $(CDP) seed --if-empty && \
	  echo "CDP on $${CDP_PUBLIC_URL}: sign in as $${CDP_BOOTSTRAP_ADMIN_EMAIL} (password in .env)" && \
	  exec $(CDP) serve --with-worker

test: test-proto test-infra test-rust test-web test-interop test-e2e test-etl test-airflow-live
	@echo "make test: all suites passed"

# Static checks (the lint job of .github/workflows/ci.yml): Rust formatting and clippy with
# warnings denied, the contract (lint, format, breaking), the web client's types and lint.
lint: test-proto client-web/node_modules/.installed proto-ts
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	cd client-web && npm run typecheck && npm run lint

# The contract: buf lint (STANDARD) and formatting.
test-proto: tools/buf/node_modules/.installed
	$(BUF) lint
	$(BUF) format --diff --exit-code
	$(BUF) breaking --against proto/released/cdp-v1.binpb

# On a release: refresh the image that `buf breaking` compares the contract against.
release-contract: tools/buf/node_modules/.installed
	$(BUF) build -o proto/released/cdp-v1.binpb

test-rust:
	cargo nextest run --workspace --no-fail-fast

test-web: proto-ts client-web/node_modules/.installed
	cd client-web && npm run typecheck && npm run lint && npm test

# A client not generated from this repository (Python grpcio + reflection) against a live server.
test-interop: build
	tests/interop/run.sh $(CDP)

# The web client in a real browser against the real server (screenshots in tests/e2e/screenshots).
test-e2e: build web
	tests/e2e/run.sh $(CDP)

test-etl:
	infra/airflow/run-tests.sh

# The CDP's IntegrationService against a real Airflow 2.10 (API v1) and 3.3 (API v2) on 127.0.0.1.
test-airflow-live: build
	tests/airflow/run-live.sh

# Terraform parses, variables are declared, secrets are sensitive and never literal; the Dockerfile lints.
test-infra:
	infra/tests/check.sh

# Benchmarks: never part of `make test`; each prints its figures (docs/benchmarks.md keeps them).
bench-dashboard:
	cargo bench -p cdp-tests --bench dashboard

bench-users:
	cargo run --release -p cdp-tests --bin cdp-bench-users -- 1000000 300

bench-seed:
	tests/bench/seed.sh

bench-cohorts:
	cargo run --release -p cdp-tests --bin cdp-bench-cohorts

bench-redemption:
	tests/bench/redemption/run.sh

# Test databases are dropped by each test; this removes any a killed run left behind.
clean-test-dbs:
	psql -h 127.0.0.1 -U postgres -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'cdp_t_%' OR datname LIKE 'cdp_tpl_%'" | \
	  xargs -r -I{} psql -h 127.0.0.1 -U postgres -qc 'DROP DATABASE IF EXISTS "{}" WITH (FORCE)'
