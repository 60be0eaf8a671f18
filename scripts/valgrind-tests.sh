#!/usr/bin/env bash
# Runs the cmocka unit tests and the end-to-end suite under valgrind (memcheck)
# and fails when any report shows an invalid access, a use of uninitialised
# memory or definitely/indirectly lost bytes. Not part of `make test`: under
# valgrind the processes are several times slower and the suite takes long.
#
#   bash scripts/valgrind-tests.sh                   every unit test, then every e2e test file
#   bash scripts/valgrind-tests.sh test_sync         one test file (unit: test_map, e2e: test_sync)
#   bash scripts/valgrind-tests.sh --unit | --e2e    one tier
#
# Each test file runs alone (one after another): the e2e harness (tests/e2e/egtest.py)
# puts EG_TEST_WRAPPER in front of every process it starts, stretches its time
# bounds by EG_TEST_TIME_SCALE, and fails a test whose processes' valgrind reports
# (vg-<name>-<pid>.log) are not clean or that it had to SIGKILL (no leak summary).
# Everything is kept in $EG_VALGRIND_DIR (build/valgrind): <test>.out is the
# test's output, <test>/ the reports of its processes.
#
# Environment: BUILD_DIR (build), EG_VALGRIND_DIR, EG_TEST_TIME_SCALE (10),
# EG_VALGRIND_OPTS (extra valgrind options).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${BUILD_DIR:-$ROOT/build}" && pwd)
OUT=${EG_VALGRIND_DIR:-$BUILD/valgrind}
SCALE=${EG_TEST_TIME_SCALE:-10}

if ! command -v valgrind >/dev/null; then
    echo "valgrind-tests.sh: valgrind is missing (apt-get install valgrind)" >&2
    exit 2
fi
VG=(valgrind --leak-check=full --show-leak-kinds=definite,indirect
    --errors-for-leak-kinds=definite,indirect --track-fds=no --num-callers=30
    --suppressions="$ROOT/tests/valgrind.supp" ${EG_VALGRIND_OPTS:-})

tiers="unit e2e"
names=()
for a in "$@"; do
    case "$a" in
    --unit) tiers=unit ;;
    --e2e) tiers=e2e ;;
    *) names+=("$a") ;;
    esac
done
wanted() { # wanted NAME: no names given, or NAME among them
    [ ${#names[@]} -eq 0 ] && return 0
    local n
    for n in "${names[@]}"; do [ "$n" = "$1" ] && return 0; done
    return 1
}

mkdir -p "$OUT"
rm -rf "$OUT"/summary.txt "$OUT"/test_* # what an earlier run left
failed=()
record() { # record TEST EXIT-STATUS SECONDS DETAIL: one line of summary.txt
    local result=ok
    if [ "$2" -ne 0 ]; then
        result=FAIL
        failed+=("$1")
    fi
    printf '%-28s %-5s %5ss  %s\n' "$1" "$result" "$3" "$4" | tee -a "$OUT/summary.txt"
}

if [[ $tiers == *unit* ]]; then
    for t in "$BUILD"/tests/test_*; do
        name=$(basename "$t")
        wanted "$name" || continue
        t0=$(date +%s)
        "${VG[@]}" --error-exitcode=99 --log-file="$OUT/$name.vg.log" "$t" >"$OUT/$name.out" 2>&1
        rc=$?
        took=$(($(date +%s) - t0))
        leaks=$(grep -E "(definitely|indirectly) lost: [1-9]" "$OUT/$name.vg.log" | tr -s ' ' | cut -d' ' -f2- | paste -sd ';' -)
        errs=$(grep -o "ERROR SUMMARY: [0-9,]* errors" "$OUT/$name.vg.log")
        record "unit.$name" $rc "$took" "exit $rc; $errs ${leaks}"
    done
fi

if [[ $tiers == *e2e* ]]; then
    for f in "$ROOT"/tests/e2e/test_*.py; do
        name=$(basename "$f" .py)
        wanted "$name" || continue
        mkdir -p "$OUT/$name"
        t0=$(date +%s)
        (cd "$ROOT/tests/e2e" &&
            EG_BIN_DIR="$BUILD/bin" EG_TEST_TOOLS_DIR="$BUILD/tests" EG_TEST_TIME_SCALE="$SCALE" \
            EG_TEST_WRAPPER="${VG[*]}" EG_TEST_VALGRIND_DIR="$OUT/$name" \
            python3 -m unittest -v "$name") >"$OUT/$name.out" 2>&1
        rc=$?
        took=$(($(date +%s) - t0))
        nrep=$(find "$OUT/$name" -name 'vg-*.log' | wc -l)
        bad=$(grep -L -E "ERROR SUMMARY: 0 errors" "$OUT/$name"/vg-*.log 2>/dev/null | wc -l)
        leaky=$(grep -l -E "(definitely|indirectly) lost: [1-9]" "$OUT/$name"/vg-*.log 2>/dev/null | wc -l)
        result=$(grep -E "^(OK|FAILED)" "$OUT/$name.out" | tail -1)
        detail="$nrep processes; $bad without a clean error summary; $leaky leaking; ${result:-no unittest result}"
        record "e2e.$name" $rc "$took" "$detail"
    done
fi

echo "valgrind reports and test output: $OUT"
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed under valgrind: ${failed[*]}"
    exit 1
fi
