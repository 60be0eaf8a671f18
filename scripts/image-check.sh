#!/usr/bin/env bash
# scripts/image-check.sh: checks the Dockerfile and the docker-compose topology
# on a machine without a Docker engine (root, Debian's debootstrap).
#
#   1. debootstrap a clean Debian 12 (bookworm, the image's base) twice;
#   2. the Dockerfile's build stage: its RUN lines, read from the Dockerfile
#      itself, in the first root, with the source as `COPY . .` sees it (git's
#      files, .dockerignore's exclusions are not in git anyway);
#   3. the runtime stage: its RUN line in the second root, the binaries
#      copied to /usr/local/bin as `COPY --from=build` does;
#   4. docker-compose.yml's topology from that runtime root: eg-ingress,
#      eg-router and 4 x eg-invoker (`--scale eg-invoker=4`), configured by
#      EG_KAFKA_BROKERS as in the compose file, with eg-fault-broker standing
#      in for the kafka service (there is no apache/kafka image without a
#      registry); 400 events through the Events API must all reach a sink
#      function, and every invoker must hold partitions.
#
# What it does not check: the Docker engine itself, the apache/kafka image and
# its KRaft settings, port publishing. Every process it starts is stopped by
# PID; the roots stay in $IMAGE_CHECK_DIR (default /tmp/eg-image-check) for
# the next run (delete it to start clean).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${IMAGE_CHECK_DIR:-/tmp/eg-image-check}
BUILD=$ROOT/${BUILD_DIR:-build}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

log() { printf 'image-check: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot)"
command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
[ -x "$BUILD/tests/eg-fault-broker" ] && [ -x "$BUILD/bin/bench-sink" ] || die "run make build first"

# A RUN instruction of a Dockerfile stage (lines from FROM-pattern on), continuation lines joined.
stage_run() { # FROM-REGEX N: the N-th RUN of that stage
    awk -v from="$1" -v n="$2" '
        $0 ~ from { on = 1; next } on && /^FROM/ { on = 0 }
        on && /^RUN/ { k++; grab = (k == n) }
        on && grab { line = $0; sub(/^RUN /, "", line); cont = sub(/\\$/, "", line); printf "%s ", line
                     if (!cont) grab = 0 }' "$ROOT/Dockerfile"
}

PIDS=()
MOUNTS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do timeout 20 tail --pid="$p" -f /dev/null 2>/dev/null || kill -KILL "$p" 2>/dev/null || true; done
    for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null || true; done
}
trap cleanup EXIT

for r in build run; do
    if [ ! -x "$DIR/$r/bin/sh" ]; then
        log "debootstrap bookworm into $DIR/$r"
        debootstrap --variant=minbase bookworm "$DIR/$r" "$MIRROR" >"$DIR.$r.log" 2>&1 ||
            die "debootstrap failed (see $DIR.$r.log)"
    fi
    mountpoint -q "$DIR/$r/proc" || { mount -t proc proc "$DIR/$r/proc"; MOUNTS+=("$DIR/$r/proc"); }
done

log "build stage"
rm -rf "$DIR/build/src" "$DIR/build/build"
mkdir -p "$DIR/build/src"
(cd "$ROOT" && git ls-files -z | xargs -0 cp --parents -t "$DIR/build/src")
chroot "$DIR/build" /bin/sh -c "$(stage_run 'AS build' 1)" >"$DIR/build-deps.log" 2>&1 ||
    die "the build stage's packages did not install (see $DIR/build-deps.log)"
chroot "$DIR/build" /bin/sh -c "cd /src && $(stage_run 'AS build' 2)" >"$DIR/build.log" 2>&1 ||
    { tail -20 "$DIR/build.log" >&2; die "the build stage's build failed"; }

log "runtime stage"
chroot "$DIR/run" /bin/sh -c "$(stage_run '^FROM debian:bookworm-slim$' 1)" >"$DIR/run-deps.log" 2>&1 ||
    die "the runtime stage's packages did not install (see $DIR/run-deps.log)"
mkdir -p "$DIR/run/usr/local/bin"
cp "$DIR/build/build/bin/"* "$DIR/run/usr/local/bin/"
chroot "$DIR/run" event-gateway --help >/dev/null || die "event-gateway does not run in the runtime root"

log "compose topology: eg-ingress, eg-router, 4 x eg-invoker on a stand-in broker"
W=$DIR/smoke
rm -rf "$W" && mkdir -p "$W"
coproc BROKER { exec "$BUILD/tests/eg-fault-broker" --partitions 8; }
PIDS+=("$BROKER_PID")
read -r _ BROKERS <&"${BROKER[0]}"
read -r P_SINK P_EVENTS P_CONFIG < <(python3 "$ROOT/scripts/free-ports.py" 3)
"$BUILD/bin/bench-sink" "$P_SINK" >"$W/sink.out" 2>"$W/sink.log" & PIDS+=($!)
K=(env EG_KAFKA_BROKERS="$BROKERS" EG_KAFKA_MOCK=1) # a mock cluster: told, never guessed
chroot "$DIR/run" "${K[@]}" EG_EVENTS_PORT="$P_EVENTS" EG_CONFIG_PORT="$P_CONFIG" eg-ingress \
    >"$W/ingress.log" 2>&1 & PIDS+=($!)
chroot "$DIR/run" "${K[@]}" eg-router >"$W/router.log" 2>&1 & PIDS+=($!)
for i in 1 2 3 4; do
    # the sink listens on loopback, which an invoker calls only when told
    chroot "$DIR/run" "${K[@]}" EG_INSTANCE_ID="invoker-$i" EG_FUNCTION_ALLOW_CIDRS=127.0.0.0/8 \
        eg-invoker >"$W/invoker$i.log" 2>&1 &
    PIDS+=($!)
done
up=0
for _ in $(seq 1 300); do
    curl -sf -m1 "http://127.0.0.1:$P_CONFIG/v1/status" >/dev/null &&
        curl -sf -m1 "http://127.0.0.1:$P_SINK/count" >/dev/null && { up=1; break; }
    sleep 0.1
done
[ $up = 1 ] || die "eg-ingress or the sink never answered (see $W/ingress.log, $W/sink.log)"
post() {
    [ "$(curl -s -m 10 -o /dev/null -w '%{http_code}' -XPOST -H 'Content-Type: application/json' \
        "http://127.0.0.1:$P_CONFIG/v1/spaces/default/$1" -d "$2")" = 201 ] || die "POST $1 failed"
}
post eventtypes '{"name":"smoke.event"}'
post functions "{\"functionId\":\"sink\",\"type\":\"http\",\"provider\":{\"url\":\"http://127.0.0.1:$P_SINK/\"}}"
post subscriptions '{"type":"async","eventType":"smoke.event","functionId":"sink","path":"/","method":"POST"}'
assigned=0
for _ in $(seq 1 120); do
    assigned=$( (grep -l 'assigned [1-9][0-9]* partition(s) of [^ ]*\.async' "$W"/invoker*.log 2>/dev/null || true) | wc -l)
    [ "$assigned" -ge 4 ] && break
    sleep 0.5
done
[ "$assigned" -ge 4 ] || die "only $assigned of 4 invokers hold partitions"
ok=0
for i in $(seq 1 400); do
    c=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -XPOST -H 'Content-Type: application/cloudevents+json' \
        "http://127.0.0.1:$P_EVENTS/" \
        -d "{\"specversion\":\"1.0\",\"id\":\"smoke-$i\",\"source\":\"/smoke\",\"type\":\"smoke.event\",\"data\":{}}")
    [ "$c" = 202 ] && ok=$((ok + 1))
done
[ $ok = 400 ] || die "$ok of 400 events accepted"
n=0
for _ in $(seq 1 150); do n=$(curl -s -m 2 "http://127.0.0.1:$P_SINK/count" || echo 0); [ "${n:-0}" -ge 400 ] && break; sleep 0.2; done
[ "${n:-0}" -ge 400 ] || die "$n of 400 events delivered"
log "OK: image built and ran in clean Debian 12 roots; 4 invokers shared the partitions; 400 of 400 events delivered"
