#!/usr/bin/env bash
# Builds the broker image (Dockerfile), starts it with a fresh volume and waits
# until Docker's own healthcheck (GET /health) reports it healthy; then checks
# that the container runs as the non-root user, that the console is served and
# that the first start's credentials are in the volume. Removes what it made.
# Where no Docker engine runs (`docker info` fails), it says so and exits 0:
# there is nothing to build the image with.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { printf '\033[1;34m[docker-smoke]\033[0m %s\n' "$*" >&2; }

if ! command -v docker >/dev/null || ! docker info >/dev/null 2>&1; then
  say "skipped: no Docker engine on this machine (docker info failed); the image is built and checked where one runs"
  exit 0
fi

tag="pulsemq-smoke:$$"
name="pulsemq-smoke-$$"
volume="pulsemq-smoke-$$"
cleanup() {
  docker rm -f "$name" >/dev/null 2>&1 || true
  docker volume rm "$volume" >/dev/null 2>&1 || true
  docker image rm "$tag" >/dev/null 2>&1 || true
}
trap cleanup EXIT

say "docker build -t $tag (the first build compiles the console tools: about 15 minutes)"
docker build -t "$tag" "$ROOT"
docker volume create "$volume" >/dev/null
docker run -d --name "$name" -p 127.0.0.1::8080 -v "$volume:/data" "$tag" >/dev/null

for _ in $(seq 1 60); do
  status="$(docker inspect -f '{{.State.Health.Status}}' "$name")"
  [ "$status" = healthy ] && break
  [ "$(docker inspect -f '{{.State.Running}}' "$name")" = true ] || { docker logs "$name"; say "the container exited"; exit 1; }
  sleep 2
done
[ "$status" = healthy ] || { docker logs "$name"; say "not healthy after 120 s (status: $status)"; exit 1; }

user="$(docker exec "$name" id -un)"
[ "$user" = pulsemq ] || { say "runs as '$user', not the pulsemq user"; exit 1; }
port="$(docker port "$name" 8080/tcp | head -1 | sed 's/.*://')"
curl -fsS "http://127.0.0.1:$port/" | grep -qi '<html' || { say "the console is not served"; exit 1; }
docker exec "$name" test -s /data/.pulsemq_admin || { say "no /data/.pulsemq_admin in the volume"; exit 1; }
say "ok: healthy, runs as pulsemq, console served, credentials in the /data volume"
