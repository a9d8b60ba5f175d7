#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The whole test suite: installs dependencies, builds with ASan/UBSan and
# runs unit and integration tests (real redis-server, embedded Kafka), then
# builds Release and runs the tests and the benchmark's small mode, then
# compiles everything with clang.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh

asan=$(bash deploy/build.sh Asan)
# Leaks in our code fail the run; librdkafka/avro-c keep a few process-wide
# caches that are reported at exit of forked children, hence the suppressions.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
export LSAN_OPTIONS="suppressions=$PWD/deploy/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
(cd "$asan" && ctest -L 'unit|integration' --output-on-failure)

release=$(bash deploy/build.sh Release)
unset ASAN_OPTIONS LSAN_OPTIONS
(cd "$release" && ctest --output-on-failure)

# The whole tree must also compile warning-free with clang (-Werror is on
# by default); gcc's builds above run the tests, this one only compiles.
CC=clang bash deploy/build.sh Release build-clang >/dev/null
bash deploy/fuzz.sh   # libFuzzer targets, 60 s each (CP_FUZZ_SECONDS), ASan+UBSan
