#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Reference model of the Redis counter contract, used to check a worker's Redis contents.

Reads event dump files (as written by the event generator), computes the Redis keys the
design's counter definitions imply, and optionally compares them exactly with a Redis
instance.

Dump record: u8 flag (0 valid, 1 deliberately invalid), u32 BE key length
(0xFFFFFFFF = null) + key, u32 BE value length (0xFFFFFFFF = null) + value.

Exit codes: 0 no mismatches, 1 mismatches, 2 usage / environment error (missing file,
Redis unreachable), 3 bad test data (a record flagged valid that does not decode or
violates the input rules, or an ordering that the data does not determine).
"""

import argparse
import json
import re
import struct
import sys
import time

NULL_LEN = 0xFFFFFFFF
SCHEMA_ID_EVENT = 1

RT_BOUNDS = (15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400)
RT_FIELDS = tuple("b%d" % b for b in RT_BOUNDS) + ("binf",)

COUNTER_FIELDS = (
    "events leads web_visits deals_won deals_lost won_amount_minor deal_cycle_ms_sum "
    "deal_cycle_count orders first_orders repeat_orders order_amount_minor messages_in "
    "messages_out responses response_ms_sum calls calls_inbound calls_missed call_ms_sum "
    "tickets_opened tickets_resolved resolution_ms_sum nps_promoters nps_passives "
    "nps_detractors csat_count csat_sum csat_satisfied ces_count ces_sum subs_started "
    "subs_renewed subs_cancelled mrr_cancelled_minor churn_alerts sla_breaches").split()
SOURCE_FIELDS = ("leads", "deals_won", "deals_lost", "won_amount_minor")

MINUTE_RETENTION_MS = 48 * 3600 * 1000  # minute.retention default
MIN_OCCURRED_AT = 946684800000  # 2000-01-01T00:00:00Z
FUTURE_SLACK_MS = 24 * 3600 * 1000


class DataError(Exception):
    """The test data itself is broken (exit 3)."""


class DecodeError(Exception):
    pass


# ---------------------------------------------------------------------------
# Avro binary decoder, compiled from the .avsc (only the types this schema uses).
# Records decode to dicts carrying their short name under "__name__", so the branch
# taken in a union is always known.
# ---------------------------------------------------------------------------

def _read_varint(buf, pos, limit_bits):
    try:
        b = buf[pos]
    except IndexError:
        raise DecodeError("truncated varint")
    if b < 0x80:  # fast path: one byte
        return (b >> 1) ^ -(b & 1), pos + 1
    try:
        pos += 1
        n = b & 0x7F
        shift = 7
        while b & 0x80:
            b = buf[pos]
            pos += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if shift > limit_bits + 7:
                raise DecodeError("varint too long")
    except IndexError:
        raise DecodeError("truncated varint")
    if n >> limit_bits:
        raise DecodeError("varint out of range")
    return (n >> 1) ^ -(n & 1), pos


def _dec_null(buf, pos):
    return None, pos


def _dec_boolean(buf, pos):
    if pos >= len(buf):
        raise DecodeError("truncated boolean")
    b = buf[pos]
    if b > 1:
        raise DecodeError("boolean byte %d" % b)
    return b == 1, pos + 1


def _dec_int(buf, pos):
    return _read_varint(buf, pos, 32)


def _dec_long(buf, pos):
    return _read_varint(buf, pos, 64)


def _dec_string(buf, pos):
    n, pos = _read_varint(buf, pos, 64)
    end = pos + n
    if n < 0 or end > len(buf):
        raise DecodeError("bad string length %d" % n)
    try:
        s = str(buf[pos:end], "utf-8")
    except UnicodeDecodeError:
        raise DecodeError("string is not UTF-8")
    return s, pos + n


_PRIMITIVES = {
    "null": _dec_null,
    "boolean": _dec_boolean,
    "int": _dec_int,
    "long": _dec_long,
    "string": _dec_string,
}


def _full_name(name, namespace):
    if "." in name or not namespace:
        return name
    return namespace + "." + name


def compile_schema(schema, names=None, namespace=None):
    """Return decode(buf, pos) -> (value, pos) for the given parsed JSON schema."""
    if names is None:
        names = {}
    if isinstance(schema, str):
        if schema in _PRIMITIVES:
            return _PRIMITIVES[schema]
        full = _full_name(schema, namespace)
        if full in names:
            return names[full]
        if schema in names:
            return names[schema]
        raise ValueError("unknown type %r" % schema)
    if isinstance(schema, list):
        branches = [compile_schema(s, names, namespace) for s in schema]
        nb = len(branches)

        def dec_union(buf, pos):
            i, pos = _read_varint(buf, pos, 64)
            if i < 0 or i >= nb:
                raise DecodeError("union index %d" % i)
            return branches[i](buf, pos)
        return dec_union
    t = schema["type"]
    if isinstance(t, (list, dict)) or t in _PRIMITIVES:
        if t in _PRIMITIVES:
            return _PRIMITIVES[t]  # logicalType annotations decode as the base type
        return compile_schema(t, names, namespace)
    ns = schema.get("namespace", namespace)
    if t == "record":
        full = _full_name(schema["name"], ns)
        short = full.rsplit(".", 1)[-1]
        fields = []

        def dec_record(buf, pos):
            out = {"__name__": short}
            for fname, fdec in fields:
                out[fname], pos = fdec(buf, pos)
            return out, pos
        names[full] = dec_record
        rec_ns = full.rsplit(".", 1)[0] if "." in full else None
        for f in schema["fields"]:
            fields.append((f["name"], compile_schema(f["type"], names, rec_ns)))
        return dec_record
    if t == "enum":
        full = _full_name(schema["name"], ns)
        symbols = tuple(schema["symbols"])
        ns_ = len(symbols)

        def dec_enum(buf, pos):
            i, pos = _read_varint(buf, pos, 32)
            if i < 0 or i >= ns_:
                raise DecodeError("enum index %d" % i)
            return symbols[i], pos
        names[full] = dec_enum
        return dec_enum
    raise ValueError("unsupported schema type %r" % t)


def load_event_decoder(schema_dir):
    path = schema_dir.rstrip("/") + "/crm_event.avsc"
    with open(path, "r", encoding="utf-8") as f:
        schema = json.load(f)
    return compile_schema(schema)


# ---------------------------------------------------------------------------
# Input rules (a record flagged valid must pass them, else the test data is wrong).
# ---------------------------------------------------------------------------

_NAME_RE = re.compile(r"[A-Za-z0-9._-]{1,64}\Z")
_STAGE_RE = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")
_CTRL_RE = re.compile("[\x00-\x1f\x7f-\x9f]")

_ID_FIELDS = {
    "LeadCreated": ("deal_id",),
    "StageChanged": ("deal_id",),
    "DealClosed": ("deal_id",),
    "OrderPlaced": ("order_id",),
    "MessageReceived": ("conversation_id",),
    "MessageSent": ("conversation_id",),
    "CallLogged": ("call_id",),
    "TicketOpened": ("ticket_id",),
    "TicketResolved": ("ticket_id",),
    "SurveyAnswered": (),
    "SubscriptionChanged": ("subscription_id",),
    "WebVisit": ("session_id",),
}
_SURVEY_RANGE = {"NPS": (0, 10), "CSAT": (1, 5), "CES": (1, 7)}


def _check_id(what, s):
    n = len(s.encode("utf-8"))
    if n < 1 or n > 128:
        return "%s length %d" % (what, n)
    if _CTRL_RE.search(s):
        return "%s has control characters" % what
    return None


def validate_event(ev, now_ms):
    """Return None when the event satisfies the input contract, else a reason."""
    r = _check_id("event_id", ev["event_id"])
    if r:
        return r
    for f in ("tenant_id", "customer_id"):
        if not _NAME_RE.match(ev[f]):
            return "bad %s %r" % (f, ev[f])
    if ev["manager_id"] is not None and not _NAME_RE.match(ev["manager_id"]):
        return "bad manager_id %r" % ev["manager_id"]
    t = ev["occurred_at"]
    if t < MIN_OCCURRED_AT:
        return "occurred_at before 2000"
    if t > now_ms + FUTURE_SLACK_MS:
        return "occurred_at more than 24 h in the future"
    p = ev["payload"]
    name = p["__name__"]
    for f in _ID_FIELDS[name]:
        r = _check_id(f, p[f])
        if r:
            return r
    if name == "LeadCreated" and not _STAGE_RE.match(p["source"]):
        return "bad source %r" % p["source"]
    if name == "StageChanged":
        if not _STAGE_RE.match(p["stage"]):
            return "bad stage %r" % p["stage"]
        if not 0 <= p["stage_order"] <= 63:
            return "stage_order %d" % p["stage_order"]
    for f in ("amount_minor", "mrr_minor", "duration_ms"):
        if f in p and p[f] < 0:
            return "negative %s" % f
    if name == "SurveyAnswered":
        lo, hi = _SURVEY_RANGE[p["kind"]]
        if not lo <= p["score"] <= hi:
            return "%s score %d" % (p["kind"], p["score"])
    return None


# ---------------------------------------------------------------------------
# Dump reading
# ---------------------------------------------------------------------------

def read_dump(path):
    """Yield (flag, key, value) for each record; key/value are bytes or None."""
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    n = len(data)
    idx = 0
    while pos < n:
        if pos + 5 > n:
            raise DataError("%s: truncated record %d" % (path, idx))
        flag = data[pos]
        if flag not in (0, 1):
            raise DataError("%s: record %d has flag %d" % (path, idx, flag))
        (klen,) = struct.unpack_from(">I", data, pos + 1)
        pos += 5
        key = None
        if klen != NULL_LEN:
            if pos + klen > n:
                raise DataError("%s: truncated key in record %d" % (path, idx))
            key = data[pos:pos + klen]
            pos += klen
        if pos + 4 > n:
            raise DataError("%s: truncated record %d" % (path, idx))
        (vlen,) = struct.unpack_from(">I", data, pos)
        pos += 4
        value = None
        if vlen != NULL_LEN:
            if pos + vlen > n:
                raise DataError("%s: truncated value in record %d" % (path, idx))
            value = data[pos:pos + vlen]
            pos += vlen
        yield flag, key, value
        idx += 1


def decode_value(decoder, value):
    if value is None:
        raise DecodeError("null value")
    if len(value) < 5 or value[0] != 0:
        raise DecodeError("bad framing")
    sid = struct.unpack_from(">I", value, 1)[0]
    if sid != SCHEMA_ID_EVENT:
        raise DecodeError("schema id %d" % sid)
    ev, pos = decoder(value, 5)
    if pos != len(value):
        raise DecodeError("%d trailing bytes" % (len(value) - pos))
    return ev


# ---------------------------------------------------------------------------
# The counter model
# ---------------------------------------------------------------------------

class _Deal:
    __slots__ = ("known", "source", "created", "stages", "closed")

    def __init__(self):
        self.known = False
        self.source = None
        self.created = None
        self.stages = set()
        self.closed = False


def rt_field(ms):
    for b in RT_BOUNDS:
        if ms <= b * 1000:
            return "b%d" % b
    return "binf"


class Model:
    """Expected Redis contents after applying valid events in processing order."""

    def __init__(self, prefix="crm", processed_from=None, processed_to=None,
                 minute_retention_ms=MINUTE_RETENTION_MS):
        self.prefix = prefix
        # The worker's clock while it processed the events lies in
        # [processed_from, processed_to] (ms; None = unknown: every minute key
        # is expected). A minute key exists iff its minute start + retention
        # is after the worker's clock, so keys expiring inside the window
        # may or may not exist: they are not checked.
        self.processed_from = processed_from
        self.processed_to = processed_to
        self.minute_retention_ms = minute_retention_ms
        self.hashes = {}         # key -> {field: int}
        self.minute_keys = {}    # key -> EXPIREAT (unix s), certain keys only
        self.uncertain_keys = set()
        self.waiting = {}        # tenant -> {conversation: wait start ms}
        self.deals = {}          # (tenant, deal) -> _Deal
        self.tickets = {}        # (tenant, ticket) -> opened_at while open
        self.ordered = set()     # (tenant, customer) with an order seen
        self.events = 0
        self.invalid = 0
        self.alerts = 0
        self._buckets = {}       # occurred_at // 60000 -> (D, HHMM)

    def _bucket(self, t):
        m = t // 60000
        b = self._buckets.get(m)
        if b is None:
            tm = time.gmtime(m * 60)
            b = ("%04d-%02d-%02d" % (tm.tm_year, tm.tm_mon, tm.tm_mday),
                 "%02d%02d" % (tm.tm_hour, tm.tm_min))
            self._buckets[m] = b
        return b

    def _add(self, key, field, n):
        h = self.hashes.get(key)
        if h is None:
            h = self.hashes[key] = {}
        h[field] = h.get(field, 0) + n

    def _minute_target(self, T, t):
        """The minute key an event (or alert) at t writes, or None."""
        D, HHMM = self._bucket(t)
        minute = "%s:{%s}:m:%s:%s" % (self.prefix, T, D, HHMM)
        expire_ms = t // 60000 * 60000 + self.minute_retention_ms
        if self.processed_from is not None and expire_ms <= self.processed_from:
            return None                   # expired before the worker saw it
        if self.processed_to is not None and expire_ms <= self.processed_to:
            self.uncertain_keys.add(minute)
            return None
        self.minute_keys[minute] = expire_ms // 1000
        return minute

    def add_alerts(self, alerts):
        """Count each distinct alert once (alerts as decoded dicts, possibly
        repeated: at least once on Kafka). Returns a list of problems: an
        alert_id seen with different content."""
        problems = []
        seen = {}
        for a in alerts:
            same = {k: v for k, v in a.items() if k != "emitted_at"}
            old = seen.get(a["alert_id"])
            if old is not None:
                if old != same:
                    problems.append("alert %s re-emitted with other content"
                                    % a["alert_id"])
                continue
            seen[a["alert_id"]] = same
            T = a["tenant_id"]
            t = a["event_time"]
            D, _ = self._bucket(t)
            field = "churn_alerts" if a["kind"] == "CHURN_RISK" else "sla_breaches"
            base = "%s:{%s}:d:%s" % (self.prefix, T, D)
            self._add(base, field, 1)
            minute = self._minute_target(T, t)
            if minute:
                self._add(minute, field, 1)
            if a["manager_id"] is not None:
                self._add(base + ":manager:" + a["manager_id"], field, 1)
        self.alerts = len(seen)
        return problems

    def apply(self, ev):
        """Apply one valid event (decoded dict)."""
        self.events += 1
        T = ev["tenant_id"]
        C = ev["customer_id"]
        t = ev["occurred_at"]
        D, HHMM = self._bucket(t)
        base = "%s:{%s}:d:%s" % (self.prefix, T, D)
        targets = [base]
        minute = self._minute_target(T, t)
        if minute:
            targets.append(minute)
        if ev["manager_id"] is not None:
            targets.append(base + ":manager:" + ev["manager_id"])
        if ev["channel"] is not None:
            targets.append(base + ":channel:" + ev["channel"].lower())

        inc = [("events", 1)]        # counters for day/minute/manager/channel hashes
        source = None                # (source name, [(field, n)])
        tenant_only = []             # (key, field, n): funnel and rt

        p = ev["payload"]
        kind = p["__name__"]
        if kind == "MessageReceived":
            inc.append(("messages_in", 1))
            w = self.waiting.setdefault(T, {})
            conv = p["conversation_id"]
            if conv not in w:
                w[conv] = t
        elif kind == "MessageSent":
            inc.append(("messages_out", 1))
            w = self.waiting.get(T)
            conv = p["conversation_id"]
            if w is not None and conv in w:
                ms = t - w.pop(conv)
                if ms < 0:
                    ms = 0
                inc.append(("responses", 1))
                inc.append(("response_ms_sum", ms))
                tenant_only.append((base + ":rt", rt_field(ms), 1))
        elif kind in ("LeadCreated", "StageChanged", "DealClosed"):
            dk = (T, p["deal_id"])
            d = self.deals.get(dk)
            if d is None:
                d = self.deals[dk] = _Deal()
            if kind == "LeadCreated":
                if not d.known:
                    d.known = True
                    d.source = p["source"]
                    d.created = t
                    inc.append(("leads", 1))
                    source = (d.source, [("leads", 1)])
                    tenant_only.append((base + ":funnel", "lead", 1))
            elif kind == "StageChanged":
                st = p["stage"]
                if st not in d.stages:
                    d.stages.add(st)
                    tenant_only.append((base + ":funnel", "stage:" + st, 1))
            else:
                if not d.closed:
                    d.closed = True
                    src = d.source if d.known else "unknown"
                    if p["won"]:
                        amt = p["amount_minor"]
                        won = [("deals_won", 1), ("won_amount_minor", amt)]
                        inc.extend(won)
                        source = (src, won)
                        tenant_only.append((base + ":funnel", "won", 1))
                        if d.known:
                            cyc = t - d.created
                            if cyc < 0:
                                cyc = 0
                            inc.append(("deal_cycle_ms_sum", cyc))
                            inc.append(("deal_cycle_count", 1))
                    else:
                        inc.append(("deals_lost", 1))
                        source = (src, [("deals_lost", 1)])
                        tenant_only.append((base + ":funnel", "lost", 1))
        elif kind == "OrderPlaced":
            inc.append(("orders", 1))
            inc.append(("order_amount_minor", p["amount_minor"]))
            ck = (T, C)
            if ck in self.ordered:
                inc.append(("repeat_orders", 1))
            else:
                self.ordered.add(ck)
                inc.append(("first_orders", 1))
        elif kind == "CallLogged":
            inc.append(("calls", 1))
            inc.append(("call_ms_sum", p["duration_ms"]))
            if p["inbound"]:
                inc.append(("calls_inbound", 1))
                if not p["answered"]:
                    inc.append(("calls_missed", 1))
        elif kind == "TicketOpened":
            tk = (T, p["ticket_id"])
            if tk not in self.tickets:
                self.tickets[tk] = t
                inc.append(("tickets_opened", 1))
        elif kind == "TicketResolved":
            tk = (T, p["ticket_id"])
            if tk in self.tickets:
                ms = t - self.tickets.pop(tk)
                if ms < 0:
                    ms = 0
                inc.append(("tickets_resolved", 1))
                inc.append(("resolution_ms_sum", ms))
        elif kind == "SurveyAnswered":
            s = p["score"]
            k = p["kind"]
            if k == "NPS":
                if s >= 9:
                    inc.append(("nps_promoters", 1))
                elif s >= 7:
                    inc.append(("nps_passives", 1))
                else:
                    inc.append(("nps_detractors", 1))
            elif k == "CSAT":
                inc.append(("csat_count", 1))
                inc.append(("csat_sum", s))
                if s >= 4:
                    inc.append(("csat_satisfied", 1))
            else:
                inc.append(("ces_count", 1))
                inc.append(("ces_sum", s))
        elif kind == "SubscriptionChanged":
            a = p["action"]
            if a == "STARTED":
                inc.append(("subs_started", 1))
            elif a == "RENEWED":
                inc.append(("subs_renewed", 1))
            else:
                inc.append(("subs_cancelled", 1))
                inc.append(("mrr_cancelled_minor", p["mrr_minor"]))
        elif kind == "WebVisit":
            inc.append(("web_visits", 1))
        else:
            raise DataError("unknown payload %s" % kind)

        hashes = self.hashes
        for key in targets:
            h = hashes.get(key)
            if h is None:
                h = hashes[key] = {}
            for f, n in inc:
                h[f] = h.get(f, 0) + n
        if source is not None:
            skey = base + ":source:" + source[0]
            for f, n in source[1]:
                self._add(skey, f, n)
        for key, f, n in tenant_only:
            self._add(key, f, n)

    def waiting_keys(self):
        """{zset key: {member: score}} for non-empty waiting sets."""
        out = {}
        for T, w in self.waiting.items():
            if w:
                out["%s:{%s}:waiting" % (self.prefix, T)] = dict(w)
        return out

    def to_json(self):
        return {
            "events": self.events,
            "invalid": self.invalid,
            "hashes": {k: dict(sorted(v.items())) for k, v in sorted(self.hashes.items())},
            "minute_keys": sorted(self.minute_keys),
            "uncertain_minute_keys": sorted(self.uncertain_keys),
            "waiting": {k: v for k, v in sorted(self.waiting_keys().items())},
        }


# ---------------------------------------------------------------------------
# Ordering precondition: every piece of state must be touched through one Kafka key,
# otherwise its events may sit in different partitions and file order proves nothing.
# ---------------------------------------------------------------------------

_STATE_KEY_FIELD = {
    "LeadCreated": "deal_id", "StageChanged": "deal_id", "DealClosed": "deal_id",
    "MessageReceived": "conversation_id", "MessageSent": "conversation_id",
    "TicketOpened": "ticket_id", "TicketResolved": "ticket_id",
}


class OrderCheck:
    def __init__(self):
        self.owner = {}

    def see(self, ev, kafka_key, idx):
        kind = ev["payload"]["__name__"]
        f = _STATE_KEY_FIELD.get(kind)
        if f is not None:
            ent = (f, ev["tenant_id"], ev["payload"][f])
        elif kind == "OrderPlaced":
            ent = ("customer orders", ev["tenant_id"], ev["customer_id"])
        else:
            return
        # A null key is partitioned at random: it is never the same key as another.
        k = kafka_key if kafka_key is not None else ("null", idx)
        prev = self.owner.setdefault(ent, k)
        if prev != k:
            raise DataError(
                "%s %r of tenant %r is reached through Kafka keys %r and %r: its order "
                "across partitions is not determined (use --partitions 1 for a "
                "single-partition topic)" % (ent[0], ent[2], ent[1], prev, k))


def compute(dump_paths, schema_dir, prefix="crm", partitions=None, now_ms=None,
            processed_from=None, processed_to=None,
            minute_retention_ms=MINUTE_RETENTION_MS):
    """Build the Model from dump files. Raises DataError for broken test data."""
    decoder = load_event_decoder(schema_dir)
    if now_ms is None:
        now_ms = int(time.time() * 1000)
    model = Model(prefix, processed_from, processed_to, minute_retention_ms)
    check = OrderCheck() if partitions != 1 else None
    idx = 0
    for path in dump_paths:
        for flag, key, value in read_dump(path):
            if flag == 1:
                model.invalid += 1
            else:
                try:
                    ev = decode_value(decoder, value)
                except DecodeError as e:
                    raise DataError("%s: record %d flagged valid does not decode: %s"
                                    % (path, idx, e))
                r = validate_event(ev, now_ms)
                if r:
                    raise DataError("%s: record %d flagged valid breaks the input rules: %s"
                                    % (path, idx, r))
                if check is not None:
                    check.see(ev, key, idx)
                model.apply(ev)
            idx += 1
    return model


# ---------------------------------------------------------------------------
# Comparison with Redis
# ---------------------------------------------------------------------------

class Report:
    def __init__(self):
        self.mismatches = 0
        self.lines = []
        self.keys = 0
        self.fields = 0

    def bad(self, line):
        self.mismatches += 1
        if len(self.lines) < 20:
            self.lines.append(line)


def _as_int(v):
    if v is None:
        return 0
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    try:
        return int(v)
    except ValueError:
        return None


def _s(b):
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else str(b)


def _chunks(seq, n):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def _glob_escape(s):
    return re.sub(r"([\\*?\[\]])", r"\\\1", s)


def scan_counter_keys(r, prefix):
    """All keys named like day, minute or waiting keys under the prefix."""
    pat = re.compile(r"%s:\{[^{}]*\}:(?:d:|m:|waiting\Z)" % re.escape(prefix))
    out = set()
    for k in r.scan_iter(match=_glob_escape(prefix) + ":{*", count=10000):
        ks = _s(k)
        if pat.match(ks):
            out.add(ks)
    return out


# Reading ~10^6 hash fields through redis-py's pure-Python reply parser is slow, so a
# script returns each key's type, TTL and contents as one JSON string.
_FETCH_LUA = """
local out = {}
for i = 1, #KEYS do
  local k = KEYS[i]
  local t = redis.call('TYPE', k)['ok']
  local v = {}
  if t == 'hash' then
    v = redis.call('HGETALL', k)
  elseif t == 'zset' then
    v = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES')
  end
  out[i] = cjson.encode({t, redis.call('EXPIRETIME', k), v})
end
return out
"""


def fetch_keys(r, keys):
    """Yield (key, type, value, expiretime): hash -> {field: str}, zset ->
    [(member, float)]; expiretime is unix seconds, -1 for none."""
    script = r.register_script(_FETCH_LUA)
    for chunk in _chunks(keys, 500):
        for k, raw in zip(chunk, script(keys=chunk)):
            ty, ttl, flat = json.loads(_s(raw))
            if isinstance(flat, dict):  # cjson writes an empty table as {}
                flat = []
            if ty == "hash":
                val = dict(zip(flat[0::2], flat[1::2]))
            elif ty == "zset":
                val = [(m, float(sc)) for m, sc in zip(flat[0::2], flat[1::2])]
            else:
                val = None
            yield k, ty, val, ttl


def compare_redis(model, r, report=None):
    """Compare the model with Redis client r; return a Report."""
    rep = report or Report()
    exp_hashes = {k: v for k, v in model.hashes.items() if any(v.values())}
    exp_wait = model.waiting_keys()
    present = scan_counter_keys(r, model.prefix)
    all_keys = sorted(set(exp_hashes) | set(exp_wait) | present)
    rep.keys = len(all_keys)
    for k, ty, val, ttl in fetch_keys(r, all_keys):
        _compare_key(model, rep, k, ty, val, ttl, exp_hashes, exp_wait)
    return rep


def _compare_key(model, rep, k, ty, val, ttl, exp_hashes, exp_wait):
    if k in model.uncertain_keys:
        return  # expired around the worker's clock: may or may not exist
    if k in exp_wait:
        exp = exp_wait[k]
        got = {}
        if ty == "zset":
            got = {_s(m): sc for m, sc in val}
        elif ty != "none":
            rep.bad("%s: redis type %s expected zset" % (k, ty))
            return
        for m, sc in exp.items():
            rep.fields += 1
            if m not in got:
                rep.bad("%s %s: redis=(absent) expected=%d" % (k, m, sc))
            elif got[m] != sc:
                rep.bad("%s %s: redis=%r expected=%d" % (k, m, got[m], sc))
        for m, sc in got.items():
            if m not in exp:
                rep.bad("%s %s: redis=%r expected=(absent)" % (k, m, sc))
        return
    if k in exp_hashes:
        exp = exp_hashes[k]
        if ty not in ("hash", "none"):
            rep.bad("%s: redis type %s expected hash" % (k, ty))
            return
        got = {_s(f): v for f, v in val.items()} if ty == "hash" else {}
        for f, n in exp.items():
            rep.fields += 1
            g = got.get(f)
            gi = _as_int(g)
            if gi != n:
                rep.bad("%s %s: redis=%s expected=%d"
                        % (k, f, "(absent)" if g is None else _s(g), n))
        for f, g in got.items():
            if f not in exp:
                rep.fields += 1
                if _as_int(g) != 0:
                    rep.bad("%s %s: redis=%s expected=0" % (k, f, _s(g)))
        if k in model.minute_keys and ty == "hash":
            if ttl != model.minute_keys[k]:
                rep.bad("%s EXPIRETIME: redis=%s expected=%d"
                        % (k, ttl, model.minute_keys[k]))
        return
    # Not expected: an error when it holds anything non-zero.
    if ty == "none":
        return
    if ty == "hash":
        nz = {_s(f): _s(v) for f, v in val.items() if _as_int(v) != 0}
        rep.fields += len(val)
        if nz:
            f0 = sorted(nz)[0]
            rep.bad("%s: unexpected key (%d non-zero fields, e.g. %s=%s)"
                    % (k, len(nz), f0, nz[f0]))
    elif ty == "zset":
        if val:
            rep.bad("%s: unexpected key (zset with %d members, e.g. %s)"
                    % (k, len(val), _s(val[0][0])))
    else:
        rep.bad("%s: unexpected key of type %s" % (k, ty))


# ---------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description="Expected Redis counters from event dumps.")
    ap.add_argument("--dump", action="append", required=True, help="dump file (repeatable)")
    ap.add_argument("--schema-dir", required=True)
    ap.add_argument("--redis-url")
    ap.add_argument("--prefix", default="crm")
    ap.add_argument("--partitions", type=int,
                    help="partitions of the input topic; 1 lifts the ordering check")
    ap.add_argument("--expect-out")
    ap.add_argument("--dlq-count", type=int)
    ap.add_argument("--processed-from", type=int,
                    help="ms: the worker processed nothing before this (its clock); "
                         "minute keys that expired before it must not exist")
    ap.add_argument("--processed-to", type=int,
                    help="ms: the worker processed nothing after this, and the "
                         "comparison is done by then (default: now + 5 min when "
                         "--processed-from is given)")
    ap.add_argument("--minute-retention-ms", type=int, default=MINUTE_RETENTION_MS)
    ap.add_argument("--alerts",
                    help="JSON lines of the alerts read from the alert topic: "
                         "churn_alerts/sla_breaches must count each alert_id once")
    args = ap.parse_args(argv)
    if args.processed_from is not None and args.processed_to is None:
        # Keys expiring while this comparison runs are gone before it reads
        # them: five minutes of margin leave those unchecked.
        args.processed_to = int(time.time() * 1000) + 300000

    try:
        model = compute(args.dump, args.schema_dir, args.prefix, args.partitions,
                        processed_from=args.processed_from,
                        processed_to=args.processed_to,
                        minute_retention_ms=args.minute_retention_ms)
    except DataError as e:
        print("oracle: test data error: %s" % e, file=sys.stderr)
        return 3
    except OSError as e:
        print("oracle: %s" % e, file=sys.stderr)
        return 2

    alert_problems = []
    if args.alerts:
        with open(args.alerts, encoding="utf-8") as f:
            alert_problems = model.add_alerts(json.loads(l) for l in f if l.strip())

    if args.expect_out:
        with open(args.expect_out, "w", encoding="utf-8") as f:
            json.dump(model.to_json(), f, indent=1, sort_keys=True)

    rep = Report()
    rep.keys = len(model.hashes) + len(model.waiting_keys())
    rep.fields = sum(len(v) for v in model.hashes.values())
    if args.redis_url:
        try:
            import redis
        except ImportError:
            print("oracle: python3-redis is not installed", file=sys.stderr)
            return 2
        try:
            r = redis.Redis.from_url(args.redis_url)
            r.ping()
            rep = compare_redis(model, r, Report())
        except redis.RedisError as e:
            print("oracle: redis: %s" % e, file=sys.stderr)
            return 2
    for p in alert_problems:
        rep.bad(p)
    if args.dlq_count is not None and args.dlq_count != model.invalid:
        rep.bad("dlq count: given=%d expected=%d" % (args.dlq_count, model.invalid))

    print("oracle: %d events, %d invalid, %d alerts, %d keys, %d fields checked, "
          "%d mismatches" % (model.events, model.invalid, model.alerts, rep.keys,
                             rep.fields, rep.mismatches))
    for line in rep.lines:
        print("  " + line)
    return 0 if rep.mismatches == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
