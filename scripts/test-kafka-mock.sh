#!/usr/bin/env bash
# `make test-kafka-mock`: the end-to-end suite's external-cluster path
# (`make test-kafka`, EG_TEST_BROKERS) against a stand-in, for machines
# without a Kafka: eg-fault-broker (librdkafka's mock cluster, a real
# Kafka-protocol broker) in a process of its own plays the external cluster.
#
# The mock answers no CreateTopics, so the gateways cannot create their topics
# there; its control port (--control-port) takes "topics PREFIX N", and the
# harness (EG_TEST_BROKER_CONTROL) creates each test prefix's topics through it
# before the first process of the prefix starts. The harness joins every
# process to the mock with --kafka-mock (the gateway never guesses it), so they
# tune their consumers as on the embedded broker.
#
# The broker is started here, stopped by its PID whatever happens, and its log
# kept in $BUILD_DIR/test-kafka-mock.log. Arguments go to `make test-kafka`
# (e.g. CTEST_ARGS="-R test_sync").
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${BUILD_DIR:-$ROOT/build}" && pwd)
BROKER_BIN=$BUILD/tests/eg-fault-broker
LOG=$BUILD/test-kafka-mock.log

if [ ! -x "$BROKER_BIN" ]; then
    echo "test-kafka-mock.sh: $BROKER_BIN is missing (make build)" >&2
    exit 2
fi

# No topics up front: a process that missed its test's prefix fails instead of
# using eg.*. Its standard input stays open (the coprocess's pipe): end of
# input would stop it.
coproc BROKER { exec "$BROKER_BIN" --no-topics --control-port 0 2>"$LOG"; }
broker_pid=$BROKER_PID
stop_broker() {
    kill "$broker_pid" 2>/dev/null
    wait "$broker_pid" 2>/dev/null
}
trap stop_broker EXIT

brokers="" control=""
for _ in 1 2; do
    if ! IFS=' ' read -r -t 10 what addr <&"${BROKER[0]}"; then
        echo "test-kafka-mock.sh: eg-fault-broker did not start within 10 s; see $LOG" >&2
        exit 1
    fi
    case "$what" in
    brokers) brokers=$addr ;;
    control) control=$addr ;;
    esac
done
if [ -z "$brokers" ] || [ -z "$control" ]; then
    echo "test-kafka-mock.sh: eg-fault-broker said neither brokers nor control; see $LOG" >&2
    exit 1
fi
echo "stand-in cluster: eg-fault-broker (pid $broker_pid) on $brokers, control port $control"

t0=$(date +%s)
EG_TEST_BROKERS=$brokers EG_TEST_BROKER_CONTROL=$control \
    make --no-print-directory -C "$ROOT" BUILD_DIR="$BUILD" test-kafka "$@"
rc=$?
echo "test-kafka-mock: make test-kafka exited $rc after $(($(date +%s) - t0)) s"
exit $rc
