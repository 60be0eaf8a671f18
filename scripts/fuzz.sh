#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan) in
# their own build directory and runs each for a bounded time on a copy of its
# seed corpus (tests/fuzz/corpus/<target>/; the repository is not modified).
# Exits non-zero, naming the crashing input, when any target finds a crash,
# a leak or undefined behaviour.
#
#   bash scripts/fuzz.sh                    every target, EG_FUZZ_SECONDS (30) each
#   bash scripts/fuzz.sh fuzz_pathtree      one target
#   EG_FUZZ_SECONDS=600 bash scripts/fuzz.sh
#
# Environment: EG_FUZZ_SECONDS, EG_FUZZ_BUILD_DIR (build-fuzz), EG_FUZZ_JOBS.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECONDS_EACH=${EG_FUZZ_SECONDS:-30}
BUILD=${EG_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
JOBS=${EG_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}

if ! command -v clang >/dev/null; then
    echo "fuzz.sh: clang is missing (bash scripts/install-deps.sh installs it)" >&2
    exit 2
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in "$ROOT"/tests/fuzz/fuzz_*.c; do
        targets+=("$(basename "$f" .c)")
    done
fi

if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    CC=clang cmake -S "$ROOT" -B "$BUILD" -DEG_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$BUILD" -j "$JOBS" --target "${targets[@]}" >/dev/null

work=$(mktemp -d /tmp/eg-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
failed=0
for t in "${targets[@]}"; do
    mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
    if [ -d "$ROOT/tests/fuzz/corpus/$t" ]; then
        cp -r "$ROOT/tests/fuzz/corpus/$t/." "$work/$t/corpus/"
    fi
    echo "fuzz.sh: $t for ${SECONDS_EACH}s"
    if ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$BUILD/fuzz/$t" "$work/$t/corpus" -max_total_time="$SECONDS_EACH" -max_len=8192 \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$work/$t/artifacts/" >"$work/$t/log" 2>&1; then
        failed=1
        echo "fuzz.sh: $t FAILED; last lines of its log:" >&2
        tail -40 "$work/$t/log" >&2
        for a in "$work/$t/artifacts"/*; do
            [ -e "$a" ] || continue
            mkdir -p "$ROOT/build-fuzz-crashes"
            cp "$a" "$ROOT/build-fuzz-crashes/"
            echo "fuzz.sh: crashing input kept in build-fuzz-crashes/$(basename "$a") (base64: $(base64 -w0 "$a" | head -c 400))" >&2
        done
    else
        grep -E "stat::number_of_executed_units|stat::new_units_added" "$work/$t/log" |
            tr '\n' ' ' | sed "s/^/fuzz.sh: $t ok: /"
        echo
    fi
done
exit $failed
