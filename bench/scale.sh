#!/usr/bin/env bash
# bench/scale.sh: issue 18's scale figures, in one run (see bench/README.md):
# fan-out, invoker scaling, configuration scale and resources.
#
#   bench/scale.sh [--mock | --kafka]
#
# --mock (the default): the roles in processes of their own joined to an
# embedded broker in a process of its own (eg-fault-broker, --kafka-mock),
# the all-in-one gateway with --dev. --kafka (make bench-scale): on the
# project's Apache Kafka (scripts/kafka.sh, one node on this machine, started
# in the work directory for the run and stopped by its PID), 1 KiB events.
# Each part has topics of its own (--topic-prefix), every role of a part the
# same prefix and --partitions.
#
#   1. fan-out: eg-ingress, event types bench.fan1, bench.fan10, bench.fan100
#      with 1, 10 and 100 async subscriptions, to 100 functions (f1..f100,
#      URLs http://127.0.0.1:SINK/fN, never called: no invoker runs). For
#      each, a backlog of BENCH_FANOUT_INVOCATIONS / N events is written
#      through the ingress (wrk -c64, bench/preload.lua, stopped once the
#      ingress's eventgateway_events_received_total has them), then one eg-router is
#      started on it, alone, and its eventgateway_events_processed_total (its
#      /metrics, --status-port) is sampled every 0.1 s: invocations/s = N x
#      events routed / time, between the first sample that shows routing and
#      the one that shows the whole backlog routed. The router is stopped
#      before the next backlog is written. Target: fan-out 100 >= 100,000
#      invocations/s; the baseline is fan-out 1.
#   2. invoker scaling: a function that answers after BENCH_SLOW_MS
#      (bench-sink's POST /slow/20). For 1, 2 and 4 eg-invoker processes
#      (--max-inflight 32 each): a backlog of BENCH_INVOKER_EVENTS x N events
#      is written through eg-ingress to the events topic, no router running;
#      the N invokers start, and once their group has shared out the
#      invocation topic's partitions (each holds some, all are held: from
#      their logs), one eg-router starts and fans the backlog out, faster
#      than the invokers deliver it. The sink's count is sampled every 0.2 s
#      until it has them all: delivered/s = the rate between 10 % and 90 % of
#      the backlog delivered (the router's start before, the last
#      partitions' tails after, left out). Target: 4 invokers >= 3.5x one.
#   3. configuration scale: two all-in-one gateways (event-gateway), one with
#      10 sync subscriptions on http.request (paths /s/0 .. /s/9, to bench-sink's
#      POST /sync), the other with 10,000 (/s/0 .. /s/9999, created with
#      bench/config_bulk.py); wrk at c=1 (bench/sync.lua) on /s/5 of each in
#      turn (the order alternating), BENCH_CFG_ROUNDS rounds of
#      BENCH_CFG_DURATION after a 3 s warm-up at c=8: the median of each
#      one's p50s, and the median of the rounds' ratios (10,000 / 10, a few
#      seconds apart: the machine's drift cancels out), which the target is
#      held against: 10,000 <= 1.10 x 10.
#   4. resources: peak RSS (VmHWM of /proc/PID/status) of each process just
#      before it is stopped: the ingress after its 64-connection backlog
#      loads (parts 1 and 2, the larger shown), the router (the largest of
#      parts 1 and 2), the invoker (the largest), the all-in-one gateway with 10,000
#      subscriptions after a -c64 load of async events (BENCH_LOAD_DURATION)
#      delivered to the sink; and the idle CPU (utime+stime) of the other
#      all-in-one gateway over BENCH_IDLE_S with no traffic. Targets: ingress
#      <= 64 MiB under load, idle gateway <= 1 % of a core.
#
#   5. filters: eg-ingress, event types bench.filt0, bench.filt1, bench.filt20,
#      each with 10 async subscriptions whose 0, 1 or 20 filters (prefix, exact,
#      suffix and CESQL in turn) every event passes; for each, a backlog of
#      BENCH_FILTER_EVENTS events and one eg-router alone on it, measured as
#      in part 1, BENCH_FILTER_ROUNDS times: events/s routed, against 0
#      filters. No target (issue 21 asks for the figures).
#
# Then one summary table: each figure, its baseline, the target, PASS/FAIL,
# and the machine and broker. Every wait is bounded; every process started
# here is stopped by its PID (the roles of a part when it ends, the rest on
# exit). Settings (environment):
#   BENCH_FANOUT ("1 10 100": the fan-outs measured; the target is held
#     against the largest, the baseline is the first)
#   BENCH_FANOUT_INVOCATIONS (300000 on Kafka, 20000 on the mock: each
#     fan-out's backlog is this / N events, at least BENCH_FANOUT_MIN_EVENTS, 200,
#     at most BENCH_FANOUT_MAX_EVENTS, 100000 on Kafka, 20000 on the mock: a
#     fan-out of 100 routed in 1.5 s measured the router's start as much as its rate)
#   BENCH_FANOUT_MAX_S (30: longest routing measured per fan-out)
#   BENCH_FANOUT_TARGET (100000 invocations/s)
#   BENCH_FILTERS ("0 1 20": filters per subscription in part 5)
#   BENCH_FILTER_EVENTS (30000 on Kafka, 10000 on the mock: part 5's backlogs)
#   BENCH_FILTER_ROUNDS (4: each count measured that many times, the order
#     reversed every other round; the figure is all its events over all its time)
#   BENCH_ROUTER_ARGS (none: extra eg-router flags, e.g. "--log-level debug",
#     which logs each transaction's fan-out: "committed a fan-out of N records")
#   BENCH_INVOKERS ("1 2 4") BENCH_INVOKER_EVENTS (5000 on Kafka, 2000 on the
#     mock: backlog per invoker) BENCH_SLOW_MS (20) BENCH_MAX_INFLIGHT (32)
#   BENCH_INVOKER_ARGS ("--max-inflight-per-function 0": extra eg-invoker
#     flags. With one function the fairness share would move the records past
#     it to the overflow topic, whose engine has a budget of its own: 2 x 32
#     calls in flight, not --max-inflight's 32. "" measures the defaults)
#   BENCH_INVOKER_MAX_S (60: longest wait for one backlog's delivery)
#   BENCH_STALL_S (15: give up a wait when nothing moves for that long)
#   BENCH_SCALING_TARGET (3.5: N invokers / one, for the largest N)
#   BENCH_SUBSCRIPTIONS ("10 10000") BENCH_CFG_ROUNDS (5) BENCH_CFG_DURATION (3s)
#   BENCH_CFG_CONNECTIONS (32: config_bulk.py's connections) BENCH_CFG_TARGET (1.10)
#   BENCH_LOAD_DURATION (5s) BENCH_IDLE_S (10) BENCH_READY_S (60)
#   BENCH_RSS_TARGET_MB (64, the ingress's) BENCH_IDLE_CPU_TARGET (1 on Kafka, 10 on the mock, %)
#   BENCH_PARTITIONS (8 on Kafka, 4 on the mock: --partitions of every role;
#     enough for 4 invokers) BENCH_CONNECTIONS (64) BENCH_THREADS (2)
#   BENCH_DATA_BYTES (870 on Kafka, a 1 KiB event; 64 on the mock)
#   BENCH_SKIP_BUILD (0) BENCH_KEEP_LOGS (0) BUILD_DIR (build; relative to the
#   repository or absolute) BENCH_KAFKA (0; 1 as --kafka)
#   BENCH_PARTS ("1 2 3 4 5": the parts run; 4 uses 3's gateways, and starts them)
#   BENCH_STRICT (0: exit 0 whatever the marks; 1: exit 3 when a target is missed)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_mode scale.sh "$@"
on_kafka() { [ "$KAFKA" = 1 ] && echo "$1" || echo "$2"; }
FANOUT=${BENCH_FANOUT:-1 10 100}
FANOUT_INV=${BENCH_FANOUT_INVOCATIONS:-$(on_kafka 300000 20000)}
FANOUT_MAX=${BENCH_FANOUT_MAX_EVENTS:-$(on_kafka 100000 20000)}
FANOUT_MIN=${BENCH_FANOUT_MIN_EVENTS:-200}
FANOUT_MAX_S=${BENCH_FANOUT_MAX_S:-30}
FANOUT_TARGET=${BENCH_FANOUT_TARGET:-100000}
FILTERS=${BENCH_FILTERS:-0 1 20}
FILTER_EVENTS=${BENCH_FILTER_EVENTS:-$(on_kafka 30000 10000)}
FILTER_ROUNDS=${BENCH_FILTER_ROUNDS:-4}
INVOKERS=${BENCH_INVOKERS:-1 2 4}
INVOKER_ARGS=${BENCH_INVOKER_ARGS---max-inflight-per-function 0}
INV_EVENTS=${BENCH_INVOKER_EVENTS:-$(on_kafka 5000 2000)}
SLOW_MS=${BENCH_SLOW_MS:-20}
MAX_INFLIGHT=${BENCH_MAX_INFLIGHT:-32}
INV_MAX_S=${BENCH_INVOKER_MAX_S:-60}
STALL_S=${BENCH_STALL_S:-15}
SCALING_TARGET=${BENCH_SCALING_TARGET:-3.5}
SUBS=${BENCH_SUBSCRIPTIONS:-10 10000}
CFG_ROUNDS=${BENCH_CFG_ROUNDS:-5}
CFG_DURATION=${BENCH_CFG_DURATION:-3s}
CFG_CONNS=${BENCH_CFG_CONNECTIONS:-32}
CFG_TARGET=${BENCH_CFG_TARGET:-1.10}
LOAD_DURATION=${BENCH_LOAD_DURATION:-5s}
IDLE_S=${BENCH_IDLE_S:-10}
READY_S=${BENCH_READY_S:-60}
RSS_TARGET=${BENCH_RSS_TARGET_MB:-64}
IDLE_TARGET=${BENCH_IDLE_CPU_TARGET:-$(on_kafka 1 10)}
PARTS=${BENCH_PARTITIONS:-$(on_kafka 8 4)}
CONNS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
DATA_BYTES=${BENCH_DATA_BYTES:-$(on_kafka 870 64)}
SPACE=default
read -r SUBS_FEW SUBS_MANY <<<"$SUBS"
PARTS_ON=${BENCH_PARTS:-1 2 3 4 5}
part() { [[ " $PARTS_ON " == *" $1 "* ]]; }
RSS_INGRESS=0 RSS_ROUTER=0 RSS_INVOKER=0 RSS_GW=0 RSS_GW_FEW=0 RSS_GW_BEFORE=0
P50_FEW=0 P50_MANY=0 CFG_RATIO=0 CFG_ERRORS=0 LOAD_RATE=0 IDLE_CPU=-1 FEW_PID="" MANY_PID=""

bench_init bench-scale # log, die, $WORK, PIDS stopped on exit
bench_build event-gateway eg-ingress eg-router eg-invoker bench-sink
BROKER_BIN=$(dirname "$BIN")/tests/eg-fault-broker
[ "$KAFKA" = 1 ] || [ -x "$BROKER_BIN" ] || die "$BROKER_BIN missing (make build)"
log "machine: $(bench_machine)"
RUN_START=$(date +%s)
now_ms() { date +%s%3N; }
HZ=$(getconf CLK_TCK)

# ---- the broker: Kafka (one node), or an embedded broker in a process of its own ----
if [ "$KAFKA" = 1 ]; then
    bench_kafka_start
    BROKERS=$KAFKA_BROKERS
    ROLE_MODE=(--brokers "$BROKERS" --partitions "$PARTS")
    BROKER_PID=$(cat "$WORK/kafka/node-1/pid")
    BROKER_NAME="Apache Kafka, one node on this machine"
else
    coproc BROKER { exec "$BROKER_BIN" --no-topics 2>"$WORK/broker.log"; }
    PIDS+=("$BROKER_PID") # BROKER_PID: the coprocess's, set by bash
    IFS=' ' read -r -t 10 _ BROKERS <&"${BROKER[0]}" || die "eg-fault-broker did not start"
    ROLE_MODE=(--brokers "$BROKERS" --kafka-mock --partitions "$PARTS")
    BROKER_NAME="embedded broker (librdkafka mock: eg-fault-broker for the roles, --dev for the gateways)"
    log "embedded broker $BROKERS (eg-fault-broker, pid $BROKER_PID)"
fi
topics_for() { # PREFIX: on the mock, which answers no CreateTopics, the gateway's topics up front
    [ "$KAFKA" = 1 ] && return 0
    local answer
    echo "topics $1 $PARTS" >&"${BROKER[1]}"
    IFS= read -r -t 30 answer <&"${BROKER[0]}" || die "eg-fault-broker: no answer to topics $1"
    [ "$answer" = ok ] || die "eg-fault-broker: topics $1: $answer"
}

# ---- processes ----
# start NAME COMMAND...: in the background, output in $WORK/NAME.log; its PID
# in STARTED (and PIDS, for the exit).
start() {
    local name=$1
    shift
    "$@" >"$WORK/$name.log" 2>&1 &
    STARTED=$!
    PIDS+=("$STARTED")
}
# stop PID: TERM, then KILL after 10 s; no longer in PIDS.
stop() {
    local p keep=()
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}
hwm_mb() { awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo 0; }
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 >= b + 0) ? a : b }'; }
# metric PORT NAME [LABELS]: the sum of NAME's series on 127.0.0.1:PORT/metrics
# whose labels contain LABELS (e.g. type="bench.fan10"); 0 when absent.
metric() {
    { curl -sf -m 2 "http://127.0.0.1:$1/metrics" || true; } |
        awk -v n="$2" -v l="${3:-}" '($1 == n || index($1, n "{") == 1) && (l == "" || index($1, l)) { s += $NF }
            END { printf "%.0f\n", s }'
}
sink_stats() { curl -sf -m 2 "http://127.0.0.1:$P_SINK/stats" || echo "0 0 0 0"; }
bulk() { # PORT RESOURCE TEMPLATE FIRST COUNT: config_bulk.py in SPACE
    python3 "$ROOT/bench/config_bulk.py" "$1" "$SPACE" "$2" "$3" "$4" "$5" "$CFG_CONNS" 2>>"$WORK/config_bulk.log" ||
        { tail -1 "$WORK/config_bulk.log" >&2; die "creating $5 $2 failed"; }
    tail -1 "$WORK/config_bulk.log" | sed 's/^config_bulk: /  | /' >&2
}
ingress_up() { # NAME PREFIX: eg-ingress on the part's topics; sets P_IC (config), P_IE (events), INGRESS_PID
    read -r P_IC P_IE < <(python3 "$ROOT/scripts/free-ports.py" 2)
    start "$1" "$BIN/eg-ingress" "${ROLE_MODE[@]}" --topic-prefix "$2" --listen 127.0.0.1 \
        --config-port "$P_IC" --events-port "$P_IE" --log-level warn
    INGRESS_PID=$STARTED
    wait_http "http://127.0.0.1:$P_IC/v1/status" "$READY_S" ||
        { tail -20 "$WORK/$1.log" >&2; die "$1: /v1/status never answered 200"; }
}
router_up() { # NAME PREFIX: eg-router with /metrics on P_R; sets ROUTER_PID
    P_R=$(python3 "$ROOT/scripts/free-ports.py" 1)
    # shellcheck disable=SC2086 # BENCH_ROUTER_ARGS is a list of arguments
    start "$1" "$BIN/eg-router" "${ROLE_MODE[@]}" --topic-prefix "$2" --listen 127.0.0.1 \
        --status-port "$P_R" --log-level warn ${BENCH_ROUTER_ARGS:-}
    ROUTER_PID=$STARTED
}
# backlog PORT_EVENTS PORT_CONFIG TYPE COUNT TAG: wrk (bench/preload.lua,
# -c$CONNS) writes COUNT events of TYPE, each thread its share; once the
# ingress has stored them (eventgateway_events_received_total) wrk is stopped
# and the count waited for until it stands (requests that were in flight).
# Sets ADDED to what the ingress stored (at least COUNT).
backlog() {
    local c0 c prev t0 wrk_pid
    c0=$(metric "$2" eventgateway_events_received_total "type=\"$3\"")
    timeout 300 wrk -t"$THREADS" -c"$CONNS" -d240s --timeout 6s -s "$ROOT/bench/preload.lua" \
        "http://127.0.0.1:$1/" -- "$3" "$DATA_BYTES" "$5-$$" $((($4 + THREADS - 1) / THREADS)) \
        >"$WORK/wrk-$5.txt" 2>&1 &
    wrk_pid=$!
    PIDS+=("$wrk_pid")
    t0=$(date +%s)
    while :; do
        c=$(metric "$2" eventgateway_events_received_total "type=\"$3\"")
        [ $((c - c0)) -ge "$4" ] && break
        kill -0 "$wrk_pid" 2>/dev/null || { cat "$WORK/wrk-$5.txt" >&2; die "wrk ended before the backlog of $4 $3 events was stored"; }
        [ $(($(date +%s) - t0)) -ge 200 ] && die "the backlog of $4 $3 events not stored in 200 s ($((c - c0)))"
        sleep 0.1
    done
    kill -INT "$wrk_pid" 2>/dev/null || true
    stop "$wrk_pid"
    prev=-1
    for _ in $(seq 1 50); do # requests that were in flight: until the count stands
        [ "$c" = "$prev" ] && break
        prev=$c
        sleep 0.2
        c=$(metric "$2" eventgateway_events_received_total "type=\"$3\"")
    done
    ADDED=$((c - c0))
    log "backlog: $ADDED $3 events stored in $(($(date +%s) - t0)) s"
}

# the all-in-one gateway's broker arguments, topics under PREFIX on Kafka
gw_mode() {
    if [ "$KAFKA" = 1 ]; then
        GW_MODE=(--brokers "$BROKERS" --topic-prefix "$1" --function-allow-cidrs 127.0.0.0/8)
    else
        GW_MODE=(--dev)
    fi
}

: >"$WORK/fanout.txt"
: >"$WORK/invokers.txt"
: >"$WORK/filters.txt"
P_SINK=$(python3 "$ROOT/scripts/free-ports.py" 1)
start sink "$BIN/bench-sink" "$P_SINK"
wait_http "http://127.0.0.1:$P_SINK/count" 10 || die "the sink (bench-sink) did not start"

# route_measure TYPE TOTAL: samples the router's count of TYPE every 0.1 s
# until TOTAL (or BENCH_FANOUT_MAX_S of routing); "EVENTS MS ROUTER% BROKER% MACHINE%
# ROUTED": the events routed in the window from the first sample that shows
# routing to the last, its length, CPU in it, and all the router routed.
route_measure() {
    local start t c t0= t1= c1=0 t2=0 c2=0 k1=0 b1=0 m1=0 mt1=0 k2 b2 m2 mt2
    start=$(now_ms)
    while :; do
        kill -0 "$ROUTER_PID" 2>/dev/null || { tail -20 "$WORK/$RNAME.log" >&2; die "$RNAME exited"; }
        c=$(metric "$P_R" eventgateway_events_processed_total "type=\"$1\"")
        t=$(now_ms)
        if [ -z "$t1" ] && [ "$c" -gt 0 ]; then
            t1=$t c1=$c
            # all routed before a second sample: from the last sample that showed none
            [ "$c" -ge "$2" ] && [ -n "$t0" ] && { t1=$t0 c1=0; }
            k1=$(ticks "$ROUTER_PID") b1=$(ticks "$BROKER_PID")
            read -r m1 mt1 < <(machine_ticks)
        fi
        if [ -n "$t1" ]; then
            t2=$t c2=$c
            [ "$c" -ge "$2" ] && break
            [ $((t - t1)) -ge $((FANOUT_MAX_S * 1000)) ] &&
                { log "$RNAME: $c of $2 events routed in ${FANOUT_MAX_S} s: the rate so far"; break; }
        else
            t0=$t
            [ $((t - start)) -ge $((READY_S * 1000)) ] &&
                { tail -20 "$WORK/$RNAME.log" >&2; die "$RNAME routed nothing in ${READY_S} s"; }
        fi
        sleep 0.1
    done
    k2=$(ticks "$ROUTER_PID") b2=$(ticks "$BROKER_PID")
    read -r m2 mt2 < <(machine_ticks)
    awk -v e=$((c2 - c1)) -v ms=$((t2 - t1)) -v k=$((k2 - k1)) -v b=$((b2 - b1)) -v m=$((m2 - m1)) \
        -v mt=$((mt2 - mt1)) -v c2="$c2" -v hz="$HZ" -v ncpu="$(nproc)" 'BEGIN {
        s = ms / 1000
        printf "%d %d %.0f %.0f %.0f %d\n", e, ms, (s > 0 ? 100 * k / hz / s : 0), (s > 0 ? 100 * b / hz / s : 0),
            (mt > 0 ? 100 * ncpu * m / mt : 0), c2 }'
}

# ==== 1. fan-out: one router alone on a backlog, for each fan-out ====
if part 1; then
    MAXN=0
    for n in $FANOUT; do MAXN=$(max "$MAXN" "$n"); done
    PREFIX="fan$$."
    topics_for "$PREFIX"
    ingress_up ingress-fanout "$PREFIX"
    log "1. fan-out ($FANOUT): eg-ingress pid $INGRESS_PID on topics $PREFIX*, $PARTS partitions"
    P_CONFIG=$P_IC
    bulk "$P_IC" functions "{\"functionId\":\"f@I@\",\"type\":\"http\",\"provider\":{\"url\":\"http://127.0.0.1:$P_SINK/f@I@\"}}" 1 "$MAXN"
    for n in $FANOUT; do
        config_post eventtypes "{\"name\":\"bench.fan$n\"}"
        bulk "$P_IC" subscriptions "{\"type\":\"async\",\"eventType\":\"bench.fan$n\",\"functionId\":\"f@I@\",\"path\":\"/\",\"method\":\"POST\"}" 1 "$n"
    done

    : >"$WORK/fanout.txt"
    for n in $FANOUT; do
        events=$((FANOUT_INV / n))
        [ "$events" -le "$FANOUT_MAX" ] || events=$FANOUT_MAX
        [ "$events" -ge "$FANOUT_MIN" ] || events=$FANOUT_MIN
        backlog "$P_IE" "$P_IC" "bench.fan$n" "$events" "fan$n"
        RNAME=router-fan$n
        router_up "$RNAME" "$PREFIX"
        route_measure "bench.fan$n" "$ADDED" >"$WORK/route.txt" # in this shell: its die ends the run
        read -r r_events r_ms r_cpu b_cpu m_cpu r_all <"$WORK/route.txt"
        r_rss=$(hwm_mb "$ROUTER_PID")
        RSS_ROUTER=$(max "$RSS_ROUTER" "$r_rss")
        stop "$ROUTER_PID"
        grep -iE 'error|warn' "$WORK/$RNAME.log" | head -3 | sed "s/^/  | $RNAME: /" >&2 || true
        echo "$n $r_events $r_ms $ADDED $r_cpu $b_cpu $m_cpu $r_all $r_rss" >>"$WORK/fanout.txt"
        log "fan-out $n: $r_events events ($((r_events * n)) invocations) routed in $r_ms ms: $(awk -v e="$r_events" -v n="$n" -v ms="$r_ms" 'BEGIN { printf "%.0f", (ms > 0 ? e * n * 1000 / ms : 0) }') invocations/s (router ${r_cpu} %, broker ${b_cpu} % of a core, machine ${m_cpu} %; router peak RSS $r_rss MiB)"
    done
    RSS_INGRESS=$(max "$RSS_INGRESS" "$(hwm_mb "$INGRESS_PID")")
    stop "$INGRESS_PID"
fi

# ==== 5. filters: one router alone on a backlog, subscriptions with 0, 1, 20 filters ====
# filters_json K: K filters that every benchmark event passes, the four kinds in turn
filters_json() {
    local kinds=('{"prefix":{"type":"bench."}}' '{"exact":{"specversion":"1.0"}}'
        '{"suffix":{"source":"/wrk"}}' '{"sql":"type LIKE '"'"'bench.%'"'"' AND source = '"'"'/bench/wrk'"'"'"}')
    local out="" i
    for ((i = 0; i < $1; i++)); do out+="${out:+,}${kinds[i % 4]}"; done
    echo "[$out]"
}
if part 5; then
    PREFIX="filt$$."
    topics_for "$PREFIX"
    ingress_up ingress-filters "$PREFIX"
    log "5. filters ($FILTERS per subscription, 10 subscriptions per event): eg-ingress pid $INGRESS_PID on topics $PREFIX*"
    P_CONFIG=$P_IC
    bulk "$P_IC" functions "{\"functionId\":\"g@I@\",\"type\":\"http\",\"provider\":{\"url\":\"http://127.0.0.1:$P_SINK/g@I@\"}}" 1 10
    for k in $FILTERS; do
        config_post eventtypes "{\"name\":\"bench.filt$k\"}"
        bulk "$P_IC" subscriptions "{\"type\":\"async\",\"eventType\":\"bench.filt$k\",\"functionId\":\"g@I@\",\"filters\":$(filters_json "$k")}" 1 10
    done
    : >"$WORK/filters.txt"
    # rounds in turn forwards and backwards, so that warming up (the broker's
    # first segments, the JIT) falls on every count alike
    order=""
    for ((round = 1; round <= FILTER_ROUNDS; round++)); do
        if ((round % 2)); then order+=" $FILTERS"; else order+=" $(echo "$FILTERS" | tr ' ' '\n' | tac | tr '\n' ' ')"; fi
    done
    for k in $order; do
        backlog "$P_IE" "$P_IC" "bench.filt$k" "$FILTER_EVENTS" "filt$k"
        RNAME=router-filt$k
        router_up "$RNAME" "$PREFIX"
        route_measure "bench.filt$k" "$ADDED" >"$WORK/route.txt"
        read -r r_events r_ms r_cpu b_cpu m_cpu r_all <"$WORK/route.txt"
        stop "$ROUTER_PID"
        grep -iE 'error|warn' "$WORK/$RNAME.log" | head -3 | sed "s/^/  | $RNAME: /" >&2 || true
        echo "$k $r_events $r_ms $ADDED $r_cpu $b_cpu $r_all" >>"$WORK/filters.txt"
        log "filters $k: $r_events events (x 10 subscriptions) routed in $r_ms ms: $(awk -v e="$r_events" -v ms="$r_ms" 'BEGIN { printf "%.0f", (ms > 0 ? e * 1000 / ms : 0) }') events/s (router ${r_cpu} %, broker ${b_cpu} % of a core)"
    done
    stop "$INGRESS_PID"
fi

# ==== 2. invoker scaling: N invokers, a 20 ms function ====
if part 2; then
    PREFIX="inv$$."
    ASYNC_TOPIC="${PREFIX}invoke.default.async"
    topics_for "$PREFIX"
    ingress_up ingress-invokers "$PREFIX"
    P_CONFIG=$P_IC
    config_post eventtypes '{"name":"bench.slow"}'
    config_post functions "{\"functionId\":\"slow\",\"type\":\"http\",\"provider\":{\"url\":\"http://127.0.0.1:$P_SINK/slow/$SLOW_MS\"}}"
    config_post subscriptions '{"type":"async","eventType":"bench.slow","functionId":"slow","path":"/","method":"POST"}'
    log "2. invoker scaling ($INVOKERS): eg-ingress pid $INGRESS_PID on topics $PREFIX*; function ${SLOW_MS} ms, --max-inflight $MAX_INFLIGHT $INVOKER_ARGS"
    # held LOG: the partitions of the async invocation topic an invoker holds
    # now, from its log (info: "assigned N partition(s) of T", "revoked N ...", "lost N ...")
    held() {
        sed -En "s/.* assigned ([0-9]+) partition\(s\) of ${ASYNC_TOPIC//./\\.}([: ].*|$)/+\1/p
            s/.* (revoked|lost) ([0-9]+) partition\(s\) of ${ASYNC_TOPIC//./\\.}([: ].*|$)/-\2/p" "$1" |
            awk '{ s += $1 } END { print s + 0 }'
    }
    : >"$WORK/invokers.txt"
    for n in $INVOKERS; do
        # the backlog waits in the events topic: no router runs yet
        backlog "$P_IE" "$P_IC" bench.slow $((INV_EVENTS * n)) "slow$n"
        # the invokers first, until the group has settled: every one holds some
        # of the partitions, all of them held
        inv_pids=() inv_ports=()
        for k in $(seq 1 "$n"); do
            p=$(python3 "$ROOT/scripts/free-ports.py" 1)
            # shellcheck disable=SC2086 # INVOKER_ARGS is a list of arguments
            start "invoker-$n-$k" "$BIN/eg-invoker" "${ROLE_MODE[@]}" --topic-prefix "$PREFIX" --listen 127.0.0.1 \
                --status-port "$p" --log-level info --max-inflight "$MAX_INFLIGHT" \
                --function-allow-cidrs 127.0.0.0/8 $INVOKER_ARGS
            inv_pids+=("$STARTED") inv_ports+=("$p")
        done
        t0=$(date +%s)
        while :; do
            total=0 each=1
            for k in $(seq 1 "$n"); do
                h=$(held "$WORK/invoker-$n-$k.log")
                total=$((total + h))
                [ "$h" -gt 0 ] || each=0
            done
            [ "$each" = 1 ] && [ "$total" = "$PARTS" ] && break
            [ $(($(date +%s) - t0)) -ge "$READY_S" ] &&
                { tail -5 "$WORK"/invoker-"$n"-*.log >&2; die "$n invokers: the partitions of $ASYNC_TOPIC not shared out in ${READY_S} s ($total held)"; }
            sleep 0.2
        done
        log "$n invoker(s): $PARTS partitions shared out after $(($(date +%s) - t0)) s"
        read -r c0 _ < <(sink_stats)
        read -r m1 mt1 < <(machine_ticks)
        RNAME=router-invokers-$n
        router_up "$RNAME" "$PREFIX"
        : >"$WORK/deliver-$n.txt"
        t0=$(date +%s) last_change=$t0 prev=-1
        while :; do # COUNT FIRST_MS LAST_MS NOW_MS every 0.2 s
            read -r c _ _ now < <(sink_stats)
            echo "$c $now" >>"$WORK/deliver-$n.txt"
            [ $((c - c0)) -ge "$ADDED" ] && break
            [ "$c" != "$prev" ] && { prev=$c last_change=$(date +%s); }
            [ $(($(date +%s) - last_change)) -ge "$STALL_S" ] && { log "$n invokers: the sink got nothing for ${STALL_S} s"; break; }
            [ $(($(date +%s) - t0)) -ge "$INV_MAX_S" ] && { log "$n invokers: delivery incomplete after ${INV_MAX_S} s"; break; }
            for pid in "${inv_pids[@]}" "$ROUTER_PID"; do
                kill -0 "$pid" 2>/dev/null || { tail -5 "$WORK"/invoker-"$n"-*.log "$WORK/$RNAME.log" >&2; die "an invoker or the router exited"; }
            done
            sleep 0.2
        done
        read -r m2 mt2 < <(machine_ticks)
        overflowed=0 each=""
        for p in "${inv_ports[@]}"; do
            overflowed=$((overflowed + $(metric "$p" eventgateway_invocations_overflowed_total)))
            each="$each $(metric "$p" eventgateway_invocations_total 'result="success"')"
        done
        for pid in "${inv_pids[@]}"; do RSS_INVOKER=$(max "$RSS_INVOKER" "$(hwm_mb "$pid")"); done
        RSS_ROUTER=$(max "$RSS_ROUTER" "$(hwm_mb "$ROUTER_PID")")
        stop "$ROUTER_PID"
        for pid in "${inv_pids[@]}"; do stop "$pid"; done
        # the rate between 10 % and 90 % of the backlog delivered (or the last sample)
        read -r rate delivered secs < <(awk -v c0="$c0" -v e="$ADDED" '{ d = $1 - c0 }
            NR == 1 { first = $2 }
            !a && d >= 0.1 * e { a = 1; ta = $2; ca = d }
            !b && d >= 0.9 * e { b = 1; tb = $2; cb = d }
            { tl = $2; cl = d }
            END { if (!b) { tb = tl; cb = cl }
                  printf "%.0f %d %.1f\n", ((a && tb > ta) ? (cb - ca) / ((tb - ta) / 1000) : 0), cl, (tl - first) / 1000 }' \
            "$WORK/deliver-$n.txt")
        busy=$(awk -v m=$((m2 - m1)) -v mt=$((mt2 - mt1)) -v ncpu="$(nproc)" 'BEGIN { printf "%.0f", (mt > 0 ? 100 * ncpu * m / mt : 0) }')
        echo "$n $rate $delivered $ADDED $overflowed $busy" >>"$WORK/invokers.txt"
        log "$n invoker(s): $delivered of $ADDED delivered in $secs s from the router's start, $rate events/s between 10 and 90 % (ideal $((n * MAX_INFLIGHT * 1000 / SLOW_MS))); per invoker:$each; $overflowed moved to the overflow topic; machine $busy % busy"
    done
    RSS_INGRESS=$(max "$RSS_INGRESS" "$(hwm_mb "$INGRESS_PID")")
    stop "$INGRESS_PID"
fi

# ==== 3. configuration scale: sync p50 with 10 and with 10,000 subscriptions ====
# gateway_up NAME PREFIX SUBSCRIPTIONS: event-gateway with SUBSCRIPTIONS sync
# subscriptions (/s/0 ..) to the sink's /sync, and an async one on bench.event
# (the load of part 4); sets GW_PID, GW_EVENTS, GW_CONFIG
gateway_up() {
    local pc pe deadline code
    read -r pc pe < <(python3 "$ROOT/scripts/free-ports.py" 2)
    gw_mode "$2"
    start "$1" "$BIN/event-gateway" "${GW_MODE[@]}" --listen 127.0.0.1 --config-port "$pc" \
        --events-port "$pe" --log-level warn --max-subscriptions-per-space 0
    GW_PID=$STARTED GW_EVENTS=$pe GW_CONFIG=$pc
    wait_http "http://127.0.0.1:$pc/v1/status" "$READY_S" ||
        { tail -20 "$WORK/$1.log" >&2; die "$1: /v1/status never answered 200"; }
    P_CONFIG=$pc
    config_post eventtypes '{"name":"http.request"}'
    config_post functions "{\"functionId\":\"syncfn\",\"type\":\"http\",\"provider\":{\"url\":\"http://127.0.0.1:$P_SINK/sync\"}}"
    bulk "$pc" subscriptions '{"type":"sync","eventType":"http.request","functionId":"syncfn","path":"/s/@I@","method":"POST"}' 0 "$3"
    config_post eventtypes '{"name":"bench.event"}'
    config_post functions "{\"functionId\":\"sinkfn\",\"type\":\"http\",\"provider\":{\"url\":\"http://127.0.0.1:$P_SINK/\"}}"
    config_post subscriptions '{"type":"async","eventType":"bench.event","functionId":"sinkfn","path":"/","method":"POST"}'
    [ "$(metric "$pc" eventgateway_subscriptions_total "space=\"$SPACE\"")" -eq $(($3 + 1)) ] ||
        die "$1: eventgateway_subscriptions_total is not $(($3 + 1))"
    # ready: the first and the last path answer "ok" through the gateway
    deadline=$(($(date +%s) + READY_S))
    for path in /s/0 "/s/$(($3 - 1))"; do
        while :; do
            code=$(curl -s -o "$WORK/call.out" -m 15 -w '%{http_code}' -XPOST -H 'Content-Type: application/json' \
                "http://127.0.0.1:$pe$path" -d '{"bench":"sync"}' || true)
            [ "$code" = 200 ] && [ "$(cat "$WORK/call.out")" = ok ] && break
            [ "$(date +%s)" -ge "$deadline" ] &&
                { tail -20 "$WORK/$1.log" >&2; die "$1: $path answered $code: $(head -c 200 "$WORK/call.out")"; }
            sleep 0.5
        done
    done
}
sync_wrk() { # NAME URL CONNS DURATION
    local secs
    secs=$(awk -v d="$4" 'BEGIN{n=d+0; if(d~/m$/)n*=60; print int(n)+60}')
    timeout "$secs" wrk -t1 -c"$3" -d"$4" --timeout 5s --latency -s "$ROOT/bench/sync.lua" "$2" \
        >"$WORK/wrk-$1.txt" 2>&1 || { cat "$WORK/wrk-$1.txt" >&2; die "wrk failed against $1"; }
}
field() { sed -n "s/.*[[:space:]]$2=\([0-9.]*\).*/\1/p" "$WORK/wrk-$1.txt"; }

if part 3 || part 4; then
    gateway_up gateway-few "cfga$$." "$SUBS_FEW"
    FEW_PID=$GW_PID FEW_URL=http://127.0.0.1:$GW_EVENTS/s/5
    gateway_up gateway-many "cfgb$$." "$SUBS_MANY"
    MANY_PID=$GW_PID MANY_URL=http://127.0.0.1:$GW_EVENTS/s/5 MANY_EVENTS=$GW_EVENTS
    log "3. configuration scale: event-gateway pid $FEW_PID ($SUBS_FEW sync subscriptions), pid $MANY_PID ($SUBS_MANY); wrk c=1 on /s/5, $CFG_ROUNDS rounds of $CFG_DURATION each in turn"
fi
if part 3; then
    sync_wrk warm-few "$FEW_URL" 8 3s
    sync_wrk warm-many "$MANY_URL" 8 3s
    : >"$WORK/cfg.txt"
    for r in $(seq 1 "$CFG_ROUNDS"); do
        order="few many"
        [ $((r % 2)) = 0 ] && order="many few" # neither always right after the other's run
        for g in $order; do
            url=$FEW_URL
            [ "$g" = many ] && url=$MANY_URL
            sync_wrk "$g-$r" "$url" 1 "$CFG_DURATION"
            echo "$g $r $(field "$g-$r" p50_us) $(field "$g-$r" p99_us) $(field "$g-$r" requests) $(field "$g-$r" non2xx) $(( $(field "$g-$r" timeout) + $(field "$g-$r" read) ))" >>"$WORK/cfg.txt"
        done
    done
    log "rounds (p50 ms: $SUBS_FEW / $SUBS_MANY subscriptions = ratio): $(awk '{ p[$2, $1] = $3 / 1000; n = $2 } END { for (r = 1; r <= n; r++) printf "%s%.2f / %.2f = %.2f", (r > 1 ? " | " : ""), p[r, "few"], p[r, "many"], (p[r, "few"] > 0 ? p[r, "many"] / p[r, "few"] : 0) }' "$WORK/cfg.txt")"
    median_p50() { awk -v g="$1" '$1 == g { print $3 }' "$WORK/cfg.txt" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] + 0 }'; }
    P50_FEW=$(median_p50 few)
    P50_MANY=$(median_p50 many)
    CFG_RATIO=$(awk '{ p[$2, $1] = $3; n = $2 } END { for (r = 1; r <= n; r++) print (p[r, "few"] > 0 ? p[r, "many"] / p[r, "few"] : 0) }' "$WORK/cfg.txt" |
        sort -g | awk '{ v[NR] = $1 } END { printf "%.3f\n", v[int((NR + 1) / 2)] }')
    CFG_ERRORS=$(awk '{ s += $6 + $7 } END { print s + 0 }' "$WORK/cfg.txt")
fi

# ==== 4. resources: the gateway under an async load, then the other one idle ====
if part 4; then
    read -r lc0 _ < <(sink_stats)
    RSS_GW_BEFORE=$(awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$MANY_PID/status")
    log "4. resources: wrk -t$THREADS -c$CONNS -d$LOAD_DURATION of bench.event against the gateway with $SUBS_MANY subscriptions (RSS $RSS_GW_BEFORE MiB before)"
    timeout 120 wrk -t"$THREADS" -c"$CONNS" -d"$LOAD_DURATION" --timeout 6s -s "$ROOT/bench/event.lua" \
        "http://127.0.0.1:$MANY_EVENTS/" -- bench.event "$DATA_BYTES" "load-$$" >"$WORK/wrk-load.txt" 2>&1 ||
        { cat "$WORK/wrk-load.txt" >&2; die "wrk failed against the gateway"; }
    LOAD_ACCEPTED=$(( $(field load requests) - $(field load non2xx) ))
    LOAD_RATE=$(awk -v a="$LOAD_ACCEPTED" -v d="$(field load duration_us)" 'BEGIN { printf "%.0f", (d > 0 ? a / (d / 1e6) : 0) }')
    t0=$(date +%s) last_change=$t0 prev=-1
    while :; do # until the sink has them (bounded): the delivery is part of the load
        read -r c _ < <(sink_stats)
        [ $((c - lc0)) -ge "$LOAD_ACCEPTED" ] && break
        [ "$c" != "$prev" ] && { prev=$c last_change=$(date +%s); }
        [ $(($(date +%s) - last_change)) -ge "$STALL_S" ] && { log "load: the sink got nothing for ${STALL_S} s"; break; }
        [ $(($(date +%s) - t0)) -ge 120 ] && { log "load: delivery incomplete after 120 s"; break; }
        sleep 0.2
    done
    log "load: $LOAD_ACCEPTED events accepted ($LOAD_RATE/s), $((c - lc0)) delivered"
    RSS_GW=$(hwm_mb "$MANY_PID")
    RSS_GW_FEW=$(hwm_mb "$FEW_PID")
    stop "$MANY_PID"
    MANY_PID=""
    sleep 2
    log "idle CPU: the gateway with $SUBS_FEW subscriptions, ${IDLE_S} s without traffic"
    thread_ticks() { # "TID NAME TICKS" of each thread of the idle gateway
        local f line rest name
        for f in /proc/"$FEW_PID"/task/*/stat; do
            read -r line <"$f" 2>/dev/null || continue
            name=${line#*(} name=${name%%)*} rest=${line#*) }
            # shellcheck disable=SC2086 # the fields after the name
            set -- $rest
            echo "${line%% *} ${name// /_} $((${12} + ${13}))"
        done
    }
    thread_ticks >"$WORK/idle-threads-0.txt"
    k0=$(ticks "$FEW_PID") w0=$(date +%s%N)
    sleep "$IDLE_S"
    k1=$(ticks "$FEW_PID") w1=$(date +%s%N)
    thread_ticks >"$WORK/idle-threads-1.txt"
    IDLE_CPU=$(awk -v k="$((k1 - k0))" -v hz="$HZ" -v ns="$((w1 - w0))" 'BEGIN { printf "%.1f", 100 * k / hz / (ns / 1e9) }')
    log "idle: $IDLE_CPU % of a core; its threads by name (ticks of 1/$HZ s; threads that woke / all): $(awk '
        FNR == NR { t[$1] = $3; next }
        { all[$2]++; if (($1 in t) && $3 > t[$1]) { k[$2] += $3 - t[$1]; woke[$2]++ } }
        END { for (n in all) if (n in k) printf "%s%s %d (%d/%d)", (m++ ? ", " : ""), n, k[n], woke[n], all[n] }' \
        "$WORK/idle-threads-0.txt" "$WORK/idle-threads-1.txt")"
    stop "$FEW_PID"
    FEW_PID="" MANY_PID=""
fi
for pid in $FEW_PID $MANY_PID; do stop "$pid"; done
log "run took $(($(date +%s) - RUN_START)) s (after the build)"

# ==== summary ====
LC_ALL=C awk -v machine="$(bench_machine)" -v broker="$BROKER_NAME" \
    -v cfg="${DATA_BYTES}-byte data, --partitions $PARTS, $(nproc) CPUs" \
    -v fan_target="$FANOUT_TARGET" -v scaling_target="$SCALING_TARGET" -v cfg_target="$CFG_TARGET" \
    -v slow_ms="$SLOW_MS" -v inflight="$MAX_INFLIGHT" -v inv_args="$INVOKER_ARGS" \
    -v subs_few="$SUBS_FEW" -v subs_many="$SUBS_MANY" -v p50_few="$P50_FEW" -v p50_many="$P50_MANY" -v cfg_ratio="$CFG_RATIO" \
    -v cfg_rounds="$CFG_ROUNDS" -v cfg_dur="$CFG_DURATION" -v cfg_errors="$CFG_ERRORS" \
    -v rss_ingress="$RSS_INGRESS" -v rss_router="$RSS_ROUTER" -v rss_invoker="$RSS_INVOKER" \
    -v rss_gw="$RSS_GW" -v rss_gw_before="$RSS_GW_BEFORE" -v rss_gw_few="$RSS_GW_FEW" -v rss_target="$RSS_TARGET" \
    -v load_rate="$LOAD_RATE" -v load_dur="$LOAD_DURATION" -v conns="$CONNS" \
    -v idle="$IDLE_CPU" -v idle_s="$IDLE_S" -v idle_target="$IDLE_TARGET" -v parts="$PARTS_ON" '
function mark(ok) { return ok ? "PASS" : "FAIL" }
function on(k) { return index(" " parts " ", " " k " ") > 0 }
function row(name, fig, base, ratio, target, m) {
    printf "%-40s %14s %14s %7s  %-14s %s\n", name, fig, base, ratio, target, m
}
FILENAME ~ /fanout/ { n = $1; fo[++nf] = n; fe[n] = $2; fms[n] = $3; ftot[n] = $4
    frc[n] = $5; fbc[n] = $6; fmc[n] = $7; fall[n] = $8; frss[n] = $9; finv[n] = $3 > 0 ? $2 * n * 1000 / $3 : 0; next }
FILENAME ~ /filters/ { k = $1; if (!(k in fle)) fl[++nfl] = k; fle[k] += $2; flms[k] += $3; fltot[k] += $4
    flrc[k] += $5 * $3; flbc[k] += $6 * $3; flall[k] += $7; flruns[k]++; next }
FILENAME ~ /invokers/ { n = $1; io[++ni] = n; ir[n] = $2; idel[n] = $3; itot[n] = $4; iov[n] = $5; ibusy[n] = $6; next }
END {
    fail = 0
    printf "\n==== Event Gateway scale benchmark (%s) ====\n", cfg
    printf "  %s; %s\n", broker, machine
    row("", "figure", "baseline", "ratio", "target", "")
    b = fo[1]
    for (i = 1; i <= nf; i++) {
        n = fo[i]
        last = (i == nf && nf > 1)
        ok = finv[n] >= fan_target && fall[n] >= ftot[n]
        if (last && !ok) fail = 1
        row(sprintf("fan-out %d: router invocations/s", n), sprintf("%.0f", finv[n]),
            i == 1 ? "(baseline)" : sprintf("%.0f", finv[b]), i == 1 ? "" : sprintf("%.2f", finv[b] > 0 ? finv[n] / finv[b] : 0),
            last ? ">= " fan_target : "", last ? mark(ok) : "")
        printf "    %d events x %d in %.2f s; router %d %%, broker %d %% of a core, machine %d %% busy; router peak RSS %.1f MiB%s\n",
            fe[n], n, fms[n] / 1000, frc[n], fbc[n], fmc[n], frss[n],
            (fall[n] < ftot[n] ? sprintf("  (INCOMPLETE: %d of %d routed)", fall[n], ftot[n]) : "")
    }
    b = io[1]
    for (i = 1; i <= ni; i++) {
        n = io[i]
        last = (i == ni && ni > 1)
        ratio = ir[b] > 0 ? ir[n] / ir[b] : 0
        ok = ratio >= scaling_target && idel[n] >= itot[n]
        if (last && !ok) fail = 1
        row(sprintf("%d eg-invoker: delivered events/s", n), sprintf("%.0f", ir[n]),
            i == 1 ? "(baseline)" : sprintf("%.0f", ir[b]), i == 1 ? "" : sprintf("%.2f", ratio),
            last ? ">= " scaling_target "x" : "", last ? mark(ok) : "")
        printf "    %d of %d delivered; ideal %d/s (%d x %d in flight / %d ms); %d overflowed; machine %d %% busy\n",
            idel[n], itot[n], n * inflight * 1000 / slow_ms, n, inflight, slow_ms, iov[n], ibusy[n]
    }
    if (ni > 0 && inv_args != "") printf "    (eg-invoker %s)\n", inv_args
    for (i = 1; i <= nfl; i++) {
        k = fl[i]
        flr[k] = flms[k] > 0 ? fle[k] * 1000 / flms[k] : 0
        flrc[k] = flms[k] > 0 ? flrc[k] / flms[k] : 0
        flbc[k] = flms[k] > 0 ? flbc[k] / flms[k] : 0
    }
    b = fl[1]
    for (i = 1; i <= nfl; i++) {
        k = fl[i]
        row(sprintf("%d filter(s) per subscription: events/s", k), sprintf("%.0f", flr[k]),
            i == 1 ? "(baseline)" : sprintf("%.0f", flr[b]), i == 1 ? "" : sprintf("%.2f", flr[b] > 0 ? flr[k] / flr[b] : 0),
            "", "")
        printf "    %d events x 10 subscriptions in %.2f s (%d runs); router %d %%, broker %d %% of a core%s\n",
            fle[k], flms[k] / 1000, flruns[k], flrc[k], flbc[k],
            (flall[k] < fltot[k] ? sprintf("  (INCOMPLETE: %d of %d routed)", flall[k], fltot[k]) : "")
    }
    if (on(3)) {
        ratio = cfg_ratio
        ok = ratio <= cfg_target && ratio > 0 && cfg_errors == 0
        if (!ok) fail = 1
        row(sprintf("sync p50, %d subscriptions", subs_few), sprintf("%.2f ms", p50_few / 1000), "(baseline)", "", "", "")
        row(sprintf("sync p50, %d subscriptions", subs_many), sprintf("%.2f ms", p50_many / 1000),
            sprintf("%.2f ms", p50_few / 1000), sprintf("%.2f", ratio), "<= " cfg_target "x", mark(ok))
        printf "    wrk c=1, %d rounds of %s in turn: medians of the p50s and of the per-round ratios%s\n", cfg_rounds, cfg_dur,
            (cfg_errors > 0 ? sprintf("; %d errors (answers >= 400, timeouts)", cfg_errors) : "")
    }
    if (rss_ingress > 0) {
        ok = rss_ingress <= rss_target
        if (!ok) fail = 1
        row("peak RSS, eg-ingress (-c" conns " backlogs)", sprintf("%.1f MiB", rss_ingress), "", "", "<= " rss_target " MiB", mark(ok))
    }
    if (rss_router > 0)
        row("peak RSS, eg-router", sprintf("%.1f MiB", rss_router), "", "", "", "")
    if (rss_invoker > 0)
        row("peak RSS, eg-invoker", sprintf("%.1f MiB", rss_invoker), "", "", "", "")
    if (on(4)) {
        row(sprintf("peak RSS, event-gateway (%d subs, load)", subs_many), sprintf("%.1f MiB", rss_gw),
            sprintf("%.1f MiB", rss_gw_few), "", "", "")
        printf "    the load: -c%d -d%s of async events, %d accepted/s, delivered (RSS %.1f MiB before it); baseline: the gateway with %d subscriptions after its sync runs\n",
            conns, load_dur, load_rate, rss_gw_before, subs_few
        ok = idle <= idle_target
        if (!ok) fail = 1
        row(sprintf("idle event-gateway, CPU over %d s", idle_s), sprintf("%.1f %%", idle), "", "", "<= " idle_target " %", mark(ok))
    }
    exit fail ? 3 : 0
}' "$WORK/fanout.txt" "$WORK/invokers.txt" "$WORK/filters.txt" || { [ "$?" = 3 ] && [ "${BENCH_STRICT:-0}" != 1 ] || exit 3; }
