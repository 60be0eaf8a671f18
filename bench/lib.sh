# shellcheck shell=bash
# bench/lib.sh: what bench/run.sh and bench/sync.sh share. Sourced, not run.
#
#   bench_init NAME       log/die with "NAME: " and a work directory
#                         /tmp/eg-NAME.XXXXXX ($WORK); every PID added to
#                         PIDS is stopped on exit (TERM, then KILL after
#                         10 s), and the work directory removed unless the
#                         run failed or BENCH_KEEP_LOGS=1
#   bench_build BIN...    make build (unless BENCH_SKIP_BUILD=1), then checks
#                         that $BIN/<each> and wrk exist
#   wait_http URL SECS    waits (bounded) for URL to answer 200
#   config_post RES JSON  POST /v1/spaces/$SPACE/RES on the Config API
#                         ($P_CONFIG); anything but 201 ends the run
#   bench_mode NAME ARGS  --mock / --kafka (or BENCH_KAFKA=1): sets KAFKA (0/1);
#                         also BUILD_DIR (default build) and BIN, its bin/
#                         (BUILD_DIR relative to the repository or absolute)
#   bench_broker PREFIX   on Kafka, bench_kafka_start; sets GW_MODE, the
#                         event-gateway arguments of the broker (--dev, or
#                         the Kafka with topics under PREFIX, loopback
#                         functions allowed as --dev allows them)
#   bench_kafka_start     the project's Apache Kafka (scripts/kafka.sh, one node)
#                         in $WORK/kafka on free ports, its PID added to PIDS;
#                         sets KAFKA_BROKERS and KAFKA_ENV (the environment
#                         kafka.sh needs for that cluster)
#   bench_machine         one line: CPU model, cores, memory, kernel
#   ticks PID             the process's CPU time so far (utime+stime, clock ticks)
#   machine_ticks         "BUSY TOTAL" clock ticks of the machine so far (/proc/stat)
#   cpu_share T0 T1 NS    % of one core that T1 - T0 ticks are over NS nanoseconds
#
# The caller sets ROOT first (the repository), and SPACE and P_CONFIG before
# config_post.

bench_init() {
    BENCH_NAME=$1
    WORK=$(mktemp -d "/tmp/eg-$1.XXXXXX")
    PIDS=()
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

log() { printf '%s: %s\n' "$BENCH_NAME" "$*" >&2; }
die() { log "$*"; exit 1; }

bench_cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "${BENCH_KEEP_LOGS:-0}" = 1 ] || [ "$rc" -ne 0 ]; then
        log "logs kept in $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}

bench_build() {
    if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
        log "building (make build BUILD_DIR=$BUILD_DIR)"
        timeout 900 make -s -C "$ROOT" build BUILD_DIR="$BUILD_DIR" >"$WORK/build.log" 2>&1 ||
            { tail -30 "$WORK/build.log" >&2; die "build failed"; }
    fi
    local b
    for b in "$@"; do
        [ -x "$BIN/$b" ] || die "$BIN/$b missing (is add_subdirectory(bench) in CMakeLists.txt?)"
    done
    command -v wrk >/dev/null || die "wrk missing: run scripts/install-deps.sh"
}

wait_http() { # URL SECONDS
    local deadline=$(($(date +%s) + $2))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" || true)" = 200 ] && return 0
        sleep 0.1
    done
    return 1
}

config_post() { # RESOURCE JSON
    local code
    code=$(curl -s -o "$WORK/config.out" -m 15 -w '%{http_code}' -XPOST \
        -H 'Content-Type: application/json' \
        "http://127.0.0.1:$P_CONFIG/v1/spaces/$SPACE/$1" -d "$2" || true)
    [ "$code" = 201 ] || die "POST $1 answered $code: $(cat "$WORK/config.out" 2>/dev/null)"
}

bench_mode() {
    local name=$1 arg
    shift
    KAFKA=${BENCH_KAFKA:-0}
    for arg in "$@"; do
        case $arg in
        --kafka) KAFKA=1 ;;
        --mock) KAFKA=0 ;;
        *) echo "usage: bench/$name [--mock | --kafka]" >&2; exit 2 ;;
        esac
    done
    BUILD_DIR=${BUILD_DIR:-build}
    case $BUILD_DIR in /*) BIN=$BUILD_DIR/bin ;; *) BIN=$ROOT/$BUILD_DIR/bin ;; esac
}

bench_broker() {
    if [ "$KAFKA" = 1 ]; then
        bench_kafka_start
        GW_MODE=(--brokers "$KAFKA_BROKERS" --topic-prefix "$1" --function-allow-cidrs 127.0.0.0/8)
    else
        GW_MODE=(--dev)
    fi
}

bench_kafka_start() {
    local base out
    base=$(python3 "$ROOT/scripts/free-ports.py" --consecutive 2)
    KAFKA_ENV=(KAFKA_DIR="$WORK/kafka" KAFKA_PORT="$base" KAFKA_NODES=1 KAFKA_HEAP=1g)
    out=$(env "${KAFKA_ENV[@]}" bash "$ROOT/scripts/kafka.sh" start 2>"$WORK/kafka-start.log") ||
        { tail -20 "$WORK/kafka-start.log" >&2; die "scripts/kafka.sh start failed"; }
    KAFKA_BROKERS=$(echo "$out" | sed -n 's/^KAFKA_BROKERS=//p')
    KAFKA_PID=$(cat "$WORK/kafka/node-1/pid")
    PIDS+=("$KAFKA_PID")
    log "Apache Kafka $(sed -n 's/^KAFKA_VERSION=\([^ ]*\).*/\1/p' "$ROOT/scripts/kafka.sh") on $KAFKA_BROKERS (one node, this machine)"
}

bench_machine() {
    local cpu mem
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
    mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
    echo "${cpu:-unknown CPU}, $(nproc) cores, $mem, Linux $(uname -r)"
}

ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat; }
cpu_share() { awk -v d="$(($2 - $1))" -v hz="$(getconf CLK_TCK)" -v ns="$3" 'BEGIN { printf "%.0f", (ns > 0 ? 100 * d / hz / (ns / 1e9) : 0) }'; }
# thread_ns PID: one line per thread of PID, "TID NAME NS", NS its time on a CPU so far
# (schedstat: nanoseconds, where /proc's ticks count hundredths of a second)
thread_ns() {
    local t name
    for t in /proc/"$1"/task/*; do
        name=$(tr ' ' _ <"$t/comm" 2>/dev/null) || continue
        echo "${t##*/} $name $(cut -d' ' -f1 "$t/schedstat" 2>/dev/null || echo 0)"
    done
}
# thread_split BEFORE AFTER NS: between two thread_ns snapshots NS nanoseconds apart, the % of
# one core each kind of thread took, "KIND PERCENT THREADS" most first; the kind is the name
# without librdkafka's broker number (rdk:broker1 and rdk:broker-1 are rdk:broker)
thread_split() {
    awk -v ns="$3" 'FNR == NR { t0[$1] = $3; next }
        { k = $2; sub(/-?[0-9]+$/, "", k); d[k] += $3 - ($1 in t0 ? t0[$1] : 0); n[k]++ }
        END { for (k in d) printf "%s %.2f %d\n", k, (ns > 0 ? 100 * d[k] / ns : 0), n[k] }' \
        "$1" "$2" | sort -k2,2gr
}
