#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Self-test of oracle.py: hand-built events, hand-computed expected counters.

Runs without Redis; when redis-server is installed it also checks the Redis comparison
against a scratch server on a free port.
"""

import calendar
import io
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import oracle  # noqa: E402

SCHEMA_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "schemas"))
ORACLE = os.path.join(HERE, "oracle.py")
PY = "/usr/bin/python3"

# ---------------------------------------------------------------------------
# A tiny Avro encoder for CrmEvent, written field by field (union branches explicit).
# ---------------------------------------------------------------------------

PAYLOAD_INDEX = {
    "LeadCreated": 0, "StageChanged": 1, "DealClosed": 2, "OrderPlaced": 3,
    "MessageReceived": 4, "MessageSent": 5, "CallLogged": 6, "TicketOpened": 7,
    "TicketResolved": 8, "SurveyAnswered": 9, "SubscriptionChanged": 10, "WebVisit": 11,
}
CHANNEL_INDEX = {"PHONE": 0, "EMAIL": 1, "CHAT": 2, "MESSENGER": 3, "WEB": 4,
                 "SOCIAL": 5, "IN_PERSON": 6}
SURVEY_INDEX = {"NPS": 0, "CSAT": 1, "CES": 2}
ACTION_INDEX = {"STARTED": 0, "RENEWED": 1, "CANCELLED": 2}


def enc_long(n):
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


def enc_str(s):
    b = s.encode("utf-8")
    return enc_long(len(b)) + b


def enc_bool(v):
    return b"\x01" if v else b"\x00"


def enc_payload(kind, f):
    if kind == "LeadCreated":
        return enc_str(f["deal_id"]) + enc_str(f["source"])
    if kind == "StageChanged":
        return enc_str(f["deal_id"]) + enc_str(f["stage"]) + enc_long(f.get("stage_order", 1))
    if kind == "DealClosed":
        return enc_str(f["deal_id"]) + enc_bool(f["won"]) + enc_long(f.get("amount_minor", 0))
    if kind == "OrderPlaced":
        return enc_str(f["order_id"]) + enc_long(f["amount_minor"])
    if kind in ("MessageReceived", "MessageSent"):
        return enc_str(f["conversation_id"])
    if kind == "CallLogged":
        return (enc_str(f["call_id"]) + enc_bool(f["inbound"]) + enc_bool(f["answered"])
                + enc_long(f["duration_ms"]))
    if kind in ("TicketOpened", "TicketResolved"):
        return enc_str(f["ticket_id"])
    if kind == "SurveyAnswered":
        return enc_long(SURVEY_INDEX[f["kind"]]) + enc_long(f["score"])
    if kind == "SubscriptionChanged":
        return (enc_str(f["subscription_id"]) + enc_long(ACTION_INDEX[f["action"]])
                + enc_long(f["mrr_minor"]))
    if kind == "WebVisit":
        return enc_str(f["session_id"])
    raise ValueError(kind)


_eid = [0]


def avro_event(ptype, tenant, customer, t, mgr=None, ch=None, **f):
    _eid[0] += 1
    body = enc_str("ev-%06d" % _eid[0]) + enc_str(tenant) + enc_str(customer) + enc_long(t)
    body += b"\x00" if mgr is None else enc_long(1) + enc_str(mgr)
    body += b"\x00" if ch is None else enc_long(1) + enc_long(CHANNEL_INDEX[ch])
    body += enc_long(PAYLOAD_INDEX[ptype]) + enc_payload(ptype, f)
    return body


def framed(body, schema_id=1):
    return b"\x00" + struct.pack(">I", schema_id) + body


def rec(flag, key, value):
    out = bytes([flag])
    for part in (key, value):
        if part is None:
            out += struct.pack(">I", 0xFFFFFFFF)
        else:
            out += struct.pack(">I", len(part)) + part
    return out


class Data:
    """Records in production order."""

    def __init__(self):
        self.records = []

    def ev(self, ptype, tenant, customer, t, mgr=None, ch=None, key=None, **f):
        k = key if key is not None else ("%s:%s" % (tenant, customer)).encode()
        self.records.append(rec(0, k, framed(avro_event(ptype, tenant, customer, t, mgr, ch,
                                                          **f))))

    def bad(self, key, value):
        self.records.append(rec(1, key, value))

    def write(self, path, lo=0, hi=None):
        with open(path, "wb") as fh:
            fh.write(b"".join(self.records[lo:hi]))


def ms(iso):
    """'2024-05-01T10:00:00' (UTC) -> epoch ms."""
    import calendar
    return calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%S")) * 1000


# ---------------------------------------------------------------------------
# The scenario. Expected values are written by hand from the counter definitions.
# ---------------------------------------------------------------------------

T0 = ms("2024-05-01T10:00:00")
T1 = ms("2024-06-10T08:00:00")
T2 = ms("2024-07-01T23:59:30")
T3 = ms("2024-08-15T12:00:00")
T4 = ms("2024-09-01T09:00:00")
T5 = ms("2024-10-01T00:00:00")


def build_scenario():
    d = Data()
    # --- messages and response time (tenant msg)
    M = "msg"
    d.ev("MessageReceived", M, "a", T0, ch="CHAT", conversation_id="c1")
    d.bad(b"msg:a", b"\x00\x00\x00\x00\x01garbage")
    d.ev("MessageReceived", M, "a", T0 + 5000, conversation_id="c1")
    d.ev("MessageSent", M, "a", T0 + 40000, mgr="m1", ch="CHAT", conversation_id="c1")
    d.ev("MessageSent", M, "a", T0 + 50000, mgr="m1", conversation_id="c1")
    d.ev("MessageReceived", M, "a", T0 + 60000, conversation_id="c2")
    d.ev("MessageReceived", M, "a", T0 + 120000, conversation_id="c3")
    d.ev("MessageSent", M, "a", T0 + 110000, conversation_id="c3")       # negative -> 0
    d.ev("MessageReceived", M, "a", T0 + 180000, conversation_id="c4")
    d.ev("MessageSent", M, "a", T0 + 195000, conversation_id="c4")       # exactly 15 s
    d.ev("MessageReceived", M, "a", T0 + 240000, conversation_id="c5")
    d.ev("MessageSent", M, "a", T0 + 255001, conversation_id="c5")       # 15.001 s
    d.ev("MessageReceived", M, "a", T0 + 300000, conversation_id="c6")
    d.ev("MessageSent", M, "a", T0 + 300000 + 86400001, conversation_id="c6")  # next day
    d.ev("MessageReceived", M, "b", T0 + 360000, conversation_id="c7")
    d.ev("MessageReceived", M, "b", T0 + 370000, conversation_id="c7")  # no restart
    split = len(d.records)    # second dump file starts here
    d.bad(None, None)
    # --- deals, funnel, sources (tenant deal)
    D, A = "deal", "mgrA"
    d.ev("LeadCreated", D, "a", T1, mgr=A, deal_id="d1", source="google")
    d.ev("LeadCreated", D, "a", T1 + 1000, mgr=A, deal_id="d1", source="fb")  # repeated
    d.ev("StageChanged", D, "a", T1 + 2000, mgr=A, deal_id="d1", stage="qualified")
    d.ev("StageChanged", D, "a", T1 + 3000, mgr=A, deal_id="d1", stage="qualified")
    d.ev("StageChanged", D, "a", T1 + 4000, mgr=A, deal_id="d1", stage="lead")
    d.ev("DealClosed", D, "a", T1 + 10000, mgr=A, ch="PHONE", deal_id="d1", won=True,
         amount_minor=5000)
    d.ev("DealClosed", D, "a", T1 + 11000, mgr=A, deal_id="d1", won=False)  # first wins
    d.ev("StageChanged", D, "a", T1 + 12000, mgr=A, deal_id="d1", stage="proposal")
    d.ev("StageChanged", D, "b", T1 + 20000, mgr=A, deal_id="d2", stage="qualified")
    d.ev("DealClosed", D, "b", T1 + 21000, mgr=A, deal_id="d2", won=True, amount_minor=700)
    d.ev("LeadCreated", D, "b", T1 + 22000, mgr=A, deal_id="d2", source="google")
    d.ev("DealClosed", D, "b", T1 + 23000, mgr=A, deal_id="d2", won=True, amount_minor=999)
    d.ev("DealClosed", D, "c", T1 + 30000, mgr=A, deal_id="d3", won=False)
    d.ev("LeadCreated", D, "c", T1 + 40000, mgr=A, deal_id="d4", source="fb")
    d.ev("DealClosed", D, "c", T1 + 35000, mgr=A, deal_id="d4", won=True, amount_minor=100)
    d.ev("LeadCreated", D, "c", T1 + 50000, mgr=A, deal_id="d5", source="fb")
    d.ev("DealClosed", D, "c", T1 + 60000, mgr=A, deal_id="d5", won=False)
    d.ev("DealClosed", "deal2", "a", T1, deal_id="d1", won=False)       # other tenant
    d.bad(b"deal:a", b"")
    # --- orders (Kafka key differs from the payload: the payload wins)
    O = "ord"
    d.ev("OrderPlaced", O, "A", T2, mgr="x.y-z_1", ch="IN_PERSON", order_id="o1",
         amount_minor=1000)
    d.ev("OrderPlaced", O, "A", T2 + 40000, order_id="o2", amount_minor=0)
    d.ev("OrderPlaced", O, "B", T2, order_id="o3", amount_minor=250, key=b"other:key")
    d.ev("OrderPlaced", "ord2", "A", T2, order_id="o1", amount_minor=10)
    # --- calls
    d.ev("CallLogged", "call", "a", T3, call_id="k1", inbound=True, answered=True,
         duration_ms=60000)
    d.ev("CallLogged", "call", "a", T3, call_id="k2", inbound=True, answered=False,
         duration_ms=0)
    d.ev("CallLogged", "call", "a", T3, call_id="k3", inbound=False, answered=False,
         duration_ms=5000)
    d.ev("CallLogged", "call", "a", T3, call_id="k4", inbound=False, answered=True,
         duration_ms=1000)
    # --- tickets
    K = "tick"
    d.ev("TicketOpened", K, "a", T4, ticket_id="k1")
    d.ev("TicketOpened", K, "a", T4 + 1000, ticket_id="k1")       # already open
    d.ev("TicketResolved", K, "a", T4 + 30000, ticket_id="k1")
    d.ev("TicketResolved", K, "a", T4 + 31000, ticket_id="k1")    # not open
    d.ev("TicketOpened", K, "a", T4 + 40000, ticket_id="k1")      # reopened
    d.ev("TicketResolved", K, "a", T4 + 35000, ticket_id="k1")    # negative -> 0
    d.ev("TicketResolved", K, "a", T4 + 50000, ticket_id="k2")    # never opened
    d.ev("TicketOpened", K, "a", T4 + 50000, ticket_id="k3")
    # --- surveys
    for s in (0, 6, 7, 8, 9, 10):
        d.ev("SurveyAnswered", "surv", "a", T5, kind="NPS", score=s)
    for s in (1, 3, 4, 5):
        d.ev("SurveyAnswered", "surv", "a", T5, kind="CSAT", score=s)
    for s in (1, 7):
        d.ev("SurveyAnswered", "surv", "a", T5, kind="CES", score=s)
    # --- subscriptions and web visits
    U = "subs"
    d.ev("SubscriptionChanged", U, "a", T5, subscription_id="s1", action="STARTED",
         mrr_minor=500)
    d.ev("SubscriptionChanged", U, "a", T5, subscription_id="s1", action="RENEWED",
         mrr_minor=500)
    d.ev("SubscriptionChanged", U, "a", T5, subscription_id="s1", action="CANCELLED",
         mrr_minor=700)
    d.ev("SubscriptionChanged", U, "a", T5, subscription_id="s2", action="CANCELLED",
         mrr_minor=0)
    d.ev("WebVisit", U, "a", T5, ch="WEB", session_id="w1")
    d.ev("WebVisit", U, "a", T5, ch="WEB", session_id="w2")
    d.bad(b"subs:a", b"\x00\x00\x00\x00\x07")
    return d, split


EXPECTED = {
    "msg": {
        "d:2024-05-01": dict(events=14, messages_in=9, messages_out=5, responses=4,
                             response_ms_sum=70001),
        "d:2024-05-02": dict(events=1, messages_out=1, responses=1, response_ms_sum=86400001),
        "d:2024-05-01:rt": dict(b60=1, b15=2, b30=1),
        "d:2024-05-02:rt": dict(binf=1),
        "d:2024-05-01:manager:m1": dict(events=2, messages_out=2, responses=1,
                                        response_ms_sum=40000),
        "d:2024-05-01:channel:chat": dict(events=2, messages_in=1, messages_out=1,
                                          responses=1, response_ms_sum=40000),
        "m:2024-05-01:1000": dict(events=4, messages_in=2, messages_out=2, responses=1,
                                  response_ms_sum=40000),
        "m:2024-05-01:1001": dict(events=2, messages_in=1, messages_out=1, responses=1),
        "m:2024-05-01:1002": dict(events=1, messages_in=1),
        "m:2024-05-01:1003": dict(events=2, messages_in=1, messages_out=1, responses=1,
                                  response_ms_sum=15000),
        "m:2024-05-01:1004": dict(events=2, messages_in=1, messages_out=1, responses=1,
                                  response_ms_sum=15001),
        "m:2024-05-01:1005": dict(events=1, messages_in=1),
        "m:2024-05-01:1006": dict(events=2, messages_in=2),
        "m:2024-05-02:1005": dict(events=1, messages_out=1, responses=1,
                                  response_ms_sum=86400001),
    },
    "deal": {
        "d:2024-06-10": dict(events=17, leads=4, deals_won=3, won_amount_minor=5800,
                             deal_cycle_ms_sum=10000, deal_cycle_count=2, deals_lost=2),
        "d:2024-06-10:manager:mgrA": dict(events=17, leads=4, deals_won=3,
                                          won_amount_minor=5800, deal_cycle_ms_sum=10000,
                                          deal_cycle_count=2, deals_lost=2),
        "d:2024-06-10:channel:phone": dict(events=1, deals_won=1, won_amount_minor=5000,
                                           deal_cycle_ms_sum=10000, deal_cycle_count=1),
        "d:2024-06-10:funnel": {"lead": 4, "stage:qualified": 2, "stage:lead": 1,
                                "stage:proposal": 1, "won": 3, "lost": 2},
        "d:2024-06-10:source:google": dict(leads=2, deals_won=1, won_amount_minor=5000),
        "d:2024-06-10:source:unknown": dict(deals_won=1, won_amount_minor=700, deals_lost=1),
        "d:2024-06-10:source:fb": dict(leads=2, deals_won=1, won_amount_minor=100,
                                       deals_lost=1),
        "m:2024-06-10:0800": dict(events=16, leads=4, deals_won=3, won_amount_minor=5800,
                                  deal_cycle_ms_sum=10000, deal_cycle_count=2, deals_lost=1),
        "m:2024-06-10:0801": dict(events=1, deals_lost=1),
    },
    "deal2": {
        "d:2024-06-10": dict(events=1, deals_lost=1),
        "m:2024-06-10:0800": dict(events=1, deals_lost=1),
        "d:2024-06-10:funnel": dict(lost=1),
        "d:2024-06-10:source:unknown": dict(deals_lost=1),
    },
    "ord": {
        "d:2024-07-01": dict(events=2, orders=2, first_orders=2, order_amount_minor=1250),
        "m:2024-07-01:2359": dict(events=2, orders=2, first_orders=2, order_amount_minor=1250),
        "d:2024-07-01:manager:x.y-z_1": dict(events=1, orders=1, first_orders=1,
                                             order_amount_minor=1000),
        "d:2024-07-01:channel:in_person": dict(events=1, orders=1, first_orders=1,
                                               order_amount_minor=1000),
        "d:2024-07-02": dict(events=1, orders=1, repeat_orders=1),
        "m:2024-07-02:0000": dict(events=1, orders=1, repeat_orders=1),
    },
    "ord2": {
        "d:2024-07-01": dict(events=1, orders=1, first_orders=1, order_amount_minor=10),
        "m:2024-07-01:2359": dict(events=1, orders=1, first_orders=1, order_amount_minor=10),
    },
    "call": {
        "d:2024-08-15": dict(events=4, calls=4, call_ms_sum=66000, calls_inbound=2,
                             calls_missed=1),
        "m:2024-08-15:1200": dict(events=4, calls=4, call_ms_sum=66000, calls_inbound=2,
                                  calls_missed=1),
    },
    "tick": {
        "d:2024-09-01": dict(events=8, tickets_opened=3, tickets_resolved=2,
                             resolution_ms_sum=30000),
        "m:2024-09-01:0900": dict(events=8, tickets_opened=3, tickets_resolved=2,
                                  resolution_ms_sum=30000),
    },
    "surv": {
        "d:2024-10-01": dict(events=12, nps_promoters=2, nps_passives=2, nps_detractors=2,
                             csat_count=4, csat_sum=13, csat_satisfied=2, ces_count=2,
                             ces_sum=8),
        "m:2024-10-01:0000": dict(events=12, nps_promoters=2, nps_passives=2,
                                  nps_detractors=2, csat_count=4, csat_sum=13,
                                  csat_satisfied=2, ces_count=2, ces_sum=8),
    },
    "subs": {
        "d:2024-10-01": dict(events=6, subs_started=1, subs_renewed=1, subs_cancelled=2,
                             mrr_cancelled_minor=700, web_visits=2),
        "m:2024-10-01:0000": dict(events=6, subs_started=1, subs_renewed=1, subs_cancelled=2,
                                  mrr_cancelled_minor=700, web_visits=2),
        "d:2024-10-01:channel:web": dict(events=2, web_visits=2),
    },
}
EXPECTED_WAITING = {"crm:{msg}:waiting": {"c2": T0 + 60000, "c7": T0 + 360000}}
EXPECTED_EVENTS = 15 + 18 + 4 + 4 + 8 + 12 + 6
EXPECTED_INVALID = 4


def tenant_view(model, tenant):
    """{key without 'crm:{T}:': {field: n}} with zero fields dropped."""
    pre = "%s:{%s}:" % (model.prefix, tenant)
    out = {}
    for k, h in model.hashes.items():
        if k.startswith(pre):
            nz = {f: n for f, n in h.items() if n != 0}
            if nz:
                out[k[len(pre):]] = nz
    return out


# ---------------------------------------------------------------------------
# Test runner
# ---------------------------------------------------------------------------

RESULTS = [0, 0]


def test(fn):
    try:
        fn()
        RESULTS[0] += 1
    except Exception:
        RESULTS[1] += 1
        print("FAIL %s" % fn.__name__)
        traceback.print_exc()
    return fn


def eq(got, want, what=""):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


TMP = tempfile.mkdtemp(prefix="oracle-selftest-")
SCEN, SPLIT = build_scenario()
DUMP1 = os.path.join(TMP, "part1.dump")
DUMP2 = os.path.join(TMP, "part2.dump")
DUMP_ALL = os.path.join(TMP, "all.dump")
SCEN.write(DUMP1, 0, SPLIT)
SCEN.write(DUMP2, SPLIT)
SCEN.write(DUMP_ALL)
MODEL = oracle.compute([DUMP1, DUMP2], SCHEMA_DIR)


def make_tenant_test(tenant):
    def t():
        eq(tenant_view(MODEL, tenant), EXPECTED[tenant], tenant)
    t.__name__ = "test_counters_" + tenant
    return t


for _t in EXPECTED:
    test(make_tenant_test(_t))


@test
def test_no_other_tenants_or_keys():
    tenants = {k.split("{", 1)[1].split("}", 1)[0] for k in MODEL.hashes}
    eq(tenants, set(EXPECTED), "tenants")
    for k, h in MODEL.hashes.items():
        for f in h:
            assert f not in ("churn_alerts", "sla_breaches"), (k, f)


@test
def test_waiting_and_counts():
    eq(MODEL.waiting_keys(), EXPECTED_WAITING, "waiting")
    eq(MODEL.events, EXPECTED_EVENTS, "events")
    eq(MODEL.invalid, EXPECTED_INVALID, "invalid")


@test
def test_minute_keys():
    want = set()
    for t, keys in EXPECTED.items():
        want |= {"crm:{%s}:%s" % (t, k) for k in keys if k.startswith("m:")}
    eq(set(MODEL.minute_keys), want, "minute keys")
    for k, at in MODEL.minute_keys.items():
        # EXPIREAT = the minute's start + 48 h, from the key's own name.
        day, hhmm = k.split(":m:")[1].split(":")
        start = calendar.timegm(time.strptime(day + hhmm, "%Y-%m-%d%H%M"))
        eq(at, start + 48 * 3600, "EXPIREAT of " + k)


@test
def test_alerts_count_once_per_alert_id():
    m = oracle.compute([DUMP1], SCHEMA_DIR,
                       minute_retention_ms=30 * 365 * 86400 * 1000)
    before = {k: dict(v) for k, v in m.hashes.items()}
    t = ms("2024-05-01T10:00:30")

    def alert(aid, kind="CHURN_RISK", manager="m1", emitted=1):
        return {"alert_id": aid, "kind": kind, "tenant_id": "msg",
                "customer_id": "c1", "manager_id": manager, "level": "HIGH",
                "risk_score": 0.7, "previous_score": 0.1, "reasons": [],
                "triggered_by": None, "event_time": t, "emitted_at": emitted,
                "model_version": "v"}

    problems = m.add_alerts([alert("a"), alert("a", emitted=2),
                             alert("b", kind="RESPONSE_SLA_BREACH", manager=None)])
    eq(problems, [], "a re-emitted alert (other emitted_at) is the same alert")
    eq(m.alerts, 2, "distinct alerts")
    day = "crm:{msg}:d:2024-05-01"
    eq(m.hashes[day].get("churn_alerts"), 1, "churn_alerts once")
    eq(m.hashes[day].get("sla_breaches"), 1, "sla_breaches")
    eq(m.hashes["crm:{msg}:m:2024-05-01:1000"].get("churn_alerts"), 1, "minute")
    eq(m.hashes[day + ":manager:m1"].get("churn_alerts"), 1, "manager")
    assert "sla_breaches" not in m.hashes[day + ":manager:m1"], "no manager"
    eq(before[day].get("churn_alerts"), None, "events count no alerts")
    changed = alert("a", emitted=3)
    changed["level"] = "CRITICAL"
    eq(len(m.add_alerts([alert("a"), changed])), 1, "same id, other content")


@test
def test_minute_keys_by_worker_clock():
    # Processed long after 2024: every minute had expired, so no minute key,
    # and the day hashes are the same.
    late = oracle.compute([DUMP1, DUMP2], SCHEMA_DIR,
                          processed_from=int(time.time() * 1000))
    eq(late.minute_keys, {}, "no minute keys")
    eq(late.uncertain_keys, set(), "none uncertain")
    eq({k: v for k, v in late.hashes.items() if ":m:" not in k},
       {k: v for k, v in MODEL.hashes.items() if ":m:" not in k}, "day hashes")
    # A processing window around a minute's expiry leaves that key unchecked.
    k = sorted(MODEL.minute_keys)[0]
    at_ms = MODEL.minute_keys[k] * 1000
    mid = oracle.compute([DUMP1, DUMP2], SCHEMA_DIR, processed_from=at_ms - 1,
                         processed_to=at_ms)
    assert k in mid.uncertain_keys and k not in mid.minute_keys, k
    assert k not in mid.hashes, k


@test
def test_one_file_equals_two_files():
    m = oracle.compute([DUMP_ALL], SCHEMA_DIR)
    eq(m.to_json(), MODEL.to_json(), "split vs whole")


@test
def test_rt_bounds():
    cases = [(0, "b15"), (15000, "b15"), (15001, "b30"), (30000, "b30"), (60000, "b60"),
             (60001, "b120"), (900000, "b900"), (3600000, "b3600"), (7200001, "b14400"),
             (28800000, "b28800"), (86400000, "b86400"), (86400001, "binf")]
    for v, f in cases:
        eq(oracle.rt_field(v), f, "rt %d" % v)


@test
def test_prefix():
    m = oracle.compute([DUMP_ALL], SCHEMA_DIR, prefix="p.q")
    assert all(k.startswith("p.q:{") for k in m.hashes)
    eq(tenant_view(m, "call"), EXPECTED["call"], "prefix p.q")
    eq(list(m.waiting_keys()), ["p.q:{msg}:waiting"], "prefixed waiting")


@test
def test_decoder_matches_python_avro():
    import avro.io
    import avro.schema
    with open(os.path.join(SCHEMA_DIR, "crm_event.avsc")) as fh:
        sch = avro.schema.parse(fh.read())
    dec = oracle.load_event_decoder(SCHEMA_DIR)
    # Our encoder's bytes read by python-avro give the same values as our decoder.
    body = avro_event("CallLogged", "t", "c", T3, mgr="m", ch="SOCIAL", call_id="x",
                      inbound=True, answered=False, duration_ms=123456789012)
    ref = avro.io.DatumReader(sch).read(avro.io.BinaryDecoder(io.BytesIO(body)))
    mine, pos = dec(body, 0)
    eq(pos, len(body), "consumed")
    p = dict(mine.pop("payload"))
    eq(p.pop("__name__"), "CallLogged", "branch")
    refp = ref.pop("payload")
    eq(p, refp, "payload")
    ref.pop("occurred_at")
    eq(mine.pop("occurred_at"), T3, "occurred_at")
    eq(mine.pop("__name__"), "CrmEvent", "record name")
    eq(mine, ref, "header")
    mine, _ = dec(avro_event("SurveyAnswered", "t", "c", T5, kind="CES", score=7), 0)
    eq(mine["payload"], {"__name__": "SurveyAnswered", "kind": "CES", "score": 7}, "survey")
    # Primitives written by python-avro's encoder.
    buf = io.BytesIO()
    enc = avro.io.BinaryEncoder(buf)
    enc.write_long(-5)
    enc.write_utf8("héllo")
    v, pos = oracle._dec_long(buf.getvalue(), 0)
    eq(v, -5, "long")
    s, _ = oracle._dec_string(buf.getvalue(), pos)
    eq(s, "héllo", "string")


def expect_data_error(records, **kw):
    p = os.path.join(TMP, "bad.dump")
    with open(p, "wb") as fh:
        fh.write(b"".join(records))
    try:
        oracle.compute([p], SCHEMA_DIR, **kw)
    except oracle.DataError as e:
        return str(e)
    raise AssertionError("no DataError")


def ok_record(**over):
    kw = dict(ptype="WebVisit", tenant="t", customer="c", t=T5, session_id="s")
    kw.update(over)
    ptype = kw.pop("ptype")
    tenant = kw.pop("tenant")
    customer = kw.pop("customer")
    t = kw.pop("t")
    return framed(avro_event(ptype, tenant, customer, t, **kw))


@test
def test_flag0_that_does_not_decode_is_data_error():
    good = ok_record()
    expect_data_error([rec(0, b"k", good + b"\x00")])             # trailing byte
    expect_data_error([rec(0, b"k", good[:-1])])                  # truncated
    expect_data_error([rec(0, b"k", b"\x01" + good[1:])])         # framing magic
    expect_data_error([rec(0, b"k", framed(good[5:], 2))])        # schema id
    expect_data_error([rec(0, b"k", None)])                       # tombstone
    # union index 12 for the payload
    body = good[5:]
    bad_union = body[:-3] + enc_long(12) + body[-2:]
    expect_data_error([rec(0, b"k", framed(bad_union))])
    # flagged valid but against the rules
    expect_data_error([rec(0, b"k", ok_record(tenant="a:b"))])
    expect_data_error([rec(0, b"k", ok_record(t=ms("1999-12-31T23:59:59")))])
    expect_data_error([rec(0, b"k", framed(avro_event("SurveyAnswered", "t", "c", T5,
                                                      kind="NPS", score=11)))])
    expect_data_error([rec(0, b"k", framed(avro_event("OrderPlaced", "t", "c", T5,
                                                      order_id="o", amount_minor=-1)))])
    expect_data_error([rec(0, b"k", framed(avro_event("StageChanged", "t", "c", T5,
                                                      deal_id="d", stage="a.b")))])
    expect_data_error([rec(0, b"k", ok_record(session_id="x" * 129))])
    expect_data_error([rec(0, b"k", ok_record(session_id="a\x85b"))])
    # flagged invalid: not decoded at all, only counted
    p = os.path.join(TMP, "inv.dump")
    with open(p, "wb") as fh:
        fh.write(rec(1, None, b"\xff") + rec(1, b"k", None) + rec(0, b"t:c", good))
    m = oracle.compute([p], SCHEMA_DIR)
    eq((m.events, m.invalid), (1, 2), "counts")


@test
def test_ordering_precondition():
    a = framed(avro_event("MessageReceived", "t", "c", T5, conversation_id="x"))
    b = framed(avro_event("MessageSent", "t", "c", T5, conversation_id="x"))
    msg = expect_data_error([rec(0, b"t:c", a), rec(0, b"t:other", b)])
    assert "conversation_id" in msg, msg
    expect_data_error([rec(0, b"t:c", a), rec(0, None, b)])
    p = os.path.join(TMP, "one.dump")
    with open(p, "wb") as fh:
        fh.write(rec(0, b"t:c", a) + rec(0, b"t:other", b))
    m = oracle.compute([p], SCHEMA_DIR, partitions=1)
    eq(tenant_view(m, "t")["d:2024-10-01"],
       dict(events=2, messages_in=1, messages_out=1, responses=1), "one partition")
    # Stateless payloads may use any key.
    w = ok_record()
    with open(p, "wb") as fh:
        fh.write(rec(0, b"x", w) + rec(0, None, w) + rec(0, b"y", w))
    eq(oracle.compute([p], SCHEMA_DIR).events, 3, "stateless")


def run_cli(*args):
    r = subprocess.run([PY, ORACLE] + list(args), capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


@test
def test_cli_without_redis():
    out_json = os.path.join(TMP, "exp.json")
    rc, out = run_cli("--dump", DUMP1, "--dump", DUMP2, "--schema-dir", SCHEMA_DIR,
                      "--expect-out", out_json, "--dlq-count", str(EXPECTED_INVALID))
    eq(rc, 0, out)
    assert out.startswith("oracle: %d events, %d invalid," % (EXPECTED_EVENTS,
                                                              EXPECTED_INVALID)), out
    with open(out_json) as fh:
        j = json.load(fh)
    eq(j["hashes"]["crm:{call}:d:2024-08-15"]["calls_missed"], 1, "json")
    eq(j["waiting"], {k: v for k, v in EXPECTED_WAITING.items()}, "json waiting")
    rc, out = run_cli("--dump", DUMP_ALL, "--schema-dir", SCHEMA_DIR, "--dlq-count", "3")
    eq(rc, 1, out)
    assert "dlq count: given=3 expected=4" in out, out
    bad = os.path.join(TMP, "cli-bad.dump")
    with open(bad, "wb") as fh:
        fh.write(rec(0, b"k", b"\x00\x00\x00\x00\x01\x02"))
    rc, out = run_cli("--dump", bad, "--schema-dir", SCHEMA_DIR)
    eq(rc, 3, out)
    rc, out = run_cli("--dump", os.path.join(TMP, "missing"), "--schema-dir", SCHEMA_DIR)
    eq(rc, 2, out)


# ---------------------------------------------------------------------------
# Redis comparison against a scratch redis-server
# ---------------------------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def load_expected(r, model):
    r.flushdb()
    pipe = r.pipeline(transaction=False)
    for k, h in model.hashes.items():
        pipe.hset(k, mapping=h)
        if k in model.minute_keys:
            pipe.expireat(k, model.minute_keys[k])
    for k, w in model.waiting_keys().items():
        pipe.zadd(k, w)
    # Keys the comparison must ignore, and an all-zero stray hash.
    pipe.hset("crm:{msg}:customer:a", mapping={"score": "0.5", "events": 3})
    pipe.hset("crm:{msg}:state:deal:d1", "x", 1)
    pipe.hset("crmpulse:offsets:g", "crm.events:0", 99)
    pipe.zadd("crm:{msg}:risk", {"a": 0.5})
    pipe.hset("crm:{msg}:d:2024-05-01:manager:zero", "events", 0)
    pipe.execute()


def redis_tests():
    # Minute keys of 2024 data expire at once with the 48 h retention, so
    # the Redis checks use a model whose minute keys live 30 years.
    global RMODEL
    RMODEL = oracle.compute([DUMP1, DUMP2], SCHEMA_DIR,
                            minute_retention_ms=30 * 365 * 86400 * 1000)
    import redis
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        r = redis.Redis(host="127.0.0.1", port=port)
        for _ in range(100):
            try:
                r.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        url = "redis://127.0.0.1:%d/0" % port

        def mism():
            return oracle.compare_redis(RMODEL, r).mismatches

        @test
        def test_redis_correct():
            load_expected(r, RMODEL)
            rep = oracle.compare_redis(RMODEL, r)
            eq(rep.mismatches, 0, "\n".join(rep.lines))
            assert rep.fields >= sum(len(v) for v in RMODEL.hashes.values())
            rc, out = run_cli("--dump", DUMP1, "--dump", DUMP2, "--schema-dir", SCHEMA_DIR,
                              "--redis-url", url, "--minute-retention-ms", str(30 * 365 * 86400 * 1000), "--dlq-count", "4")
            eq(rc, 0, out)
            assert " 0 mismatches" in out, out

        @test
        def test_redis_zero_fields_absent_ok():
            load_expected(r, RMODEL)
            r.hdel("crm:{msg}:d:2024-07-02", "order_amount_minor")  # no-op: other tenant
            r.hdel("crm:{ord}:d:2024-07-02", "order_amount_minor")   # expected 0
            r.hset("crm:{ord}:d:2024-07-02", "churn_alerts", 0)
            eq(mism(), 0, "absent == 0")

        def mutation(name, fn, want=1):
            def t():
                load_expected(r, RMODEL)
                fn()
                eq(mism(), want, name)
            t.__name__ = "test_redis_detects_" + name
            test(t)

        mutation("wrong_value", lambda: r.hincrby("crm:{deal}:d:2024-06-10:funnel", "lost", 1))
        mutation("missing_field", lambda: r.hdel("crm:{tick}:d:2024-09-01", "tickets_resolved"))
        mutation("extra_field", lambda: r.hset("crm:{call}:d:2024-08-15", "churn_alerts", 1))
        mutation("non_integer", lambda: r.hset("crm:{call}:d:2024-08-15", "calls", "4.0"))
        mutation("unexpected_day_key", lambda: r.hset("crm:{call}:d:2024-08-16", "events", 1))
        mutation("unexpected_source_key",
                 lambda: r.hset("crm:{deal}:d:2024-06-10:source:bing", "leads", 1))
        mutation("unexpected_minute_key",
                 lambda: r.hset("crm:{new}:m:2024-08-15:1201", "events", 1))
        mutation("no_ttl", lambda: r.persist("crm:{call}:m:2024-08-15:1200"))
        mutation("wrong_expireat",
                 lambda: r.expireat("crm:{call}:m:2024-08-15:1200",
                                    RMODEL.minute_keys["crm:{call}:m:2024-08-15:1200"] + 1))
        mutation("waiting_score", lambda: r.zadd("crm:{msg}:waiting", {"c2": T0 + 1}))
        mutation("waiting_extra", lambda: r.zadd("crm:{msg}:waiting", {"c1": T0}))
        mutation("waiting_missing", lambda: r.zrem("crm:{msg}:waiting", "c7"))
        mutation("waiting_unexpected_key", lambda: r.zadd("crm:{tick}:waiting", {"x": 1}))
        mutation("wrong_type",
                 lambda: (r.delete("crm:{msg}:d:2024-05-02:rt"),
                          r.set("crm:{msg}:d:2024-05-02:rt", "x")))
        mutation("missing_key", lambda: r.delete("crm:{deal}:d:2024-06-10:funnel"), want=6)

        @test
        def test_redis_cli_mismatch_exit_1():
            load_expected(r, RMODEL)
            r.hincrby("crm:{surv}:d:2024-10-01", "csat_sum", 2)
            rc, out = run_cli("--dump", DUMP_ALL, "--schema-dir", SCHEMA_DIR,
                              "--redis-url", url, "--minute-retention-ms", str(30 * 365 * 86400 * 1000))
            eq(rc, 1, out)
            assert "1 mismatches" in out, out
            assert "crm:{surv}:d:2024-10-01 csat_sum: redis=15 expected=13" in out, out

        @test
        def test_redis_many_mismatches_listed_up_to_20():
            r.flushdb()
            rc, out = run_cli("--dump", DUMP_ALL, "--schema-dir", SCHEMA_DIR,
                              "--redis-url", url, "--minute-retention-ms", str(30 * 365 * 86400 * 1000))
            eq(rc, 1, out)
            lines = out.strip().split("\n")
            eq(len(lines), 21, "summary + 20 lines")
            n = int(lines[0].split(", ")[-1].split()[0])
            assert n > 20, lines[0]

        @test
        def test_redis_unreachable_exit_2():
            rc, out = run_cli("--dump", DUMP_ALL, "--schema-dir", SCHEMA_DIR,
                              "--redis-url", "redis://127.0.0.1:%d/0" % free_port())
            eq(rc, 2, out)
    finally:
        proc.terminate()
        proc.wait(10)


if shutil.which("redis-server"):
    redis_tests()
else:
    print("redis-server not installed: Redis comparison tests not run")

shutil.rmtree(TMP, ignore_errors=True)
print("%d passed, %d failed" % (RESULTS[0], RESULTS[1]))
sys.exit(1 if RESULTS[1] else 0)
