#!/usr/bin/env bash
# bench/sync.sh: sync round-trip latency through the gateway, next to calling
# the function directly, in one run (see bench/README.md).
#
#   bench/sync.sh [--mock | --kafka]
#
# --mock (the default): the gateway on the embedded broker (--dev); --kafka:
# on the project's Apache Kafka (one node on this machine, started for the
# run), with issue 18's targets (c=1 p50/p99 <= 2/5 ms, c=64 <= 5/15 ms).
#
#   1. builds (make build), starts a sync function (bench-sink, POST /sync
#      answers {"statusCode":200,"body":"ok"}) and the gateway (--dev);
#   2. registers the event type http.request, an http function pointing at it and a sync subscription on
#      http.request, path /bench, method POST; waits until one request comes
#      back 200 "ok" through the gateway (BENCH_READY_S, retrying on 504);
#   3. warm-up, then the gateway's idle CPU over BENCH_IDLE_S with no traffic
#      (utime+stime from /proc/PID/stat, % of one core), split by kind of
#      thread (schedstat); with BENCH_PROFILE=1 then perf record over as
#      long again, its top symbols printed;
#   4. for each concurrency (1 and 64): the same wrk load (bench/sync.lua)
#      against the function, then against the gateway; prints p50/p99 of
#      both, the overhead (gateway - direct) and PASS/FAIL against targets.
#
# Settings (environment):
#   BENCH_CONCURRENCY ("1 64") BENCH_DURATION (10s, wrk syntax)
#   BENCH_TIMEOUT (wrk --timeout, 5s) BENCH_IDLE_S (10) BENCH_READY_S (60)
#   BENCH_GW_ARGS (none: extra event-gateway flags, e.g. "--sync-fetch-wait-ms 2")
#   BENCH_P50_TARGET_MS (4) BENCH_P99_TARGET_MS (10) BENCH_IDLE_CPU_TARGET (10, %)
#   (with --kafka, targets per concurrency: c=1 2 and 5 ms, c=64 5 and 15 ms, idle 1 %)
#   BENCH_PROFILE (0; 1: perf profile of the idle gateway, as step 3 says)
#   BENCH_SKIP_BUILD (0) BENCH_KEEP_LOGS (0) BUILD_DIR (build; relative to the
#   repository or absolute) BENCH_STRICT (0; 1: exit 3 when a target is missed)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_mode sync.sh "$@"
CONCURRENCY=${BENCH_CONCURRENCY:-1 64}
DURATION=${BENCH_DURATION:-10s}
WRK_TIMEOUT=${BENCH_TIMEOUT:-5s}
IDLE_S=${BENCH_IDLE_S:-10}
PROFILE=${BENCH_PROFILE:-0}
READY_S=${BENCH_READY_S:-60}
P50_TARGET=${BENCH_P50_TARGET_MS:-4}
P99_TARGET=${BENCH_P99_TARGET_MS:-10}
IDLE_TARGET=${BENCH_IDLE_CPU_TARGET:-$([ "$KAFKA" = 1 ] && echo 1 || echo 10)}
SPACE=default
PATH_=/bench

bench_init bench-sync # log, die, $WORK, PIDS stopped on exit
bench_build event-gateway bench-sink

read -r P_CONFIG P_EVENTS P_SINK < <(python3 "$ROOT/scripts/free-ports.py" 3)

FN_URL=http://127.0.0.1:$P_SINK/sync
GW_URL=http://127.0.0.1:$P_EVENTS$PATH_

"$BIN/bench-sink" "$P_SINK" >"$WORK/sink.out" 2>"$WORK/sink.log" &
SINK_PID=$!
PIDS+=("$SINK_PID")
log "machine: $(bench_machine)"
bench_broker "sync$$."
# shellcheck disable=SC2086
"$BIN/event-gateway" "${GW_MODE[@]}" --listen 127.0.0.1 --config-port "$P_CONFIG" \
    --events-port "$P_EVENTS" --log-level warn ${BENCH_GW_ARGS:-} >"$WORK/gateway.log" 2>&1 &
GW_PID=$!
PIDS+=("$GW_PID")

wait_http "http://127.0.0.1:$P_SINK/count" 10 || die "the function (bench-sink) did not start"
wait_http "http://127.0.0.1:$P_CONFIG/v1/status" 60 ||
    { tail -20 "$WORK/gateway.log" >&2; die "the gateway's /v1/status never answered 200"; }
log "gateway pid $GW_PID (${BENCH_GW_ARGS:-default settings}): config :$P_CONFIG, events :$P_EVENTS; function $FN_URL"

config_post eventtypes '{"name":"http.request"}' # subscriptions need it registered
config_post functions "{\"functionId\":\"bench-syncfn\",\"type\":\"http\",\"provider\":{\"url\":\"$FN_URL\"}}"
config_post subscriptions "{\"type\":\"sync\",\"eventType\":\"http.request\",\"functionId\":\"bench-syncfn\",\"path\":\"$PATH_\",\"method\":\"POST\"}"

call() { # URL -> "CODE BODY"
    curl -s -o "$WORK/call.out" -m 15 -w '%{http_code}' -XPOST -H 'Content-Type: application/json' \
        "$1" -d '{"bench":"sync"}' || true
}
code=$(call "$FN_URL")
[ "$code" = 200 ] && [ "$(cat "$WORK/call.out")" = '{"statusCode":200,"body":"ok"}' ] ||
    die "the function answered $code: $(cat "$WORK/call.out")"

# ---- ready: one sync request answered 200 "ok" through the gateway ----
deadline=$(($(date +%s) + READY_S))
while :; do
    code=$(call "$GW_URL")
    [ "$code" = 200 ] && [ "$(cat "$WORK/call.out")" = ok ] && break
    [ "$(date +%s)" -ge "$deadline" ] &&
        { tail -20 "$WORK/gateway.log" >&2; die "no sync answer through the gateway in ${READY_S}s (last: $code $(head -c 200 "$WORK/call.out"))"; }
    sleep 0.5
done
log "sync path works ($GW_URL answered 200 \"ok\")"

run_wrk() { # NAME URL CONNS DURATION
    local t=$(($3 < 2 ? $3 : 2)) secs
    secs=$(awk -v d="$4" 'BEGIN{n=d+0; if(d~/m$/)n*=60; if(d~/h$/)n*=3600; print int(n)+60}')
    timeout "$secs" wrk -t"$t" -c"$3" -d"$4" --timeout "$WRK_TIMEOUT" --latency \
        -s "$ROOT/bench/sync.lua" "$2" >"$WORK/wrk-$1.txt" 2>&1 ||
        { cat "$WORK/wrk-$1.txt" >&2; die "wrk failed against $1"; }
}
field() { sed -n "s/.*[[:space:]]$2=\([0-9.]*\).*/\1/p" "$WORK/wrk-$1.txt"; }

# ---- warm-up, then idle CPU ----
log "warm-up: 3 s at c=8 through the gateway"
run_wrk warmup "$GW_URL" 8 3s
sleep 1
HZ=$(getconf CLK_TCK)
log "idle CPU: ${IDLE_S} s with no traffic"
thread_ns "$GW_PID" >"$WORK/idle-threads-0.txt"
k0=$(ticks "$GW_PID"); w0=$(date +%s%N)
sleep "$IDLE_S"
k1=$(ticks "$GW_PID"); w1=$(date +%s%N)
thread_ns "$GW_PID" >"$WORK/idle-threads-1.txt"
IDLE_CPU=$(awk -v k="$((k1 - k0))" -v hz="$HZ" -v ns="$((w1 - w0))" 'BEGIN{printf "%.1f", 100 * k / hz / (ns / 1e9)}')
# where the idle time goes, by kind of thread (each librdkafka client has one rdk:main)
thread_split "$WORK/idle-threads-0.txt" "$WORK/idle-threads-1.txt" $((w1 - w0)) >"$WORK/idle-split.txt"
if [ "$PROFILE" = 1 ]; then
    log "idle profile: perf record for ${IDLE_S} s with no traffic"
    # (-F: at perf's default rate, or with -g, this machine's perf samples nothing)
    if perf record -q -F 999 -p "$GW_PID" -o "$WORK/idle.perf" -- sleep "$IDLE_S" >/dev/null 2>&1; then
        perf report -i "$WORK/idle.perf" --no-children --sort comm,dso,sym --stdio \
            >"$WORK/idle-perf-report.txt" 2>/dev/null || true
        grep -E '^ +[0-9.]+%' "$WORK/idle-perf-report.txt" | head -15 >"$WORK/idle-perf.txt" || true
    else
        echo "(perf record failed: see perf_event_paranoid)" >"$WORK/idle-perf.txt"
    fi
fi
# the first request after the quiet time: idle consumers doze (docs/operations.md: Consumer tuning per role)
FIRST_MS=$(curl -s -o /dev/null -m 15 -w '%{time_total}' -XPOST -H 'Content-Type: application/json' \
    "$GW_URL" -d '{"bench":"sync"}' | awk '{printf "%.1f", $1 * 1000}')

# ---- load ----
for c in $CONCURRENCY; do
    log "c=$c: wrk -c$c -d$DURATION against the function, then the gateway"
    run_wrk "direct-$c" "$FN_URL" "$c" "$DURATION"
    # where the CPU goes during the gateway's run: the limit when a target is missed
    g0=$(ticks "$GW_PID"); b0=$(ticks "${KAFKA_PID:-0}"); s0=$(ticks "$SINK_PID")
    read -r m0 mt0 < <(machine_ticks); w0=$(date +%s%N)
    run_wrk "gateway-$c" "$GW_URL" "$c" "$DURATION"
    g1=$(ticks "$GW_PID"); b1=$(ticks "${KAFKA_PID:-0}"); s1=$(ticks "$SINK_PID")
    read -r m1 mt1 < <(machine_ticks); w1=$(date +%s%N)
    echo "$c $(cpu_share "$g0" "$g1" $((w1 - w0))) $(cpu_share "$b0" "$b1" $((w1 - w0)))" \
        "$(cpu_share "$s0" "$s1" $((w1 - w0)))" \
        "$(awk -v m=$((m1 - m0)) -v mt=$((mt1 - mt0)) -v n="$(nproc)" 'BEGIN { printf "%.0f", (mt > 0 ? 100 * n * m / mt : 0) }')" \
        >>"$WORK/cpu.txt"
done

# ---- summary ----
{
    for c in $CONCURRENCY; do
        for s in direct gateway; do
            n="$s-$c"
            printf '%s %s %s %s %s %s %s %s\n' "$c" "$s" "$(field "$n" requests)" \
                "$(field "$n" duration_us)" "$(field "$n" non2xx)" \
                "$(( $(field "$n" connect) + $(field "$n" read) + $(field "$n" write) + $(field "$n" timeout) ))" \
                "$(field "$n" p50_us)" "$(field "$n" p99_us)"
        done
    done
} >"$WORK/results.txt"

LC_ALL=C awk -v p50t="$P50_TARGET" -v p99t="$P99_TARGET" -v idle="$IDLE_CPU" -v idlet="$IDLE_TARGET" -v first="$FIRST_MS" \
    -v kafka="$KAFKA" -v machine="$(bench_machine)" -v ncores="$(nproc)" \
    -v broker="$([ "$KAFKA" = 1 ] && echo "Apache Kafka, one node on this machine" || echo "embedded broker (--dev)")" \
    -v split_file="$WORK/idle-split.txt" -v idle_s="$IDLE_S" -v cfg="-d$DURATION, $(nproc) CPUs, gateway args: ${BENCH_GW_ARGS:-none}" '
function ms(us) { return sprintf("%.2f", us / 1000) }
function mark(ok) { return ok ? "PASS" : "FAIL" }
FILENAME ~ /cpu/ { ncpu_rows++; cc[ncpu_rows] = $1; cg[ncpu_rows] = $2; cb[ncpu_rows] = kafka ? $3 : "(in the gateway)"; cs[ncpu_rows] = $4; cm[ncpu_rows] = $5; next }
{ c = $1; s = $2; req[c, s] = $3; dur[c, s] = $4; bad[c, s] = $5; err[c, s] = $6
  p50[c, s] = $7; p99[c, s] = $8; if (!(c in seen)) { seen[c] = 1; order[++nc] = c } }
END {
    fail = 0
    printf "\n==== Event Gateway sync round trip (%s) ====\n", cfg
    printf "  %s; %s\n", broker, machine
    printf "%-6s %25s %25s %17s\n", "", "direct (the function)", "gateway (sync sub.)", "overhead"
    printf "%-6s %8s %8s %8s %8s %8s %8s %8s %8s  %s\n", "", "p50 ms", "p99 ms", "req/s", "p50 ms", "p99 ms", "req/s", "p50 ms", "p99 ms", "target: overhead p50, p99"
    for (i = 1; i <= nc; i++) {
        c = order[i]
        if (kafka) { p50t = (c == 1) ? 2 : 5; p99t = (c == 1) ? 5 : 15 }
        dr = dur[c, "direct"] > 0 ? req[c, "direct"] / (dur[c, "direct"] / 1e6) : 0
        gr = dur[c, "gateway"] > 0 ? req[c, "gateway"] / (dur[c, "gateway"] / 1e6) : 0
        o50 = (p50[c, "gateway"] - p50[c, "direct"]) / 1000
        o99 = (p99[c, "gateway"] - p99[c, "direct"]) / 1000
        ok = o50 <= p50t && o99 <= p99t && bad[c, "gateway"] == 0 && err[c, "gateway"] == 0 && req[c, "gateway"] > 0
        if (!ok) fail = 1
        printf "%-6s %8s %8s %8.0f %8s %8s %8.0f %8.2f %8.2f  %s\n", "c=" c,
            ms(p50[c, "direct"]), ms(p99[c, "direct"]), dr,
            ms(p50[c, "gateway"]), ms(p99[c, "gateway"]), gr, o50, o99,
            "<= " p50t ", " p99t " ms  " mark(ok)
        if (bad[c, "gateway"] > 0 || err[c, "gateway"] > 0 || bad[c, "direct"] > 0 || err[c, "direct"] > 0)
            printf "  c=%s: gateway %d answers >= 400, %d socket errors/timeouts; direct %d, %d\n", c,
                bad[c, "gateway"], err[c, "gateway"], bad[c, "direct"], err[c, "direct"]
    }
    ok = idle < idlet
    if (!ok) fail = 1
    printf "%-80s target < %d %%  %s\n", sprintf("gateway idle CPU, %d s without traffic: %.1f %% of one core", idle_s, idle), idlet, mark(ok)
    printf "first request after the idle time: %s ms\n", first
    printf "idle CPU by thread, %% of one core (threads):"
    while ((getline l < split_file) > 0) { split(l, f, " "); printf " %s %s (%s)", f[1], f[2], f[3] }
    printf "\n"
    for (i = 1; i <= ncpu_rows; i++)
        printf "CPU while the gateway ran at c=%s, %% of one core: gateway %s, broker %s, function %s; machine %s of %d00\n", cc[i], cg[i], cb[i], cs[i], cm[i], ncores
    exit fail ? 3 : 0
}' "$WORK/cpu.txt" "$WORK/results.txt" || { [ "$?" = 3 ] && [ "${BENCH_STRICT:-0}" != 1 ] || exit 3; }
if [ -s "$WORK/idle-perf.txt" ]; then
    echo "idle profile (perf, self time; thread, library, symbol):"
    cat "$WORK/idle-perf.txt"
fi
