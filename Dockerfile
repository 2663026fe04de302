# PulseMQ broker image: the console is built and embedded in the builder stage,
# the runtime stage is Debian slim with the one binary, run as a non-root user.
#
#   docker build -t pulsemq .
#   docker run -d -p 5555:5555 -p 5556:5556 -p 8080:8080 -v pulsemq-data:/data pulsemq
#   docker exec <container> cat /data/.pulsemq_admin      # first start's credentials
#
# scripts/docker-smoke.sh builds it, starts it and waits for the healthcheck.

FROM rust:1.95-bookworm AS builder
WORKDIR /src
# Node for wasm-opt (npm binaryen), used by the console build.
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends nodejs npm g++ make \
    && rm -rf /var/lib/apt/lists/*
COPY . .
# The same set-up as a developer's machine: wasm32 target, trunk, wasm-bindgen-cli and
# wasm-opt at the versions the build wants (scripts/setup.sh), then the console and the broker.
RUN bash scripts/setup.sh ui \
    && PATH="/src/.tools/node_modules/.bin:$PATH" trunk build --release --offline \
    && cargo build --release -p pulsemq \
    && strip target/release/pulsemq

FROM debian:bookworm-slim
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin pulsemq \
    && mkdir -p /data /etc/pulsemq && chown pulsemq:pulsemq /data
COPY --from=builder /src/target/release/pulsemq /usr/local/bin/pulsemq
COPY deploy/docker-config.yaml /etc/pulsemq/config.yaml
USER pulsemq
WORKDIR /data
# Database, .pulsemq_admin and logs.
VOLUME ["/data"]
EXPOSE 5555 5556 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/health || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/pulsemq", "--config", "/etc/pulsemq/config.yaml"]
