#!/usr/bin/env bash
# bench/run.sh: the Event Gateway benchmark, in one run (see bench/README.md).
#
#   bench/run.sh [--mock | --kafka]
#
# --mock (the default): on the embedded broker (event-gateway --dev).
# --kafka (make bench-kafka): on the project's Apache Kafka (scripts/kafka.sh,
# one node on this machine, started in the work directory for the run and
# stopped by its PID), with 1 KiB events; beside bare202 it also measures
# Kafka's own producer (ProducerPerformance) on the same broker with records
# of the same size.
#
#   1. builds (make build), starts a sink function (bench-sink), the gateway
#      (event-gateway --dev, or on Kafka) and a bare 202 server (bench-bare202);
#   2. registers an event type, an http function pointing at the sink and an
#      async subscription through the Config API, checks one event end to end;
#   3. runs the same wrk load (bench/event.lua) against bare202, against the
#      ingress alone (eg-ingress joined to an embedded broker in a process of
#      its own, eg-fault-broker: the ingest target's figure) and against the
#      gateway with every role in one process, with a second event type that
#      has no subscription ("ingest only": nothing is delivered), in turn,
#      BENCH_ROUNDS times (the machine's speed drifts between runs: each
#      ingest run is compared with the bare202 run of its round, and the
#      median round of each is shown); then against the Events API with the
#      subscribed type, sampling the sink's count during it;
#   4. waits for the backlog to reach the sink (bounded), then prints one
#      summary table with PASS/FAIL marks against the targets.
#
# Every duration is bounded; every process started here is stopped by its
# PID on exit. Settings (environment):
#   BENCH_THREADS (2) BENCH_CONNECTIONS (64) BENCH_DURATION (10s, wrk syntax)
#   BENCH_TIMEOUT (wrk --timeout, 6s: above the ingress's 5 s hold) BENCH_DATA_BYTES (64)
#   BENCH_DRAIN_MAX_S (120: longest wait for the backlog)
#   BENCH_STALL_S (15: give up when the sink gets nothing for that long)
#   BENCH_TOP (1: print per-thread CPU of the gateway during its load; 0 off)
#   BENCH_PROFILE (0; 1: perf record -a over the end-to-end load, then where the
#   gateway's and the broker's time went, by thread, library and symbol)
#   BENCH_GW_ARGS (none: extra event-gateway flags, e.g. "--partitions 1")
#   BENCH_SKIP_BUILD (0) BENCH_KEEP_LOGS (0: keep the work directory)
#   BUILD_DIR (build) BENCH_INGEST_RATIO (0.5) BENCH_DELIVERY_TARGET (10000; 20000 with --kafka,
#   issue 18's, with a drain under 1 s)
#   BENCH_STRICT (0: exit 0 whatever the marks; 1: exit 3 when a target is missed)
#   BENCH_INGEST_ONLY (1: measure the ingress alone and the ingest-only runs; 0 skips both)
#   BENCH_ROUNDS (3: bare202 / ingress alone / ingest-only rounds) BENCH_ROUND_DURATION (5s each run)
#   BENCH_HUGETLB (1: the gateway's malloc on huge pages, as `make run`; 0 off)
#   BENCH_KAFKA (0; 1 as --kafka) BENCH_DATA_BYTES defaults to 870 with --kafka
#   (a 1 KiB event)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_mode run.sh "$@"
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-64}
DURATION=${BENCH_DURATION:-10s}
WRK_TIMEOUT=${BENCH_TIMEOUT:-6s}
DATA_BYTES=${BENCH_DATA_BYTES:-$([ "$KAFKA" = 1 ] && echo 870 || echo 64)}
DRAIN_MAX_S=${BENCH_DRAIN_MAX_S:-120}
STALL_S=${BENCH_STALL_S:-15}
SHOW_TOP=${BENCH_TOP:-1}
PROFILE=${BENCH_PROFILE:-0}
INGEST_RATIO=${BENCH_INGEST_RATIO:-0.5}
DELIVERY_TARGET=${BENCH_DELIVERY_TARGET:-$([ "$KAFKA" = 1 ] && echo 20000 || echo 10000)}
EVENT_TYPE=bench.event
INGEST_TYPE=bench.ingest # registered, never subscribed: the ingest-only run
INGEST_ONLY=${BENCH_INGEST_ONLY:-1}
ROUNDS=${BENCH_ROUNDS:-3}
ROUND_DURATION=${BENCH_ROUND_DURATION:-5s}
SPACE=default

bench_init bench # log, die, $WORK, PIDS stopped on exit
bench_build event-gateway eg-ingress bench-bare202 bench-sink
BROKER_BIN=$(dirname "$BIN")/tests/eg-fault-broker
ADMIN_BIN=$(dirname "$BIN")/tests/eg-kafka-admin
[ -x "$BROKER_BIN" ] && [ -x "$ADMIN_BIN" ] || die "$BROKER_BIN or $ADMIN_BIN missing (make build)"
log "machine: $(bench_machine)"
bench_broker "bench$$."
now_ms() { date +%s%3N; }

# ---- free ports (scripts/free-ports.py: below the ephemeral range, checked free)
read -r P_CONFIG P_EVENTS P_BARE P_SINK P_ACONFIG P_AEVENTS < <(python3 "$ROOT/scripts/free-ports.py" 6)

sink_stats() { curl -sf -m 2 "http://127.0.0.1:$P_SINK/stats"; }

"$BIN/bench-sink" "$P_SINK" >"$WORK/sink.out" 2>"$WORK/sink.log" &
SINK_PID=$!
PIDS+=("$SINK_PID")
"$BIN/bench-bare202" "$P_BARE" 2>"$WORK/bare202.log" &
PIDS+=($!)
# malloc on huge pages (glibc >= 2.35; as `make run` does): the embedded
# broker walks its list of message sets on every fetch (see bench/README.md),
# about half as costly when its ~40 MB of records do not miss the TLB.
GW_TUNABLES=${GLIBC_TUNABLES:-}
[ "${BENCH_HUGETLB:-1}" = 1 ] && GW_TUNABLES=${GW_TUNABLES:+$GW_TUNABLES:}glibc.malloc.hugetlb=1
# shellcheck disable=SC2086 # BENCH_GW_ARGS is a list of arguments
GLIBC_TUNABLES=$GW_TUNABLES \
"$BIN/event-gateway" "${GW_MODE[@]}" --listen 127.0.0.1 \
    --config-port "$P_CONFIG" --events-port "$P_EVENTS" --log-level warn ${BENCH_GW_ARGS:-} \
    >"$WORK/gateway.log" 2>&1 &
GW_PID=$!
PIDS+=("$GW_PID")

# The ingress alone: eg-ingress as it is deployed (its own process, no
# router or invoker beside it), on the same Kafka with topics of its own, or
# on an embedded broker in a process of its own with dev mode's 2 partitions
# per topic (eg-fault-broker: librdkafka's mock cluster, as in --dev).
if [ "$INGEST_ONLY" = 1 ] && [ "$KAFKA" = 1 ]; then
    A_BROKERS=$KAFKA_BROKERS
    BROKER_PID=$(cat "$WORK/kafka/node-1/pid")
    GLIBC_TUNABLES=$GW_TUNABLES \
    "$BIN/eg-ingress" --brokers "$KAFKA_BROKERS" --topic-prefix "alone$$." --listen 127.0.0.1 \
        --config-port "$P_ACONFIG" --events-port "$P_AEVENTS" --log-level warn \
        >"$WORK/ingress-alone.log" 2>&1 &
    ALONE_PID=$!
    PIDS+=("$ALONE_PID")
elif [ "$INGEST_ONLY" = 1 ]; then
    coproc BROKER { GLIBC_TUNABLES=$GW_TUNABLES exec "$BROKER_BIN" --partitions 2 2>"$WORK/broker.log"; }
    PIDS+=("$BROKER_PID")
    IFS=' ' read -r -t 10 _ A_BROKERS <&"${BROKER[0]}" || die "eg-fault-broker did not start"
    GLIBC_TUNABLES=$GW_TUNABLES \
    "$BIN/eg-ingress" --brokers "$A_BROKERS" --kafka-mock --listen 127.0.0.1 --config-port "$P_ACONFIG" \
        --events-port "$P_AEVENTS" --log-level warn >"$WORK/ingress-alone.log" 2>&1 &
    ALONE_PID=$!
    PIDS+=("$ALONE_PID")
fi

wait_http "http://127.0.0.1:$P_SINK/count" 10 || die "the sink did not start"
wait_http "http://127.0.0.1:$P_CONFIG/v1/status" 60 ||
    { tail -20 "$WORK/gateway.log" >&2; die "the gateway's /v1/status never answered 200"; }
log "gateway pid $GW_PID: config :$P_CONFIG, events :$P_EVENTS; bare202 :$P_BARE; sink :$P_SINK"

# ---- configuration ----
config_post eventtypes "{\"name\":\"$EVENT_TYPE\"}"
config_post eventtypes "{\"name\":\"$INGEST_TYPE\"}"
config_post functions "{\"functionId\":\"bench-sink\",\"type\":\"http\",\"provider\":{\"url\":\"http://127.0.0.1:$P_SINK/\"}}"
config_post subscriptions "{\"type\":\"async\",\"eventType\":\"$EVENT_TYPE\",\"functionId\":\"bench-sink\",\"path\":\"/\",\"method\":\"POST\"}"
if [ "$INGEST_ONLY" = 1 ]; then
    wait_http "http://127.0.0.1:$P_ACONFIG/v1/status" 60 ||
        { tail -20 "$WORK/ingress-alone.log" >&2; die "the ingress alone's /v1/status never answered 200"; }
    P_CONFIG=$P_ACONFIG config_post eventtypes "{\"name\":\"$INGEST_TYPE\"}"
    log "ingress alone: eg-ingress on :$P_AEVENTS, embedded broker $A_BROKERS (pid $BROKER_PID)"
fi

# ---- warm-up: a few events through the whole pipeline ----
WARM=20
for i in $(seq 1 $WARM); do
    code=$(curl -s -o /dev/null -m 10 -w '%{http_code}' -XPOST \
        -H 'Content-Type: application/cloudevents+json' "http://127.0.0.1:$P_EVENTS/" \
        -d "{\"specversion\":\"1.0\",\"type\":\"$EVENT_TYPE\",\"source\":\"/bench/warmup\",\"id\":\"warm-$$-$i\",\"data\":{}}" || true)
    [ "$code" = 202 ] || die "warm-up event $i answered $code (expected 202)"
done
DELIVERY_WORKS=0
for _ in $(seq 1 100); do # 10 s at most
    c=$(curl -sf -m 2 "http://127.0.0.1:$P_SINK/count" || echo 0)
    [ "$c" -ge "$WARM" ] && { DELIVERY_WORKS=1; break; }
    sleep 0.1
done
if [ "$DELIVERY_WORKS" = 1 ]; then
    log "warm-up: $WARM events accepted and delivered"
else
    log "warm-up: events accepted but only ${c:-0}/$WARM reached the sink in 10 s (invoker not ready?)"
fi

# ---- load ----
run_wrk() { # NAME PORT [EVENT_TYPE [DURATION]]
    local secs d=${4:-$DURATION}
    secs=$(awk -v d="$d" 'BEGIN{n=d+0; if(d~/m$/)n*=60; if(d~/h$/)n*=3600; print int(n)+60}')
    log "wrk -t$THREADS -c$CONNS -d$d against $1"
    timeout "$secs" wrk -t"$THREADS" -c"$CONNS" -d"$d" --timeout "$WRK_TIMEOUT" --latency \
        -s "$ROOT/bench/event.lua" "http://127.0.0.1:$2/" -- "${3:-$EVENT_TYPE}" "$DATA_BYTES" "$1-$$" \
        >"$WORK/wrk-$1.txt" 2>&1 || { cat "$WORK/wrk-$1.txt" >&2; die "wrk failed against $1"; }
    sed -n '/^Running/,/^BENCH/p' "$WORK/wrk-$1.txt" | grep -v '^BENCH' | sed 's/^/  | /' >&2
}
field() { sed -n "s/.*[[:space:]]$2=\([0-9.]*\).*/\1/p" "$WORK/wrk-$1.txt"; }

# Per-thread CPU ticks of the gateway ("T tid name ticks") and of the machine
# ("M busy total"), from /proc: two snapshots give each thread's share.
cpu_snapshot() {
    local f line rest
    date +%s%N | sed 's/^/W /'
    awk '/^cpu /{print "M", $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat
    for f in /proc/"$GW_PID"/task/*/stat; do
        read -r line <"$f" 2>/dev/null || continue
        rest=${line#*) }
        name=${line#*(}; name=${name%%)*}
        set -- $rest
        echo "T ${line%% *} $name $((${12} + ${13}))"
    done
}

# Where the CPU went during a run, % of one core: "NAME P1 P2 ... MACHINE" in
# cpu.txt for the processes given to cpu_begin (0: none), then the machine's.
cpu_begin() {
    CPU_PIDS=("$@")
    CPU_T0=()
    local p
    for p in "$@"; do CPU_T0+=("$(ticks "$p")"); done
    read -r CPU_M0 CPU_MT0 < <(machine_ticks)
    CPU_W0=$(date +%s%N)
}
cpu_end() {
    local i line=$1 w1 m1 mt1
    w1=$(date +%s%N)
    for i in "${!CPU_PIDS[@]}"; do
        line+=" $(cpu_share "${CPU_T0[$i]}" "$(ticks "${CPU_PIDS[$i]}")" $((w1 - CPU_W0)))"
    done
    read -r m1 mt1 < <(machine_ticks)
    line+=" $(awk -v m=$((m1 - CPU_M0)) -v mt=$((mt1 - CPU_MT0)) -v n="$(nproc)" 'BEGIN { printf "%.0f", (mt > 0 ? 100 * n * m / mt : 0) }')"
    echo "$line" >>"$WORK/cpu.txt"
}

rate() { # NAME: accepted requests per second of a wrk run
    awk -v r="$(field "$1" requests)" -v b="$(field "$1" non2xx)" -v d="$(field "$1" duration_us)" \
        'BEGIN { printf "%.0f", (d > 0 ? (r - b) / (d / 1e6) : 0) }'
}

# bare202, the ingress alone and the gateway's ingest only, in turn. Both
# ingest runs use a type that no subscription matches: in the gateway the
# router reads and drops the events, and nothing reaches the sink. Each
# round's ratios compare runs a few seconds apart; for each ingest figure,
# the round with its median ratio is the one reported. Without the
# ingest-only runs, one bare202 run of BENCH_DURATION.
median_round() { # COLUMN of rounds.txt: the round whose ratio to bare202 is the median
    awk -v c="$1" '{ print ($2 > 0 ? $c / $2 : 0), $1 }' "$WORK/rounds.txt" | sort -g |
        awk '{ k[NR] = $2 } END { print k[int((NR + 1) / 2)] }'
}
if [ "$INGEST_ONLY" = 1 ]; then
    read -r IO_C0 _ < <(sink_stats)
    : >"$WORK/rounds.txt"
    for k in $(seq 1 "$ROUNDS"); do
        run_wrk "bare202-$k" "$P_BARE" "$EVENT_TYPE" "$ROUND_DURATION"
        cpu_begin "$ALONE_PID" "$BROKER_PID"
        run_wrk "alone-$k" "$P_AEVENTS" "$INGEST_TYPE" "$ROUND_DURATION"
        cpu_end "alone-$k"
        run_wrk "ingest-$k" "$P_EVENTS" "$INGEST_TYPE" "$ROUND_DURATION"
        echo "$k $(rate "bare202-$k") $(rate "alone-$k") $(rate "ingest-$k")" >>"$WORK/rounds.txt"
    done
    sleep 2 # let the router read past them before the next run
    read -r IO_C1 _ < <(sink_stats)
    [ "$IO_C1" = "$IO_C0" ] || log "ingest only: the sink got $((IO_C1 - IO_C0)) events (expected none)"
    MEDIAN=$(median_round 3)
    MEDIAN_O=$(median_round 4)
    log "rounds (bare202 req/s; ingress alone, gateway ingest only: events/s and ratio): $(awk '{ printf "%s%d: %d; %d = %.2f; %d = %.2f", (NR > 1 ? " | " : ""), $1, $2, $3, ($2 > 0 ? $3 / $2 : 0), $4, ($2 > 0 ? $4 / $2 : 0) }' "$WORK/rounds.txt"); median rounds $MEDIAN (ingress alone), $MEDIAN_O (gateway)"
    cp "$WORK/wrk-bare202-$MEDIAN.txt" "$WORK/wrk-bare202.txt"
    cp "$WORK/wrk-alone-$MEDIAN.txt" "$WORK/wrk-alone.txt"
    cp "$WORK/wrk-ingest-$MEDIAN_O.txt" "$WORK/wrk-ingest.txt"
    O_BARE=$(awk -v k="$MEDIAN_O" '$1 == k { print $2 }' "$WORK/rounds.txt")
else
    run_wrk bare202 "$P_BARE"
    O_BARE=0
fi
# Kafka's own producer on the same broker, records the size of an event
# (acks=all, as the ingress writes): what the broker takes from one client.
K_RATE=0 K_P50=0 K_P99=0 K_SIZE=0
if [ "$KAFKA" = 1 ]; then
    K_SIZE=$((DATA_BYTES + 160)) # event.lua's envelope around the pad
    "$ADMIN_BIN" -b "$KAFKA_BROKERS" create "perf$$" 8 >/dev/null 2>"$WORK/perf-topic.log" ||
        { cat "$WORK/perf-topic.log" >&2; die "creating the producer benchmark's topic failed"; }
    log "Kafka's producer: ProducerPerformance, 300000 records of $K_SIZE bytes, acks=all"
    timeout 300 env "${KAFKA_ENV[@]}" bash "$ROOT/scripts/kafka.sh" perf-produce --topic "perf$$" \
        --num-records 300000 --record-size "$K_SIZE" --throughput -1 \
        --producer-props bootstrap.servers="$KAFKA_BROKERS" acks=all \
        >"$WORK/perf.txt" 2>"$WORK/perf.log" || { tail -5 "$WORK/perf.log" >&2; die "ProducerPerformance failed"; }
    # "N records sent, R records/sec (M MB/sec), A ms avg latency, X ms max latency, P ms 50th, ..."
    read -r K_RATE K_P50 K_P99 < <(tail -1 "$WORK/perf.txt" |
        sed -n 's/.* \([0-9.]*\) records\/sec.* \([0-9]*\) ms 50th, [0-9]* ms 95th, \([0-9]*\) ms 99th.*/\1 \2 \3/p')
    tail -1 "$WORK/perf.txt" | sed 's/^/  | /' >&2
fi
ifield() { [ "$INGEST_ONLY" = 1 ] && field ingest "$1" || echo 0; }
afield() { [ "$INGEST_ONLY" = 1 ] && field alone "$1" || echo 0; }

read -r C0 _ _ T0 < <(sink_stats)
( # the sink's count every second during the load
    while :; do sink_stats >>"$WORK/samples.txt" || true; sleep 1; done
) &
SAMPLER=$!
PIDS+=("$SAMPLER")
if [ "$SHOW_TOP" = 1 ]; then
    secs=$(awk -v d="$DURATION" 'BEGIN{n=d+0; if(d~/m$/)n*=60; print (n>4)?int(n-3):1}')
    ( sleep 1; cpu_snapshot >"$WORK/cpu1.txt"; sleep "$secs"; cpu_snapshot >"$WORK/cpu2.txt" ) &
    PIDS+=($!)
fi
if [ "$PROFILE" = 1 ]; then
    secs=$(awk -v d="$DURATION" 'BEGIN{n=d+0; if(d~/m$/)n*=60; print (n>2)?int(n-1):1}')
    perf record -q -a -F 499 -o "$WORK/e2e.perf" -- sleep "$secs" >/dev/null 2>&1 &
    PERF_PID=$!
    PIDS+=("$PERF_PID")
fi
LOAD_START=$(now_ms)
cpu_begin "$GW_PID" "${KAFKA_PID:-0}" "$SINK_PID"
run_wrk ingress "$P_EVENTS"
cpu_end ingress
if [ "$PROFILE" = 1 ]; then
    wait "$PERF_PID" || log "perf record failed"
    # the gateway by thread and library, then by symbol; the broker by library
    perf_top() { # FILE PID SORT LINES
        perf report -i "$WORK/e2e.perf" --pid "$2" --sort "$3" --percentage relative --stdio >"$WORK/$1.full" 2>/dev/null || true
        grep -E '^ +[0-9.]+%' "$WORK/$1.full" | head -"$4" >"$WORK/$1" || true
    }
    perf_top e2e-perf-dso.txt "$GW_PID" comm,dso 15
    perf_top e2e-perf-gw.txt "$GW_PID" dso,sym 25
    perf_top e2e-perf-broker.txt "${KAFKA_PID:-0}" dso 5
fi
LOAD_END=$(now_ms)
kill "$SAMPLER" 2>/dev/null || true
read -r C1 _ _ _ < <(sink_stats)

# ---- drain: wait until every accepted event reached the sink (bounded) ----
REQ=$(field ingress requests)
NON2XX=$(field ingress non2xx)
ACCEPTED=$((REQ - NON2XX))
TARGET=$((C0 + ACCEPTED))
deadline=$(($(date +%s) + DRAIN_MAX_S))
last_change=$(date +%s)
prev=-1
while :; do
    read -r CN _ LAST_MS _ < <(sink_stats || echo "0 0 0 0")
    [ "$CN" -ge "$TARGET" ] && break
    [ "$CN" != "$prev" ] && { prev=$CN; last_change=$(date +%s); }
    [ $(($(date +%s) - last_change)) -ge "$STALL_S" ] && { log "the sink got nothing for ${STALL_S}s"; break; }
    [ "$(date +%s)" -ge "$deadline" ] && { log "drain still incomplete after ${DRAIN_MAX_S}s"; break; }
    sleep 0.2
done
DELIVERED=$((CN - C0))

if [ "$SHOW_TOP" = 1 ] && [ -s "$WORK/cpu2.txt" ]; then
    log "CPU during the ingress load, % of one core (gateway threads at 2% or more):"
    awk -v hz="$(getconf CLK_TCK)" -v ncpu="$(nproc)" '
        FNR == 1 { f++ }
        $1 == "W" { w[f] = $2 } $1 == "M" { busy[f] = $2; tot[f] = $3 }
        $1 == "T" { t[f, $2] = $4; name[$2] = $3 }
        END {
            dt = (w[2] - w[1]) / 1e9; if (dt <= 0) exit
            for (k in name) if ((2, k) in t && (1, k) in t) {
                pc = 100 * (t[2, k] - t[1, k]) / hz / dt; sum += pc
                if (pc >= 2) printf "%6.0f%%  %s (tid %s)\n", pc, name[k], k
            }
            printf "%6.0f%%  gateway total\n", sum
            printf "%6.0f%%  whole machine (%d CPUs: gateway, wrk, sink)\n", ncpu * 100 * (busy[2] - busy[1]) / (tot[2] - tot[1]), ncpu
        }' "$WORK/cpu1.txt" "$WORK/cpu2.txt" | sort -rn | sed 's/^/  | /' >&2
fi
if [ -s "$WORK/samples.txt" ]; then
    log "sink count during the ingress load (per ~1 s sample):"
    awk -v c0="$C0" -v t0="$T0" 'NR>1{printf "%s%.1fs:+%d", (NR>2?"  ":"  | "), ($4-t0)/1000, ($1-pc)} {pc=$1} END{print ""}' \
        "$WORK/samples.txt" >&2
fi

# ---- summary ----
# where the CPU went: the limit of the figures below (% of one core)
if [ "$INGEST_ONLY" = 1 ]; then
    awk -v k="alone-$MEDIAN" -v n="$(nproc)" -v kafka="$KAFKA" '$1 == k { printf "CPU, %% of one core: ingress alone (its median round): eg-ingress %s, %s %s, machine %s of %d00\n", $2, kafka ? "Kafka" : "embedded broker", $3, $4, n }' "$WORK/cpu.txt"
fi
awk -v n="$(nproc)" -v kafka="$KAFKA" '$1 == "ingress" { printf "CPU, %% of one core: end to end: event-gateway %s, %s, sink %s, machine %s of %d00\n", $2, kafka ? "Kafka " $3 : "its embedded broker inside it", $4, $5, n }' "$WORK/cpu.txt"
LC_ALL=C awk \
    -v b_req="$(field bare202 requests)" -v b_dur="$(field bare202 duration_us)" \
    -v b_bad="$(field bare202 non2xx)" -v b_p50="$(field bare202 p50_us)" \
    -v b_p90="$(field bare202 p90_us)" -v b_p99="$(field bare202 p99_us)" \
    -v i_req="$REQ" -v i_dur="$(field ingress duration_us)" -v i_bad="$NON2XX" \
    -v i_p50="$(field ingress p50_us)" -v i_p90="$(field ingress p90_us)" \
    -v i_p99="$(field ingress p99_us)" \
    -v a_req="$(afield requests)" -v a_dur="$(afield duration_us)" -v a_bad="$(afield non2xx)" \
    -v a_p50="$(afield p50_us)" -v a_p90="$(afield p90_us)" -v a_p99="$(afield p99_us)" \
    -v a_sockerr="$(( $(afield connect) + $(afield read) + $(afield write) + $(afield timeout) ))" \
    -v o_bare="$O_BARE" \
    -v o_on="$INGEST_ONLY" -v o_req="$(ifield requests)" -v o_dur="$(ifield duration_us)" \
    -v o_bad="$(ifield non2xx)" -v o_p50="$(ifield p50_us)" -v o_p90="$(ifield p90_us)" \
    -v o_p99="$(ifield p99_us)" \
    -v o_sockerr="$(( $(ifield connect) + $(ifield read) + $(ifield write) + $(ifield timeout) ))" \
    -v i_sockerr="$(( $(field ingress connect) + $(field ingress read) + $(field ingress write) + $(field ingress timeout) ))" \
    -v c0="$C0" -v c1="$C1" -v t0="$T0" -v ls="$LOAD_START" -v le="$LOAD_END" \
    -v k_on="$KAFKA" -v k_rate="${K_RATE:-0}" -v k_p50="${K_P50:-0}" -v k_p99="${K_P99:-0}" -v k_size="$K_SIZE" \
    -v machine="$(bench_machine)" -v broker="$([ "$KAFKA" = 1 ] && echo "Apache Kafka, one node on this machine" || echo "embedded broker (librdkafka mock cluster, --dev)")" \
    -v accepted="$ACCEPTED" -v delivered="$DELIVERED" -v last_ms="$LAST_MS" \
    -v ratio_target="$INGEST_RATIO" -v deliv_target="$DELIVERY_TARGET" -v dur="$DURATION" \
    -v cfg="-t$THREADS -c$CONNS -d$DURATION, ${DATA_BYTES}-byte data, $(nproc) CPUs" \
    -v rounds="$([ "$INGEST_ONLY" = 1 ] && echo "median of $ROUNDS rounds of -d$ROUND_DURATION runs in turn")" '
function ms(us) { return sprintf("%.2f ms", us / 1000) }
function mark(ok) { return ok ? "PASS" : "FAIL" }
BEGIN {
    b_rate = b_dur > 0 ? (b_req - b_bad) / (b_dur / 1e6) : 0
    i_rate = i_dur > 0 ? (i_req - i_bad) / (i_dur / 1e6) : 0
    ratio = b_rate > 0 ? i_rate / b_rate : 0
    a_rate = a_dur > 0 ? (a_req - a_bad) / (a_dur / 1e6) : 0
    a_ratio = b_rate > 0 ? a_rate / b_rate : 0
    o_rate = o_dur > 0 ? (o_req - o_bad) / (o_dur / 1e6) : 0
    o_ratio = o_bare > 0 ? o_rate / o_bare : 0
    during = (le > ls) ? (c1 - c0) / ((le - ls) / 1000) : 0
    drain = (delivered > 0 && last_ms > le) ? (last_ms - le) / 1000 : 0
    e2e = (delivered > 0 && last_ms > ls) ? delivered / ((last_ms - ls) / 1000) : 0
    backlog = delivered - (c1 - c0)
    drain_rate = drain > 0 ? backlog / drain : 0
    complete = delivered >= accepted
    printf "\n==== Event Gateway benchmark (%s) ====\n", cfg
    printf "  %s; %s\n", broker, machine
    printf "%-34s %12s %10s %10s %10s  %s\n", "", "req/s", "p50", "p90", "p99", "target"
    printf "%-34s %12.0f %10s %10s %10s\n", "bare202 (libmicrohttpd, 202 only)", b_rate, ms(b_p50), ms(b_p90), ms(b_p99)
    if (k_on)
        printf "%-34s %12.0f %10s %10s %10s   (records/s, %d bytes, acks=all, one client)\n", "Kafka producer (ProducerPerf.)", k_rate, k_p50 " ms", "", k_p99 " ms", k_size
    if (o_on) {
        printf "%-34s %12.0f %10s %10s %10s\n", "ingress alone (eg-ingress)", a_rate, ms(a_p50), ms(a_p90), ms(a_p99)
        printf "%-34s %12.2f %32s  >= %.2f  %s\n", "ingress alone / bare202", a_ratio, "", ratio_target, mark(a_ratio >= ratio_target && a_rate > 0)
        printf "%-34s %12.0f %10s %10s %10s\n", "gateway, all roles: ingest only", o_rate, ms(o_p50), ms(o_p90), ms(o_p99)
        printf "%-34s %12.2f   (no target: its router reads every event on the same cores)\n", "gateway ingest only / bare202", o_ratio
        printf "  (the three: event type not subscribed, the %s; the loads below: -d%s)\n", rounds, dur
        if (a_bad > 0 || a_sockerr > 0)
            printf "  ingress alone: %d answers >= 400, %d socket errors/timeouts (not counted as accepted)\n", a_bad, a_sockerr
        if (o_bad > 0 || o_sockerr > 0)
            printf "  ingest only: %d answers >= 400, %d socket errors/timeouts (not counted as accepted)\n", o_bad, o_sockerr
    }
    printf "%-34s %12.0f %10s %10s %10s\n", "ingress (Events API, 202 = in Kafka)", i_rate, ms(i_p50), ms(i_p90), ms(i_p99)
    if (o_on)
        printf "%-34s %12.2f   (no target: the delivery runs on the same cores)\n", "ingress / bare202", ratio
    else
        printf "%-34s %12.2f %32s  >= %.2f  %s\n", "ingress / bare202", ratio, "", ratio_target, mark(ratio >= ratio_target && i_rate > 0)
    if (i_bad > 0 || i_sockerr > 0)
        printf "  ingress: %d answers >= 400, %d socket errors/timeouts (not counted as accepted)\n", i_bad, i_sockerr
    printf "%-34s %12.0f   (%d of %d accepted; +%d during the load)\n", "delivered to the sink, during load", during, delivered, accepted, c1 - c0
    printf "%-34s %12s   (backlog of %d at load end, %.0f events/s)%s%s\n", "drain time after the load", sprintf("%.2f s", drain), backlog, drain_rate, complete ? "" : "  INCOMPLETE", k_on ? sprintf("  < 1 s  %s", mark(drain < 1 && complete)) : ""
    printf "%-34s %12.0f %32s  >= %d  %s\n", "end-to-end delivered events/s", e2e, "", deliv_target, mark(e2e >= deliv_target && complete)
    printf "  (end to end = events delivered / time from load start to the last delivery)\n"
    ingest_ok = o_on ? (a_ratio >= ratio_target && a_rate > 0) : (ratio >= ratio_target && i_rate > 0)
    exit ((ingest_ok && e2e >= deliv_target && complete) ? 0 : 3)
}' || { [ "$?" = 3 ] && [ "${BENCH_STRICT:-0}" != 1 ] || exit 3; }
if [ "$PROFILE" = 1 ]; then
    echo "profile of the end-to-end load (perf record -a; each process's share is the CPU line above)"
    echo "the gateway by thread and library, % of the gateway's samples:"
    cat "$WORK/e2e-perf-dso.txt"
    echo "the gateway by library and symbol, % of the gateway's samples:"
    cat "$WORK/e2e-perf-gw.txt"
    echo "the broker by library, % of the broker's samples (JIT: compiled Java):"
    cat "$WORK/e2e-perf-broker.txt"
fi
