#!/usr/bin/env bash
# `make test-kafka` (and the second half of `make test`): the end-to-end suite
# on a real Apache Kafka.
#
# With EG_TEST_BROKERS set, the suite runs against that cluster. Otherwise a
# one-node cluster of the project's (scripts/kafka.sh) is started for the run,
# with its data in $BUILD_DIR/kafka-test (made anew each run) on free ports,
# and stopped by its PID whatever happens. The tests that make real faults
# (stop, kill or pause a broker; a cluster of three) start clusters of their
# own through the same script (EG_TEST_KAFKA_SCRIPT).
#
# Every test runs on a topic prefix of its own (tests/e2e/egtest.py). At the
# end the skipped tests are counted, each with its reason.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${BUILD_DIR:-$ROOT/build}" && pwd)
JOBS=${TEST_JOBS:-2}
export EG_TEST_KAFKA_SCRIPT=$ROOT/scripts/kafka.sh

started=""
if [ -z "${EG_TEST_BROKERS:-}" ]; then
    # Six consecutive free ports: a broker and a controller port for up to three nodes.
    base=$(python3 "$ROOT/scripts/free-ports.py" --consecutive 6)
    export KAFKA_DIR=$BUILD/kafka-test KAFKA_PORT=$base KAFKA_NODES=1
    rm -rf "$KAFKA_DIR"
    stop_kafka() { bash "$ROOT/scripts/kafka.sh" stop; }
    trap stop_kafka EXIT
    t0=$(date +%s)
    out=$(bash "$ROOT/scripts/kafka.sh" start) || exit 1
    EG_TEST_BROKERS=$(echo "$out" | sed -n 's/^KAFKA_BROKERS=//p')
    export EG_TEST_BROKERS
    started=1
    echo "test-kafka: Apache Kafka $(sed -n 's/^KAFKA_VERSION=\([^ ]*\).*/\1/p' "$ROOT/scripts/kafka.sh")" \
        "on $EG_TEST_BROKERS (started in $(($(date +%s) - t0)) s; logs in $KAFKA_DIR)"
else
    echo "test-kafka: the cluster EG_TEST_BROKERS=$EG_TEST_BROKERS"
fi

t0=$(date +%s)
# shellcheck disable=SC2086 # CTEST_ARGS is a list of arguments
(cd "$BUILD" && ctest --output-on-failure -j "$JOBS" -L e2e ${CTEST_ARGS:-})
rc=$?
log=$BUILD/Testing/Temporary/LastTest.log
if [ -f "$log" ]; then
    # Tests of the embedded broker itself (its bound, its fault injection) ran in
    # the other half of make test; every other skip is a gap of this half.
    # (unittest quotes a reason with an apostrophe in double quotes)
    mock_only=$(grep -cE "\.\.\. skipped ['\"]embedded broker only" "$log" || true)
    skipped=$(grep -E "\.\.\. skipped " "$log" | grep -cvE "skipped ['\"]embedded broker only" || true)
    echo "test-kafka: $skipped test(s) skipped on the real Kafka; $mock_only of the embedded broker itself not run here"
    grep -E "\.\.\. skipped " "$log" | sed 's/^/  /' || true
fi
echo "test-kafka: ctest exited $rc after $(($(date +%s) - t0)) s${started:+ (a cluster started for the run)}"
exit $rc
