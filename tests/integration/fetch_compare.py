#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Fetches the same API paths from two crmpulse-boards and checks that the
answers are the same JSON (object members in any order: a board writes a
hash's fields in the order Redis returns them, which a copied hash need not
keep) once "now_ms" (when each was read) is left out.

usage: fetch_compare.py BASE_A BASE_B OUT_DIR PATH...

The answers are written to OUT_DIR/{a,b}-<n>.json. A board answer depends
on the wall clock's minute (the real-time panel), so a pair that differs is
fetched once more: a minute boundary cannot fall between both pairs' reads.
Exit 0 when every pair matched, 1 otherwise (the first difference printed).
"""
import json
import re
import sys
import time
import urllib.request

NOW = re.compile(rb'"now_ms":\s*\d+')


def fetch(url):
    deadline = time.time() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                body = NOW.sub(b'"now_ms":0', resp.read())
                return json.dumps(json.loads(body), sort_keys=True,
                                  indent=1).encode()
        except OSError as err:  # not listening yet, or 503 while connecting
            if time.time() > deadline:
                raise SystemExit(f"GET {url}: {err}")
            time.sleep(0.2)


def main():
    base_a, base_b, out_dir = sys.argv[1:4]
    for n, path in enumerate(sys.argv[4:]):
        for attempt in range(2):
            a = fetch(base_a + path)
            b = fetch(base_b + path)
            if a == b:
                break
        for side, body in (("a", a), ("b", b)):
            with open(f"{out_dir}/{side}-{n}.json", "wb") as f:
                f.write(body)
        if a != b:
            i = next(i for i in range(min(len(a), len(b))) if a[i] != b[i]) \
                if a[:min(len(a), len(b))] != b[:min(len(a), len(b))] \
                else min(len(a), len(b))
            print(f"{path}: answers differ at byte {i}:\n"
                  f"  A: {a[max(0, i - 80):i + 80]!r}\n"
                  f"  B: {b[max(0, i - 80):i + 80]!r}", file=sys.stderr)
            return 1
        print(f"{path}: {len(a)} bytes, the same")
    return 0


if __name__ == "__main__":
    sys.exit(main())
