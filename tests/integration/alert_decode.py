#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Decodes one framed crm.v1.Alert with python3-avro, an Avro implementation
independent of the codec's, and prints it as one JSON object (fields in the
schema's order, no whitespace).

    alert_decode.py [--raw] [--schema FILE] [--compare JSON_FILE] [FILE]

FILE (default: stdin) holds the message value: Confluent framing (0x00 and
the big-endian schema id, 4 = alert_v2.avsc or 2 = alert.avsc, see
schemas/registry.txt), or raw Avro of the current version with --raw. The bytes must be exactly one record: trailing bytes fail.

--compare JSON_FILE checks crmpulse's own JSON of the same alert against the
decoded record, field by field: the same keys in the same order, strings,
integers and nulls equal, doubles equal to 10 significant digits. It must
parse as strict JSON (UTF-8, no NaN/Infinity).

Exit status: 0 when the bytes decode (and compare equal), 1 otherwise with
the reason on stderr.
"""

import argparse
import datetime
import io
import json
import math
import os
import struct
import sys

import avro.io
import avro.schema

# Schema id -> file (schemas/registry.txt); the last is what crmpulse writes.
ALERT_SCHEMAS = {2: "alert.avsc", 4: "alert_v2.avsc"}
ALERT_SCHEMA_ID = 4
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def default_schema(schema_id=ALERT_SCHEMA_ID):
    here = os.path.dirname(os.path.abspath(__file__))
    folder = os.environ.get("CP_SCHEMA_DIR") or os.path.join(
        here, "..", "..", "schemas")
    return os.path.join(folder, ALERT_SCHEMAS[schema_id])


def schema_id_of(data, raw):
    """The writer's schema id of a message (raw: the current one)."""
    if raw or len(data) < 5:
        return ALERT_SCHEMA_ID
    (schema_id,) = struct.unpack(">I", data[1:5])
    return schema_id if schema_id in ALERT_SCHEMAS else ALERT_SCHEMA_ID


def unframe(data, raw):
    if raw:
        return data
    if len(data) < 5:
        raise ValueError("%d bytes, shorter than the 5-byte Confluent header"
                         % len(data))
    if data[0] != 0:
        raise ValueError("magic byte 0x%02x, expected 0x00" % data[0])
    (schema_id,) = struct.unpack(">I", data[1:5])
    if schema_id not in ALERT_SCHEMAS:
        raise ValueError("schema id %d, expected one of %s (Alert)"
                         % (schema_id, sorted(ALERT_SCHEMAS)))
    return data[5:]


def decode(schema, body):
    bio = io.BytesIO(body)
    datum = avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(bio))
    if bio.tell() != len(body):
        raise ValueError("%d trailing bytes after the record"
                         % (len(body) - bio.tell()))
    if not avro.io.validate(schema, datum):
        raise ValueError("decoded record does not validate")
    return datum


def ordered(schema, datum):
    """The record as a dict in the schema's field order (nested too), with
    timestamp-millis back as integer milliseconds, as crmpulse writes them."""
    if isinstance(datum, datetime.datetime):
        delta = datum - EPOCH
        return (delta.days * 86400000 + delta.seconds * 1000
                + delta.microseconds // 1000)
    if isinstance(schema, avro.schema.RecordSchema):
        return {f.name: ordered(f.type, datum[f.name]) for f in schema.fields}
    if isinstance(schema, avro.schema.ArraySchema):
        return [ordered(schema.items, x) for x in datum]
    if isinstance(schema, avro.schema.UnionSchema):
        for branch in schema.schemas:
            if avro.io.validate(branch, datum):
                return ordered(branch, datum)
    return datum


def no_constant(name):
    raise ValueError("not JSON: %s" % name)


def compare(path, want, got):
    """Returns a list of differences between want and got at path."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return ["%s: object expected, got %r" % (path, got)]
        if list(want) != list(got):
            return ["%s: keys %s, expected %s" % (path, list(got), list(want))]
        diffs = []
        for k in want:
            diffs += compare("%s.%s" % (path, k), want[k], got[k])
        return diffs
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return ["%s: %r, expected %r" % (path, got, want)]
        diffs = []
        for i, (w, g) in enumerate(zip(want, got)):
            diffs += compare("%s[%d]" % (path, i), w, g)
        return diffs
    if isinstance(want, float):
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            return ["%s: %r, expected the number %r" % (path, got, want)]
        if not math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-300):
            return ["%s: %r, expected %r" % (path, got, want)]
        return []
    if type(got) is not type(want) or got != want:
        return ["%s: %r, expected %r" % (path, got, want)]
    return []


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file", nargs="?", help="message value (default stdin)")
    ap.add_argument("--raw", action="store_true", help="no Confluent header")
    ap.add_argument("--schema", default=None, help="alert.avsc to use")
    ap.add_argument("--compare", metavar="JSON_FILE",
                    help="crmpulse's JSON of the same alert, to check")
    args = ap.parse_args()

    if args.file:
        with open(args.file, "rb") as f:
            data = f.read()
    else:
        data = sys.stdin.buffer.read()
    with open(args.schema or default_schema(schema_id_of(data, args.raw)),
              encoding="utf-8") as f:
        schema = avro.schema.parse(f.read())
    try:
        datum = ordered(schema, decode(schema, unframe(data, args.raw)))
        text = json.dumps(datum, ensure_ascii=False, separators=(",", ":"),
                          allow_nan=False)
    except Exception as e:  # any decoding failure is a verdict, not a crash
        print("alert_decode: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        return 1
    print(text)
    if args.compare:
        try:
            with open(args.compare, "rb") as f:
                ours = json.loads(f.read().decode("utf-8"),
                                  parse_constant=no_constant)
        except ValueError as e:
            print("alert_decode: %s: %s" % (args.compare, e), file=sys.stderr)
            return 1
        diffs = compare("$", datum, ours)
        for d in diffs:
            print("alert_decode: JSON differs: %s" % d, file=sys.stderr)
        if diffs:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
