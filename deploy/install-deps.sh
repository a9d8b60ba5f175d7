#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what crmpulse needs to build, run and test, from Debian packages.
# Safe to run again: it only installs what is missing.
set -euo pipefail

packages=(build-essential cmake pkg-config librdkafka-dev libavro-dev
          libhiredis-dev libcriterion-dev libmicrohttpd-dev libjansson-dev
          libcurl4-openssl-dev libssl-dev
          redis-server redis-tools python3 python3-avro python3-redis bc curl
          clang default-jre-headless)
# Tests only: a real Prometheus (promtool and server), headless Chromium for
# the wallboard's browser test. Set CRMPULSE_DEPS=runtime to skip them.
if [ "${CRMPULSE_DEPS:-all}" != runtime ]; then
  packages+=(prometheus chromium chromium-driver python3-selenium
             libjs-chart.js python3-confluent-kafka python3-hiredis)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
