#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Turns a crmpulse-gen dump into the schema-registry test stream.

Registers, under <topic>-value of the test registry, the writer schemas a
real Avro shop would have: A = schemas/crm_event.avsc itself (its registry
id is not 1), B = an evolution (fields reordered, customer_id as bytes, a
new optional field "note", manager_id removed (the reader defaults it to
null), Channel with a new symbol FAX and an enum default, payload records
in another order, OrderPlaced with a new field "coupon"), C = an
incompatible one (occurred_at a string), D = crm_event.avsc without the
payload records MessageSent and TicketResolved, written by python3-avro
(the Apache Avro library, as a Python producer would). Then re-encodes
every event: records before --split all with A (part 1), the rest cycling
A, B, B, C, D (part 2; D's turn takes A for the two records D lacks), with
every 25th B message on channel FAX.

Writes, in crmpulse-gen's dump format (u8 flag, u32 key length + key, u32
value length + value): --kafka1/--kafka2, the messages to produce, and
--oracle, what the oracle must expect: each message that applies as the
reader sees it (schema id 1; B's messages without manager_id), each one
that must be dead-lettered (C, FAX) flagged 1. Prints a JSON summary.
"""
import argparse
import copy
import datetime
import json
import os
import struct
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402  (the dump reader and the reference decoder)

NULL_LEN = 0xFFFFFFFF


# ---- a small Avro binary encoder over parsed JSON schemas ----

def zigzag(n):
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        b = z & 0x7F
        z >>= 7
        if z:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def collect_names(schema, names):
    if isinstance(schema, list):
        for s in schema:
            collect_names(s, names)
    elif isinstance(schema, dict):
        t = schema["type"]
        if t in ("record", "enum"):
            names[schema["name"]] = schema
        if t == "record":
            for f in schema["fields"]:
                collect_names(f["type"], names)
        elif isinstance(t, (list, dict)):
            collect_names(t, names)


def resolve(schema, names):
    if isinstance(schema, str) and schema in names:
        return names[schema]
    if isinstance(schema, dict) and isinstance(schema["type"], str) and \
            schema["type"] not in ("record", "enum"):
        return schema["type"]  # {"type": "long", "logicalType": ...}
    if isinstance(schema, dict) and isinstance(schema["type"], (list, dict)):
        return resolve(schema["type"], names)
    return schema


def matches(schema, datum):
    if schema == "null":
        return datum is None
    if schema in ("string",):
        return isinstance(datum, str)
    if schema == "bytes":
        return isinstance(datum, (bytes, str))
    if schema in ("int", "long"):
        return isinstance(datum, int) and not isinstance(datum, bool)
    if schema == "boolean":
        return isinstance(datum, bool)
    if isinstance(schema, dict) and schema["type"] == "record":
        return isinstance(datum, dict) and datum.get("__name__") == \
            schema["name"]
    if isinstance(schema, dict) and schema["type"] == "enum":
        return isinstance(datum, str) and datum in schema["symbols"]
    return False


def encode(schema, datum, names):
    s = resolve(schema, names)
    if isinstance(s, list):
        branches = [resolve(b, names) for b in s]
        # Records and enums before plain strings: a symbol is not a string.
        order = sorted(range(len(branches)),
                       key=lambda i: 0 if isinstance(branches[i], dict)
                       else 1)
        for i in order:
            if matches(branches[i], datum):
                return zigzag(i) + encode(branches[i], datum, names)
        raise ValueError("no union branch for %r" % (datum,))
    if s == "null":
        return b""
    if s == "boolean":
        return b"\x01" if datum else b"\x00"
    if s in ("int", "long"):
        return zigzag(datum)
    if s in ("string", "bytes"):
        b = datum.encode() if isinstance(datum, str) else datum
        return zigzag(len(b)) + b
    if s["type"] == "enum":
        return zigzag(s["symbols"].index(datum))
    if s["type"] == "record":
        out = b""
        for f in s["fields"]:
            v = datum.get(f["name"], f.get("default"))
            out += encode(f["type"], v, names)
        return out
    raise ValueError("unsupported %r" % (s,))


def framed(sid, schema, datum):
    names = {}
    collect_names(schema, names)
    return b"\x00" + struct.pack(">I", sid) + encode(schema, datum, names)


# ---- the writer schemas ----

def writer_b(reader):
    fields = {f["name"]: copy.deepcopy(f) for f in reader["fields"]}
    chan = fields["channel"]
    enum = chan["type"][1]
    enum["symbols"].append("FAX")
    enum["default"] = "PHONE"
    payload = fields["payload"]
    payload["type"] = list(reversed(payload["type"]))
    for rec in payload["type"]:
        if rec["name"] == "OrderPlaced":
            rec["fields"].insert(0, {"name": "coupon", "type": "string",
                                     "default": ""})
    return {"type": "record", "name": "CrmEvent", "namespace": "crm.v1",
            "fields": [fields["tenant_id"],
                       {"name": "customer_id", "type": "bytes"},
                       {"name": "note", "type": ["null", "string"],
                        "default": None},
                       fields["event_id"], fields["occurred_at"], chan,
                       payload]}


def writer_c(reader):
    c = copy.deepcopy(reader)
    for f in c["fields"]:
        if f["name"] == "occurred_at":
            f["type"] = "string"
    return c


def writer_d(reader):
    d = copy.deepcopy(reader)
    for f in d["fields"]:
        if f["name"] == "payload":
            f["type"] = [r for r in f["type"]
                         if r["name"] not in D_LACKS]
    return d


# python3-avro picks a union's first branch whose schema validates the
# datum: records with the same fields (MessageSent, TicketResolved after
# their twins) would go to the wrong branch, so D leaves them out.
D_LACKS = ("MessageSent", "TicketResolved")


def avro_lib_framed(sid, schema_text, datum):
    import io
    import avro.io
    import avro.schema
    sch = avro.schema.parse(schema_text)
    buf = io.BytesIO()
    # The reference decoder's records carry their name; Avro's validator
    # refuses keys a record does not have.
    datum = dict(datum, payload={k: v for k, v in datum["payload"].items()
                                 if k != "__name__"})
    datum.pop("__name__", None)
    # timestamp-millis is a datetime to python3-avro.
    datum["occurred_at"] = datetime.datetime(
        1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(
            milliseconds=datum["occurred_at"])
    avro.io.DatumWriter(sch).write(datum, avro.io.BinaryEncoder(buf))
    return b"\x00" + struct.pack(">I", sid) + buf.getvalue()


def register(url, subject, schema_text):
    req = urllib.request.Request(
        "%s/subjects/%s/versions" % (url, subject),
        data=json.dumps({"schema": schema_text}).encode(),
        headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)["id"]


def write_rec(f, flag, key, value):
    f.write(bytes([flag]))
    for b in (key, value):
        if b is None:
            f.write(struct.pack(">I", NULL_LEN))
        else:
            f.write(struct.pack(">I", len(b)) + b)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--registry", required=True)
    ap.add_argument("--schema-dir", required=True)
    ap.add_argument("--topic", default="crm.events")
    ap.add_argument("--in", dest="inp", required=True)
    ap.add_argument("--split", type=int, required=True)
    ap.add_argument("--kafka1", required=True)
    ap.add_argument("--kafka2", required=True)
    ap.add_argument("--oracle", required=True)
    args = ap.parse_args()

    with open(os.path.join(args.schema_dir, "crm_event.avsc")) as f:
        reader_text = f.read()
    reader = json.loads(reader_text)
    b, c, d = writer_b(reader), writer_c(reader), writer_d(reader)
    d_text = json.dumps(d)
    subject = args.topic + "-value"
    ids = {"A": register(args.registry, subject, reader_text),
           "B": register(args.registry, subject, json.dumps(b)),
           "C": register(args.registry, subject, json.dumps(c)),
           "D": register(args.registry, subject, d_text)}
    decoder = oracle.load_event_decoder(args.schema_dir)
    counts = {"part1": 0, "part2": 0, "A": 0, "B": 0, "C": 0, "D": 0,
              "fax": 0}
    b_seen = 0
    with open(args.kafka1, "wb") as k1, open(args.kafka2, "wb") as k2, \
            open(args.oracle, "wb") as orc:
        for idx, (flag, key, value) in enumerate(oracle.read_dump(args.inp)):
            if flag != 0:
                raise SystemExit("the input dump must hold valid events only")
            ev = oracle.decode_value(decoder, value)
            kind = "A" if idx < args.split else "ABBCD"[idx % 5]
            if kind == "D" and ev["payload"]["__name__"] in D_LACKS:
                kind = "A"
            out = k1 if idx < args.split else k2
            counts["part1" if idx < args.split else "part2"] += 1
            counts[kind] += 1
            if kind == "A":
                write_rec(out, 0, key, framed(ids["A"], reader, ev))
                write_rec(orc, 0, key, value)
            elif kind == "D":
                write_rec(out, 0, key, avro_lib_framed(ids["D"], d_text, ev))
                write_rec(orc, 0, key, value)
            elif kind == "B":
                evb = dict(ev)
                evb["note"] = "n%d" % idx if idx % 2 else None
                if evb["payload"]["__name__"] == "OrderPlaced":
                    evb["payload"] = dict(evb["payload"], coupon="SPRING")
                b_seen += 1
                fax = b_seen % 25 == 0
                if fax:
                    evb["channel"] = "FAX"
                    counts["fax"] += 1
                write_rec(out, 0, key, framed(ids["B"], b, evb))
                if fax:
                    write_rec(orc, 1, key, value)
                else:
                    seen = dict(ev, manager_id=None)  # B lacks the field
                    write_rec(orc, 0, key, framed(1, reader, seen))
            else:
                evc = dict(ev, occurred_at=str(ev["occurred_at"]))
                write_rec(out, 0, key, framed(ids["C"], c, evc))
                write_rec(orc, 1, key, value)
    counts["ids"] = ids
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
