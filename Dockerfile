# syntax=docker/dockerfile:1
# The tiketi server: one image for every role (`tiketi serve --role …`), with the web app's built
# files. Three stages: the web app (Node), the binary (Rust), and a small runtime without a shell.
#   docker build -t tiketi .            (./dev package does it when a Docker daemon is available)
# Kubernetes runs it non-root with a read-only root filesystem (k8s/base/pod-defaults.yaml); the
# one writable path is TIKETI_DATA_DIR, an emptyDir there. docs/operations.md, "Images".

# --- The web app: npm ci from the lockfile, then tsc + vite + the .br/.gz twins -------------------
FROM node:20-bookworm-slim AS web
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY frontend/ ./
RUN npm run build

# --- The binary: release build of the workspace's `tiketi` --------------------------------------
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
# The registry and target directory are cache mounts: a rebuild compiles only what changed.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin tiketi \
    && install -D -m 0555 target/release/tiketi /out/tiketi \
    && mkdir -p /out/data

# --- Runtime: glibc and CA certificates, no shell, no package manager, uid 65532 -----------------
# The binary links only libc, libm and libgcc_s (TLS is rustls), all in distroless/cc.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/tiketi /usr/local/bin/tiketi
COPY --from=web /src/frontend/dist /usr/share/tiketi/web
# TIKETI_DATA_DIR: local signing keys and report files when not in AWS; owned by the runtime user.
COPY --from=build --chown=65532:65532 /out/data /var/lib/tiketi
# PATH explicit: Kubernetes runs `command: ["tiketi"]` (k8s/base/pod-defaults.yaml).
ENV PATH=/usr/local/bin:/usr/bin:/bin \
    TIKETI_HOST=0.0.0.0 \
    TIKETI_PORT=8080 \
    TIKETI_WEB_DIR=/usr/share/tiketi/web \
    TIKETI_DATA_DIR=/var/lib/tiketi \
    TIKETI_LOG_FORMAT=json
USER 65532:65532
EXPOSE 8080
# Kubernetes probes /healthz and /readyz itself; this serves `docker run` and Compose.
HEALTHCHECK --interval=10s --timeout=4s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/tiketi", "probe", "--path", "/healthz"]
ENTRYPOINT ["/usr/local/bin/tiketi"]
CMD ["serve"]
