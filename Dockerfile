# syntax=docker/dockerfile:1
# vaultlet image: the agent injector (/vaultlet-injector) and the agent (/vaultlet-agent, also reachable
# as /bin/vault so upstream-style `vault agent …` and `vault token revoke …` commands resolve).
# Static musl executables on an empty (scratch) base: no shell, no package manager. The agent is
# built with the size profile `agent` (every pod carries it), the injector with `release` (speed).
#
#   docker build -t vaultlet/vaultlet:0.1.0 .
#
# The agent is the entrypoint (the injector injects this image and passes only arguments); the chart
# runs the injector with command /vaultlet-injector.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS builder
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Set by BuildKit for the platform being built (the build runs natively or emulated for it).
ARG TARGETARCH=amd64
# musl-tools: musl-gcc for the C parts (aws-lc) of the TLS stack; cmake for aws-lc's build script.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends musl-tools cmake ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN set -eu; \
    case "${TARGETARCH}" in \
      amd64) triple=x86_64-unknown-linux-musl ;; \
      arm64) triple=aarch64-unknown-linux-musl ;; \
      *) echo "unsupported TARGETARCH ${TARGETARCH}" >&2; exit 1 ;; \
    esac; \
    rustup target add "${triple}"; \
    export "CC_$(echo "${triple}" | tr - _)=musl-gcc"; \
    cargo build --release --locked --target "${triple}" -p vaultlet-injector --bins; \
    # Packed relocations (DT_RELR): the static-pie agent's ~470 KB relocation table, read in full at
    # every start, becomes ~5 KB (−0.35 MiB peak RSS). The link uses the musl rustup bundles with
    # the target (1.2.5; DT_RELR needs >= 1.2.4), not Debian's 1.2.3, which only musl-gcc uses.
    # hot-text.ld links the functions an agent runs together at the front of its code, so they
    # share 64 KiB fault-around blocks (init peak RSS 3.9 → 2.1 MiB; bench/hot_text.py).
    RUSTFLAGS="-C link-arg=-Wl,-z,pack-relative-relocs -C link-arg=-Wl,-T,/src/agent/link/hot-text.ld" \
      cargo build --profile agent --locked --target "${triple}" -p vaultlet-agent --bins; \
    mkdir -p /out/bin /out/etc/ssl/certs /out/tmp /out/home/vault; \
    cp "target/${triple}/release/vaultlet-injector" "target/${triple}/agent/vaultlet-agent" /out/; \
    ln /out/vaultlet-agent /out/bin/vault; \
    cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ca-certificates.crt; \
    chmod 1777 /out/tmp; \
    chown 100:1000 /out/home/vault

FROM scratch
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="vaultlet" \
      org.opencontainers.image.description="Vault Agent Injector (vault-k8s) and Vault Agent, reimplemented in Rust" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="https://github.com/vaultlet/vaultlet" \
      org.opencontainers.image.url="https://github.com/vaultlet/vaultlet" \
      org.opencontainers.image.licenses="MPL-2.0" \
      org.opencontainers.image.vendor="vaultlet"
COPY --from=builder /out/ /
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    HOME=/home/vault
# uid 100 / gid 1000 as upstream's vault image, so /home/vault mounts and the injector's default
# run-as-user/run-as-group (100/1000) match.
USER 100:1000
WORKDIR /home/vault
ENTRYPOINT ["/vaultlet-agent"]
