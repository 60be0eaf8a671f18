#!/usr/bin/env bash
# A real Apache Kafka on this machine, started by the project (make kafka).
#
#   scripts/kafka.sh [start]   start the cluster (idempotent), print KAFKA_BROKERS=...
#   scripts/kafka.sh stop      stop what this script started (by PID), keep the data
#   scripts/kafka.sh status    say which nodes run; exit 1 when one does not
#   scripts/kafka.sh brokers   print the bootstrap list (host:port,...)
#   scripts/kafka.sh start-node N | stop-node N | kill-node N
#                              one node of the cluster (the fault tests use these)
#   scripts/kafka.sh perf-produce ARGS...
#                              Kafka's own producer benchmark (ProducerPerformance,
#                              kafka-producer-perf-test) with ARGS, on the resolved jars
#                              (bench/run.sh --kafka takes its baseline with it)
#
# Apache Kafka's broker is published on Maven Central (org.apache.kafka:kafka_2.13);
# Maven resolves the pinned version and its dependencies once into a cache, and the
# broker runs as Kafka's own start script runs it: kafka.Kafka with those jars on the
# class path. Every node is a combined KRaft broker+controller on loopback; the data
# stays under KAFKA_DIR, so topics and the gateway's configuration survive a restart.
#
# Settings (environment):
#   KAFKA_NODES  1 (default) or 3
#   KAFKA_DIR    data, logs and PID files (default: <project>/.kafka, git-ignored)
#   KAFKA_PORT   first broker port (default 9092); node N listens on KAFKA_PORT+2(N-1)
#                for clients and the port after it for the controller quorum
#   KAFKA_HEAP   the JVM heap of each node (default 512m)
#   KAFKA_CACHE  where the jars go (default: ~/.cache/event-gateway/kafka-<version>)
#   KAFKA_WAIT   seconds to wait for the cluster to answer metadata (default 120)
set -Eeuo pipefail
trap 'echo "kafka.sh: line $LINENO failed (exit $?): $BASH_COMMAND" >&2' ERR

KAFKA_VERSION=4.4.0 # the same version docker-compose.yml runs
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NODES=${KAFKA_NODES:-1}
DIR=${KAFKA_DIR:-$ROOT/.kafka}
PORT=${KAFKA_PORT:-9092}
HEAP=${KAFKA_HEAP:-512m}
CACHE=${KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/event-gateway/kafka-$KAFKA_VERSION}
WAIT=${KAFKA_WAIT:-120}

die() {
    echo "kafka.sh: $*" >&2
    exit 1
}

case "$NODES" in 1 | 3) ;; *) die "KAFKA_NODES must be 1 or 3 (got $NODES)" ;; esac

broker_port() { echo $((PORT + 2 * ($1 - 1))); }
controller_port() { echo $((PORT + 2 * ($1 - 1) + 1)); }
node_dir() { echo "$DIR/node-$1"; }

brokers() {
    local list="" n
    for n in $(seq 1 "$NODES"); do list="${list:+$list,}127.0.0.1:$(broker_port "$n")"; done
    echo "$list"
}

# The jars: kafka_2.13 and its runtime dependencies, plus the log4j binding
# the distribution ships (without it the broker logs nothing).
resolve() {
    [ -f "$CACHE/.complete" ] && return 0
    command -v mvn >/dev/null && command -v java >/dev/null ||
        bash "$ROOT/scripts/install-deps.sh" --kafka
    mkdir -p "$CACHE"
    cat >"$CACHE/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>eventgateway.local</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>$KAFKA_VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>2.24.3</version></dependency>
  </dependencies>
</project>
EOF
    echo "kafka.sh: resolving Apache Kafka $KAFKA_VERSION from Maven Central into $CACHE (once)" >&2
    rm -rf "$CACHE/libs"
    if ! mvn -q -B -f "$CACHE/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
        -DoutputDirectory="$CACHE/libs" >"$CACHE/mvn.log" 2>&1; then
        tail -20 "$CACHE/mvn.log" >&2
        die "Maven could not resolve org.apache.kafka:kafka_2.13:$KAFKA_VERSION (log: $CACHE/mvn.log)"
    fi
    touch "$CACHE/.complete"
}

classpath() { echo "$CACHE/libs/*"; }

voters() {
    local list="" n
    for n in $(seq 1 "$NODES"); do list="${list:+$list,}$n@127.0.0.1:$(controller_port "$n")"; done
    echo "$list"
}

write_config() {
    local n=$1 d rf isr
    d=$(node_dir "$n")
    rf=$NODES
    isr=$((NODES > 1 ? 2 : 1))
    mkdir -p "$d"
    cat >"$d/server.properties" <<EOF
# Written by scripts/kafka.sh for node $n of $NODES; rewritten on every start.
process.roles=broker,controller
node.id=$n
listeners=PLAINTEXT://127.0.0.1:$(broker_port "$n"),CONTROLLER://127.0.0.1:$(controller_port "$n")
advertised.listeners=PLAINTEXT://127.0.0.1:$(broker_port "$n")
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
controller.quorum.voters=$(voters)
log.dirs=$d/data
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=8
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
# A consumer group forms as soon as its first member joins (the default waits 3 s).
group.initial.rebalance.delay.ms=0
# The log cleaner (the config topic is compacted) with a small buffer: a test machine's memory.
log.cleaner.dedupe.buffer.size=16777216
EOF
    cat >"$d/log4j2.properties" <<EOF
status = error
appender.file.type = File
appender.file.name = file
appender.file.fileName = $d/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = info
logger.state.name = state.change.logger
logger.state.level = warn
logger.request.name = kafka.request.logger
logger.request.level = warn
EOF
}

# The cluster's id, made once and kept with the data: every node is formatted with it.
cluster_id() {
    if [ ! -s "$DIR/cluster-id" ]; then
        mkdir -p "$DIR"
        # What kafka-storage random-uuid prints: a random UUID in URL-safe base64
        # without padding, never starting with '-'.
        python3 -c 'import base64, uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not s.startswith("-"):
        print(s)
        break' >"$DIR/cluster-id.tmp"
        [ -s "$DIR/cluster-id.tmp" ] || die "could not make a cluster id"
        mv "$DIR/cluster-id.tmp" "$DIR/cluster-id"
    fi
    cat "$DIR/cluster-id"
}

# The PID of node n if it runs (its PID file names a live java with our config).
node_pid() {
    local d pid
    d=$(node_dir "$1")
    [ -s "$d/pid" ] || return 1
    pid=$(cat "$d/pid")
    [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$d/server.properties" &&
        echo "$pid"
}

start_node() {
    local n=$1 d
    d=$(node_dir "$n")
    if node_pid "$n" >/dev/null; then return 0; fi
    # A port already taken by someone else would make the broker exit at once.
    if (exec 3<>"/dev/tcp/127.0.0.1/$(broker_port "$n")") 2>/dev/null; then
        die "port $(broker_port "$n") is in use by another process (set KAFKA_PORT)"
    fi
    write_config "$n"
    if [ ! -f "$d/data/meta.properties" ]; then
        java -cp "$(classpath)" kafka.tools.StorageTool format -t "$(cluster_id)" \
            -c "$d/server.properties" >"$d/format.log" 2>&1 ||
            { cat "$d/format.log" >&2; die "formatting node $n failed"; }
    fi
    # As kafka-server-start.sh: G1, a bounded heap, the broker's own log file.
    nohup java -Xms"$HEAP" -Xmx"$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$d/log4j2.properties" -Dkafka.logs.dir="$d" \
        -cp "$(classpath)" kafka.Kafka "$d/server.properties" \
        </dev/null >"$d/stdout.log" 2>&1 &
    local pid=$! i
    echo "$pid" >"$d/pid"
    # Until the background shell has exec'd java, its command line is this
    # script's: node_pid would take the node for dead.
    for i in $(seq 1 100); do
        node_pid "$n" >/dev/null || [ ! -d "/proc/$pid" ] && break
        sleep 0.1
    done
}

stop_node() {
    local n=$1 sig=${2:-TERM} pid i
    pid=$(node_pid "$n") || return 0
    kill -"$sig" "$pid" 2>/dev/null || true
    for i in $(seq 1 300); do
        [ -d "/proc/$pid" ] || break
        sleep 0.1
    done
    if [ -d "/proc/$pid" ]; then
        echo "kafka.sh: node $n (pid $pid) did not stop in 30 s: SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$(node_dir "$n")/pid"
}

# Waits until every node is a broker of the cluster's metadata.
wait_ready() {
    local deadline=$((SECONDS + WAIT)) n seen
    while :; do
        for n in $(seq 1 "$NODES"); do
            node_pid "$n" >/dev/null || {
                tail -30 "$(node_dir "$n")/server.log" "$(node_dir "$n")/stdout.log" >&2 2>/dev/null || true
                die "node $n exited (log: $(node_dir "$n")/server.log)"
            }
        done
        seen=$(kcat -b "$(brokers)" -L -m 5 2>/dev/null | sed -n 's/^ \([0-9]*\) brokers:$/\1/p' || true)
        [ "${seen:-0}" -ge "$NODES" ] && return 0
        [ $SECONDS -ge $deadline ] && die "the cluster did not answer metadata within $WAIT s (logs: $DIR/node-*/server.log)"
        sleep 0.5
    done
}

need_kcat() { command -v kcat >/dev/null || bash "$ROOT/scripts/install-deps.sh"; }

cmd=${1:-start}
case "$cmd" in
start)
    need_kcat
    resolve
    # A cluster once made with another size cannot be reused: its quorum differs.
    if [ -s "$DIR/nodes" ] && [ "$(cat "$DIR/nodes")" != "$NODES" ]; then
        die "$DIR holds a cluster of $(cat "$DIR/nodes") node(s), not $NODES: use another KAFKA_DIR or remove it"
    fi
    mkdir -p "$DIR"
    echo "$NODES" >"$DIR/nodes"
    for n in $(seq 1 "$NODES"); do start_node "$n"; done
    wait_ready
    echo "KAFKA_BROKERS=$(brokers)"
    ;;
stop)
    for n in $(seq 1 "$NODES"); do stop_node "$n"; done
    ;;
status)
    rc=0
    for n in $(seq 1 "$NODES"); do
        if pid=$(node_pid "$n"); then
            echo "node $n: running (pid $pid) on 127.0.0.1:$(broker_port "$n")"
        else
            echo "node $n: stopped"
            rc=1
        fi
    done
    exit $rc
    ;;
brokers) brokers ;;
start-node)
    resolve
    start_node "${2:?node number}"
    ;;
stop-node) stop_node "${2:?node number}" TERM ;;
kill-node) stop_node "${2:?node number}" KILL ;;
perf-produce)
    resolve
    shift
    # warnings only, to stderr: the benchmark's own lines go to stdout
    [ -f "$CACHE/perf-log4j2.properties" ] || printf '%s\n' \
        'appender.err.type = Console' 'appender.err.name = ERR' 'appender.err.target = SYSTEM_ERR' \
        'appender.err.layout.type = PatternLayout' 'appender.err.layout.pattern = %p %m%n' \
        'rootLogger.level = WARN' 'rootLogger.appenderRef.err.ref = ERR' \
        >"$CACHE/perf-log4j2.properties"
    exec java -Xmx256m -cp "$(classpath)" -Dlog4j2.configurationFile="$CACHE/perf-log4j2.properties" \
        org.apache.kafka.tools.ProducerPerformance "$@"
    ;;
*) die "unknown command $cmd (start, stop, status, brokers, start-node N, stop-node N, kill-node N, perf-produce ARGS)" ;;
esac
