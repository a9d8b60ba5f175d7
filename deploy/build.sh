#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Configures and builds one build type into build-<type> (default Release),
# or into the directory given second. The compiler is cmake's choice unless
# CC names one (read when a directory is first configured), e.g.
#   CC=clang bash deploy/build.sh Release build-clang
set -euo pipefail
cd "$(dirname "$0")/.."
type="${1:-Release}"
dir="${2:-build-$(echo "$type" | tr '[:upper:]' '[:lower:]')}"
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$type" >/dev/null
cmake --build "$dir" -j"$(nproc)" >&2
echo "$dir"
