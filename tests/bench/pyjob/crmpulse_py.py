#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""crmpulse's counter job written the obvious competent way in Python.

A yardstick for the benchmark: how fast is the same job in the language most
teams would reach for first? It consumes crm.v1.CrmEvent from Kafka and keeps
the public counters of schemas/redis-keys.md with the same rules and the same
guarantees as the worker:

- batches from the consumer (consume(n)), each applied to per-batch dicts
  that coalesce every (key, field) delta;
- entity state (deals, open tickets, waiting conversations, per-customer
  first order) loaded once per batch and tenant with HMGET / ZMSCORE;
- one MULTI/EXEC per batch holding the counters, the state and the
  consumed offsets (`crmpulse:offsets:<group>`), so a crash replays a batch
  exactly; on assignment it resumes from those offsets;
- minute keys only for the last `minute.retention` of event time, with
  EXPIREAT at the minute's start + retention, once per key per batch.

Written: day, minute, manager, channel, source, funnel and rt hashes, the
waiting zset, and the cheap fields of the public customer hash (`manager`,
`orders`, `last_order_at`, `open_tickets`, `last_nps`, only when one
changed). Omitted: the churn score and its fields (`score`, `level`,
`reasons`, `scored_at`), the `risk` zset, timers, watermarks, alerts (and
so the `churn_alerts` / `sla_breaches` counters), the DLQ (invalid events
are skipped and counted), pub/sub, fencing.

Decoding uses python3-avro's DatumReader with the writer schema (Confluent
framing); its union reader is extended to keep the payload's record name,
which the plain reader drops (MessageReceived and MessageSent have the same
shape).
"""

import argparse
import io
import json
import os
import re
import signal
import sys
import time

import avro.io
import avro.schema
import redis
from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError,
                             TopicPartition)

RT_BOUNDS = (15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800,
             86400)
MIN_OCCURRED_AT = 946684800000  # 2000-01-01
FUTURE_SLACK_MS = 24 * 3600 * 1000
SCHEMA_ID_EVENT = 1

_NAME_RE = re.compile(r"[A-Za-z0-9._-]{1,64}\Z")
_STAGE_RE = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")
_CTRL_RE = re.compile("[\x00-\x1f\x7f-\x9f]")
_ID_FIELD = {
    "LeadCreated": "deal_id", "StageChanged": "deal_id",
    "DealClosed": "deal_id", "OrderPlaced": "order_id",
    "MessageReceived": "conversation_id", "MessageSent": "conversation_id",
    "CallLogged": "call_id", "TicketOpened": "ticket_id",
    "TicketResolved": "ticket_id", "SubscriptionChanged": "subscription_id",
    "WebVisit": "session_id",
}
_SURVEY_RANGE = {"NPS": (0, 10), "CSAT": (1, 5), "CES": (1, 7)}


def rt_field(ms):
    for b in RT_BOUNDS:
        if ms <= b * 1000:
            return "b%d" % b
    return "binf"


def strip_logical(node):
    """The schema without logicalType annotations."""
    if isinstance(node, dict):
        return {k: strip_logical(v) for k, v in node.items()
                if k != "logicalType"}
    if isinstance(node, list):
        return [strip_logical(v) for v in node]
    return node


class NamedUnionReader(avro.io.DatumReader):
    """DatumReader that tags each record read from a union with its name."""

    def read_union(self, writers_schema, readers_schema, decoder):
        i = int(decoder.read_long())
        if i < 0 or i >= len(writers_schema.schemas):
            raise ValueError("union index %d" % i)
        s = writers_schema.schemas[i]
        d = self.read_data(s, s, decoder)
        if isinstance(d, dict):
            d["__name__"] = s.name
        return d


def invalid_reason(ev, now_ms):
    """The input contract's rules; None when the event is valid."""
    for f in ("tenant_id", "customer_id"):
        if not _NAME_RE.match(ev[f]):
            return "bad " + f
    m = ev["manager_id"]
    if m is not None and not _NAME_RE.match(m):
        return "bad manager_id"
    t = ev["occurred_at"]
    if t < MIN_OCCURRED_AT or t > now_ms + FUTURE_SLACK_MS:
        return "occurred_at out of range"
    p = ev["payload"]
    name = p["__name__"]
    for s in (ev["event_id"], p.get(_ID_FIELD.get(name, ""), "x")):
        n = len(s.encode("utf-8"))
        if n < 1 or n > 128 or _CTRL_RE.search(s):
            return "bad id"
    if name == "LeadCreated" and not _STAGE_RE.match(p["source"]):
        return "bad source"
    if name == "StageChanged" and (not _STAGE_RE.match(p["stage"]) or
                                   not 0 <= p["stage_order"] <= 63):
        return "bad stage"
    for f in ("amount_minor", "mrr_minor", "duration_ms"):
        if p.get(f, 0) < 0:
            return "negative " + f
    if name == "SurveyAnswered":
        lo, hi = _SURVEY_RANGE[p["kind"]]
        if not lo <= p["score"] <= hi:
            return "survey score"
    return None


class Customer:
    """The cheap public fields of a customer, plus what keeps them exact."""
    __slots__ = ("orders", "last_order_at", "open_tickets", "last_nps",
                 "nps_at_s", "manager", "shown", "packed")

    def __init__(self, packed):
        if packed is None:
            self.orders, self.last_order_at, self.open_tickets = 0, -1, 0
            self.last_nps, self.nps_at_s, self.manager = -1, 0, ""
        else:
            f = packed.split(b"|", 5)
            self.orders, self.last_order_at = int(f[0]), int(f[1])
            self.open_tickets, self.last_nps = int(f[2]), int(f[3])
            self.nps_at_s, self.manager = int(f[4]), f[5].decode()
        self.shown = self.visible()
        self.packed = self.pack()

    def pack(self):
        return "%d|%d|%d|%d|%d|%s" % (self.orders, self.last_order_at,
                                      self.open_tickets, self.last_nps,
                                      self.nps_at_s, self.manager)

    def visible(self):
        return (self.orders, self.last_order_at, self.open_tickets,
                self.last_nps, self.manager)

    def nps(self, at_ms, score):
        # Latest answer by event time (second) wins; on a tie the worse one.
        s = max(at_ms // 1000, 1)
        if self.last_nps >= 0 and (s < self.nps_at_s or
                                   (s == self.nps_at_s and
                                    score >= self.last_nps)):
            return
        self.last_nps, self.nps_at_s = score, s


class Job:
    def __init__(self, args):
        self.a = args
        self.prefix = args.prefix
        self.group = args.group
        self.topic = args.topic
        self.offsets_key = "crmpulse:offsets:" + self.group
        self.retention_ms = args.minute_retention_ms
        with open(args.schema, "r", encoding="utf-8") as f:
            # occurred_at stays an int of ms: no datetime per event.
            self.schema = avro.schema.parse(json.dumps(
                strip_logical(json.load(f))))
        self.reader = NamedUnionReader(self.schema, self.schema)
        host, _, port = args.redis.rpartition(":")
        self.r = redis.Redis(host=host or "127.0.0.1", port=int(port))
        self.buckets = {}  # minute number -> (D, HHMM)
        self.events = 0
        self.invalid = 0
        self.batches = 0
        self.assigned = False
        conf = {
            "bootstrap.servers": args.bootstrap,
            "group.id": self.group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
            "fetch.wait.max.ms": 5,
            "fetch.max.bytes": 52428800,
            "max.partition.fetch.bytes": 4194304,
            "queued.max.messages.kbytes": 262144,
        }
        for kv in args.X:
            k, _, v = kv.partition("=")
            conf[k[len("kafka."):] if k.startswith("kafka.") else k] = v
        self.c = Consumer(conf)

    # -- Kafka --------------------------------------------------------------
    def on_assign(self, consumer, parts):
        # Resume from the offsets committed in Redis with the state: Kafka's
        # own committed offsets may lag behind them.
        fields = ["%s:%d" % (p.topic, p.partition) for p in parts]
        vals = self.r.hmget(self.offsets_key, fields) if fields else []
        for p, v in zip(parts, vals):
            p.offset = int(v) if v is not None else OFFSET_BEGINNING
        consumer.assign(parts)
        if not self.assigned:
            self.assigned = True
            print("assigned_ms=%d" % int(time.time() * 1000), file=sys.stderr,
                  flush=True)

    def on_revoke(self, consumer, parts):
        consumer.unassign()

    # -- one batch ------------------------------------------------------------
    def bucket(self, t):
        m = t // 60000
        b = self.buckets.get(m)
        if b is None:
            tm = time.gmtime(m * 60)
            b = ("%04d-%02d-%02d" % (tm.tm_year, tm.tm_mon, tm.tm_mday),
                 "%02d%02d" % (tm.tm_hour, tm.tm_min))
            if len(self.buckets) > 200000:
                self.buckets.clear()
            self.buckets[m] = b
        return b

    def decode(self, msgs, now_ms):
        evs = []
        nxt = {}
        reader = self.reader
        for m in msgs:
            if m.error():
                if m.error().code() != KafkaError._PARTITION_EOF:
                    print("crmpulse_py: kafka: %s" % m.error(),
                          file=sys.stderr)
                continue
            nxt[m.partition()] = m.offset() + 1
            v = m.value()
            if not v or len(v) < 5 or v[0] != 0 or \
                    int.from_bytes(v[1:5], "big") != SCHEMA_ID_EVENT:
                self.invalid += 1
                continue
            bio = io.BytesIO(v)
            bio.seek(5)
            try:
                ev = reader.read(avro.io.BinaryDecoder(bio))
            except Exception:  # anything undecodable is invalid input
                self.invalid += 1
                continue
            if bio.tell() != len(v) or invalid_reason(ev, now_ms):
                self.invalid += 1
                continue
            evs.append(ev)
        return evs, nxt

    def load(self, evs):
        """Entity state the batch needs: one read per tenant and kind."""
        need = {}  # tenant -> (deals, tickets, convs, customers)
        for ev in evs:
            T = ev["tenant_id"]
            n = need.get(T)
            if n is None:
                n = need[T] = (set(), set(), set(), set())
            p = ev["payload"]
            name = p["__name__"]
            n[3].add(ev["customer_id"])
            if "deal_id" in p:
                n[0].add(p["deal_id"])
            elif name in ("TicketOpened", "TicketResolved"):
                n[1].add(p["ticket_id"])
            elif name in ("MessageReceived", "MessageSent"):
                n[2].add(p["conversation_id"])
        pipe = self.r.pipeline(transaction=False)
        plan = []
        for T, (deals, tickets, convs, custs) in need.items():
            base = "%s:{%s}:" % (self.prefix, T)
            for what, ids in (("deals", deals), ("tickets", tickets),
                              ("waiting", convs), ("customers", custs)):
                if not ids:
                    continue
                ids = list(ids)
                if what == "waiting":
                    pipe.zmscore(base + "waiting", ids)
                elif what == "customers":
                    pipe.hmget(base + "state:customers_py", ids)
                else:
                    pipe.hmget(base + "state:" + what, ids)
                plan.append((T, what, ids))
        st = {}
        for (T, what, ids), vals in zip(plan, pipe.execute()):
            st[(T, what)] = dict(zip(ids, vals))
        return st

    def apply(self, evs, st, now_ms):
        cnt = {}        # key -> {field: delta}
        expire = {}     # minute key -> EXPIREAT seconds
        deals = {}      # (T, deal) -> [known, closed, created, source, stages]
        dirty_deals = set()
        tickets = {}    # (T, ticket) -> opened ms or None
        dirty_tickets = set()
        waiting = {}    # (T, conv) -> wait start or None
        dirty_waits = set()
        custs = {}      # (T, C) -> Customer
        prefix = self.prefix
        retention = self.retention_ms

        def add(key, field, n):
            h = cnt.get(key)
            if h is None:
                h = cnt[key] = {}
            h[field] = h.get(field, 0) + n

        for ev in evs:
            T = ev["tenant_id"]
            C = ev["customer_id"]
            t = ev["occurred_at"]
            D, HHMM = self.bucket(t)
            base = "%s:{%s}:d:%s" % (prefix, T, D)
            targets = [base]
            exp_ms = t - t % 60000 + retention
            if exp_ms > now_ms:
                mk = "%s:{%s}:m:%s:%s" % (prefix, T, D, HHMM)
                targets.append(mk)
                expire[mk] = exp_ms // 1000
            mgr = ev["manager_id"]
            if mgr is not None:
                targets.append(base + ":manager:" + mgr)
            if ev["channel"] is not None:
                targets.append(base + ":channel:" + ev["channel"].lower())
            ck = (T, C)
            cu = custs.get(ck)
            if cu is None:
                cu = custs[ck] = Customer(st[(T, "customers")][C])
            if mgr is not None:
                cu.manager = mgr

            inc = [("events", 1)]
            p = ev["payload"]
            kind = p["__name__"]
            if kind == "MessageReceived":
                inc.append(("messages_in", 1))
                wk = (T, p["conversation_id"])
                if wk in waiting:
                    w = waiting[wk]
                else:
                    w = st[(T, "waiting")][wk[1]]
                if w is None:
                    waiting[wk] = t
                    dirty_waits.add(wk)
                else:
                    waiting[wk] = w
            elif kind == "MessageSent":
                inc.append(("messages_out", 1))
                wk = (T, p["conversation_id"])
                w = waiting[wk] if wk in waiting else \
                    st[(T, "waiting")][wk[1]]
                if w is not None:
                    ms = max(t - int(w), 0)
                    waiting[wk] = None
                    dirty_waits.add(wk)
                    inc.append(("responses", 1))
                    inc.append(("response_ms_sum", ms))
                    add(base + ":rt", rt_field(ms), 1)
            elif kind in ("LeadCreated", "StageChanged", "DealClosed"):
                dk = (T, p["deal_id"])
                d = deals.get(dk)
                if d is None:
                    raw = st[(T, "deals")][dk[1]]
                    if raw is None:
                        d = [False, False, None, None, set()]
                    else:
                        f = raw.decode().split("|", 4)
                        d = [f[0] == "1", f[1] == "1",
                             None if f[2] == "-" else int(f[2]), f[3],
                             set(f[4].split(",")) if f[4] else set()]
                    deals[dk] = d
                if kind == "LeadCreated":
                    if not d[0]:
                        d[0], d[2], d[3] = True, t, p["source"]
                        dirty_deals.add(dk)
                        inc.append(("leads", 1))
                        add(base + ":source:" + d[3], "leads", 1)
                        add(base + ":funnel", "lead", 1)
                elif kind == "StageChanged":
                    s = p["stage"]
                    if s not in d[4]:
                        d[4].add(s)
                        dirty_deals.add(dk)
                        add(base + ":funnel", "stage:" + s, 1)
                elif not d[1]:
                    d[1] = True
                    dirty_deals.add(dk)
                    skey = base + ":source:" + (d[3] if d[0] else "unknown")
                    if p["won"]:
                        amt = p["amount_minor"]
                        inc.append(("deals_won", 1))
                        inc.append(("won_amount_minor", amt))
                        add(skey, "deals_won", 1)
                        add(skey, "won_amount_minor", amt)
                        add(base + ":funnel", "won", 1)
                        if d[0]:
                            inc.append(("deal_cycle_ms_sum", max(t - d[2], 0)))
                            inc.append(("deal_cycle_count", 1))
                    else:
                        inc.append(("deals_lost", 1))
                        add(skey, "deals_lost", 1)
                        add(base + ":funnel", "lost", 1)
            elif kind == "OrderPlaced":
                inc.append(("orders", 1))
                inc.append(("order_amount_minor", p["amount_minor"]))
                inc.append(("repeat_orders" if cu.orders else "first_orders",
                            1))
                cu.orders += 1
                cu.last_order_at = max(cu.last_order_at, t)
            elif kind == "CallLogged":
                inc.append(("calls", 1))
                inc.append(("call_ms_sum", p["duration_ms"]))
                if p["inbound"]:
                    inc.append(("calls_inbound", 1))
                    if not p["answered"]:
                        inc.append(("calls_missed", 1))
            elif kind in ("TicketOpened", "TicketResolved"):
                tk = (T, p["ticket_id"])
                if tk in tickets:
                    o = tickets[tk]
                else:
                    o = st[(T, "tickets")][tk[1]]
                    o = None if o is None else int(o)
                if kind == "TicketOpened" and o is None:
                    tickets[tk] = t
                    dirty_tickets.add(tk)
                    inc.append(("tickets_opened", 1))
                    cu.open_tickets += 1
                elif kind == "TicketResolved" and o is not None:
                    tickets[tk] = None
                    dirty_tickets.add(tk)
                    inc.append(("tickets_resolved", 1))
                    inc.append(("resolution_ms_sum", max(t - o, 0)))
                    cu.open_tickets = max(cu.open_tickets - 1, 0)
                else:
                    tickets[tk] = o
            elif kind == "SurveyAnswered":
                s = p["score"]
                k = p["kind"]
                if k == "NPS":
                    inc.append(("nps_promoters" if s >= 9 else
                                "nps_passives" if s >= 7 else
                                "nps_detractors", 1))
                    cu.nps(t, s)
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
            else:  # WebVisit
                inc.append(("web_visits", 1))
            for key in targets:
                h = cnt.get(key)
                if h is None:
                    h = cnt[key] = {}
                for f, n in inc:
                    h[f] = h.get(f, 0) + n
        return (cnt, expire, deals, dirty_deals, tickets, dirty_tickets,
                waiting, dirty_waits, custs)

    def commit(self, applied, nxt):
        (cnt, expire, deals, dirty_deals, tickets, dirty_tickets, waiting,
         dirty_waits, custs) = applied
        prefix = self.prefix
        pipe = self.r.pipeline(transaction=True)
        for key, h in cnt.items():
            for f, n in h.items():
                pipe.hincrby(key, f, n)
        for key, at in expire.items():
            pipe.expireat(key, at)
        per = {}  # (T, what) -> {id: value}
        for dk in dirty_deals:
            d = deals[dk]
            per.setdefault((dk[0], "deals"), {})[dk[1]] = "%d|%d|%s|%s|%s" % (
                d[0], d[1], "-" if d[2] is None else d[2], d[3] or "",
                ",".join(sorted(d[4])))
        for (T, what), m in per.items():
            pipe.hset("%s:{%s}:state:%s" % (prefix, T, what), mapping=m)
        opened, closed = {}, {}
        for tk in dirty_tickets:
            o = tickets[tk]
            if o is None:
                closed.setdefault(tk[0], []).append(tk[1])
            else:
                opened.setdefault(tk[0], {})[tk[1]] = o
        for T, m in opened.items():
            pipe.hset("%s:{%s}:state:tickets" % (prefix, T), mapping=m)
        for T, ids in closed.items():
            pipe.hdel("%s:{%s}:state:tickets" % (prefix, T), *ids)
        add_w, del_w = {}, {}
        for wk in dirty_waits:
            w = waiting[wk]
            if w is None:
                del_w.setdefault(wk[0], []).append(wk[1])
            else:
                add_w.setdefault(wk[0], {})[wk[1]] = w
        for T, m in add_w.items():
            pipe.zadd("%s:{%s}:waiting" % (prefix, T), m)
        for T, ids in del_w.items():
            pipe.zrem("%s:{%s}:waiting" % (prefix, T), *ids)
        packed = {}
        for (T, C), cu in custs.items():
            s = cu.pack()
            if s != cu.packed:
                packed.setdefault(T, {})[C] = s
            if cu.visible() == cu.shown:
                continue
            m = {"orders": cu.orders, "open_tickets": cu.open_tickets}
            if cu.manager:
                m["manager"] = cu.manager
            if cu.orders:
                m["last_order_at"] = cu.last_order_at
            if cu.last_nps >= 0:
                m["last_nps"] = cu.last_nps
            pipe.hset("%s:{%s}:customer:%s" % (prefix, T, C), mapping=m)
        for T, m in packed.items():
            pipe.hset("%s:{%s}:state:customers_py" % (prefix, T), mapping=m)
        pipe.hset(self.offsets_key, mapping={
            "%s:%d" % (self.topic, p): o for p, o in nxt.items()})
        pipe.execute()
        self.c.commit(offsets=[TopicPartition(self.topic, p, o)
                               for p, o in nxt.items()], asynchronous=True)

    def run(self):
        stop = []
        signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
        self.c.subscribe([self.topic], on_assign=self.on_assign,
                         on_revoke=self.on_revoke)
        idle_since = time.monotonic()
        t0 = None
        while not stop:
            msgs = self.c.consume(num_messages=self.a.batch, timeout=0.01)
            if not msgs:
                # Idle counts from the assignment: joining takes seconds.
                if not self.assigned:
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since > self.a.exit_idle_ms / 1e3:
                    break
                continue
            idle_since = time.monotonic()
            if t0 is None:
                t0 = idle_since
            now_ms = int(time.time() * 1000)
            evs, nxt = self.decode(msgs, now_ms)
            if not nxt:
                continue
            applied = self.apply(evs, self.load(evs), now_ms)
            self.commit(applied, nxt)
            self.events += len(evs)
            self.batches += 1
        self.c.close()
        secs = (idle_since - t0) if t0 is not None else 0.0
        print("crmpulse_py events=%d invalid=%d batches=%d seconds=%.3f "
              "rate=%.0f cpu_s=%.3f" % (
                  self.events, self.invalid, self.batches, secs,
                  self.events / secs if secs > 0 else 0.0,
                  time.process_time()))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-b", "--bootstrap", required=True)
    ap.add_argument("-t", "--topic", default="crm.events")
    ap.add_argument("-g", "--group", default="crmpulse-py")
    ap.add_argument("--redis", default="127.0.0.1:6379", help="HOST:PORT")
    ap.add_argument("--prefix", default="crm")
    ap.add_argument("--batch", type=int, default=5000,
                    help="messages per consume() and transaction")
    ap.add_argument("--exit-idle-ms", type=int, default=0,
                    help="exit after this long without a message (0: never)")
    ap.add_argument("--minute-retention-ms", type=int,
                    default=48 * 3600 * 1000)
    ap.add_argument("--schema", default=os.path.join(
        here, "..", "..", "..", "schemas", "crm_event.avsc"))
    ap.add_argument("-X", action="append", default=[],
                    metavar="kafka.KEY=VALUE", help="librdkafka property")
    a = ap.parse_args()
    if a.exit_idle_ms <= 0:
        a.exit_idle_ms = float("inf")
    Job(a).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
