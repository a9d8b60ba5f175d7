#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Configures and builds one build type into build-<type> (default Release).
set -euo pipefail
cd "$(dirname "$0")/.."
type="${1:-Release}"
dir="build-$(echo "$type" | tr '[:upper:]' '[:lower:]')"
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$type" >/dev/null
cmake --build "$dir" -j"$(nproc)" >&2
echo "$dir"
