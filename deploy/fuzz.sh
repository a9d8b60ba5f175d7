#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan) into
# build-fuzz (or $2) and runs each for ${CP_FUZZ_SECONDS:-60} seconds on a
# copy of its seed corpus (tests/fuzz/corpus/<target>; fuzz_codec also gets
# fresh seeds from fuzz_codec_seeds, so they follow the schemas).
#   deploy/fuzz.sh [TARGET...]       default: every target
# Fails if any target crashes, leaks, trips a sanitizer, allocates more than
# ${CP_FUZZ_MALLOC_MB:-256} MB at once or more than 2048 MB in all, or takes
# longer than 10 s on one input; the input that did it is printed (rerun it
# with: build-fuzz/<target> <file>). Executions per target are printed too.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${CP_FUZZ_SECONDS:-60}"
malloc_mb="${CP_FUZZ_MALLOC_MB:-256}"
dir="${CP_FUZZ_DIR:-build-fuzz}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_codec fuzz_schema_json fuzz_model fuzz_config fuzz_bridge_form fuzz_bridge_json)

CC=clang cmake -S . -B "$dir" -DCP_FUZZ=ON -DBUILD_TESTING=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$dir" -j"$(nproc)" --target "${targets[@]}" fuzz_codec_seeds >&2

failed=()
for t in "${targets[@]}"; do
    work="$dir/fuzz-work/$t"
    rm -rf "$work"
    mkdir -p "$work/corpus" "$work/artifacts"
    cp tests/fuzz/corpus/"$t"/* "$work/corpus/"
    if [ "$t" = fuzz_codec ]; then
        "$dir/fuzz_codec_seeds" "$work/corpus" >/dev/null
    fi
    echo "fuzz: $t for $seconds s" >&2
    rc=0
    "$dir/$t" -max_total_time="$seconds" -rss_limit_mb=2048 \
        -malloc_limit_mb="$malloc_mb" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/" "$work/corpus" \
        >"$work/log" 2>&1 || rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
    if [ "$rc" -ne 0 ] || [ -n "$(ls -A "$work/artifacts")" ]; then
        grep -E "ERROR|SUMMARY|==[0-9]+==|Test unit written|runtime error" "$work/log" | head -20 >&2 || true
        for a in "$work/artifacts"/*; do
            [ -e "$a" ] && echo "fuzz: $t FAILED (exit $rc) on input $PWD/$a" >&2
        done
        echo "fuzz: $t FAILED (exit $rc), log: $PWD/$work/log" >&2
        failed+=("$t")
    else
        echo "fuzz: $t ok: ${runs:-?} executions in $seconds s" >&2
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: failed: ${failed[*]}" >&2
    exit 1
fi
