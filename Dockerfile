# syntax=docker/dockerfile:1
# The production image of the CDP: one binary, `cdp`, that serves (gRPC, grpc-web and the web
# client on one port), works jobs, and migrates. The same image runs all three on Cloud Run with
# a different command (infra/terraform/modules/server):
#   cdp serve     (the default CMD)     cdp worker     cdp migrate
#
# Build:  docker build -t cdp .        (or: buildah bud -t cdp .)
# Lint:   infra/tests/check.sh         (hadolint, pinned, in a cached venv)
#
# Health: the image has no HEALTHCHECK. Its runtime stage has no shell and no probe binary
# (grpc_health_probe would be a download from GitHub at build time), and Docker's HEALTHCHECK is
# not part of the OCI image format Cloud Run runs anyway. The orchestrator checks
# grpc.health.v1.Health/Check on port 8080 instead (startup and liveness probes in
# infra/terraform/modules/server); see docs/deploy.md, "Health checks".
#
# Base images are pinned by version. Pin them by digest as well (`@sha256:...`) once a machine
# that can pull them has resolved the digests; this one cannot reach any container registry.

ARG RUST_IMAGE=docker.io/library/rust:1.95.0-slim-trixie
ARG NODE_IMAGE=docker.io/library/node:22.20.0-trixie-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian13:nonroot

# --- cdp, release build ------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS builder
WORKDIR /src
# Everything the workspace needs to compile: the manifests and lock file, the contract (compiled
# by protox in proto/build.rs, so no protoc), the server, the test crate's manifest and sources
# (a workspace member), and the SQL migrations that `cdp migrate` embeds. A new workspace
# member in Cargo.toml needs its own COPY line here.
COPY Cargo.toml Cargo.lock ./
COPY proto ./proto
COPY server ./server
COPY tests ./tests
COPY examples/redeem-client ./examples/redeem-client
COPY migrations ./migrations
# The registry and target directories are build caches, not image layers; the binary is copied
# out of the cached target directory within the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p cdp-server --bin cdp \
    && install -D -m 0755 target/release/cdp /out/cdp

# --- the web client ----------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS web
WORKDIR /src
# Dependencies first, so that a change to the sources reuses them: the pinned buf and
# protoc-gen-es, then the client's packages.
COPY tools/buf/package.json tools/buf/package-lock.json ./tools/buf/
RUN npm ci --prefix tools/buf --no-audit --no-fund --loglevel=error
COPY client-web/package.json client-web/package-lock.json ./client-web/
RUN npm ci --prefix client-web --no-audit --no-fund --loglevel=error
# The TypeScript stubs are generated from the contract (buf generate, local plugin only) and the
# client is type-checked and bundled: client-web's `build` script does all three.
COPY buf.yaml buf.gen.yaml ./
COPY proto ./proto
COPY client-web ./client-web
RUN npm run build --prefix client-web

# --- runtime -----------------------------------------------------------------------------------
# distroless cc: glibc, libgcc, CA certificates (reqwest verifies TLS with the system roots), a
# non-root user (65532) and nothing else: no shell, no package manager.
FROM ${RUNTIME_IMAGE}
LABEL org.opencontainers.image.title="cdp" \
      org.opencontainers.image.description="Customer Data Platform: gRPC + grpc-web API, web client, job worker and migrations" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/cdp /usr/local/bin/cdp
COPY --from=web /src/client-web/dist /srv/cdp/web
ENV PATH=/usr/local/bin:/usr/bin:/bin \
    CDP_LISTEN_ADDR=0.0.0.0:8080 \
    CDP_WEB_DIST_DIR=/srv/cdp/web
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["cdp"]
CMD ["serve"]
