#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Labelled synthetic churn cohort for crmpulse-fit and the churn benchmarks.

Writes, for one tenant, the labelled-history format crmpulse-fit reads
(schemas/churn-model.md, "Training data"):

  events.csv  tenant_id,customer_id,occurred_at_ms,obs,value
              every observation before the cutoff
  labels.csv  customer_id,churned          1 = no order in the 90 days
                                           after the cutoff
  truth.csv   customer_id,kind,churn_start_ms
              the generator's own story: when the customer started to
              churn (empty when they did not), for alert precision/recall

Customers are a mixture of behaviours, each with a heterogeneous base order
rate (log-normal), its own regularity (gamma inter-order gaps) and order size:

  healthy      keeps buying (only the background dropout below)
  casual       buys rarely; alive, but often no order within 90 days
  fading       from an onset, the order and visit rate halves every 20-60 d
  complaining  tickets left open, low NPS/CSAT, high effort, long waits,
               missed calls; most then stop buying a few weeks later
  cancelling   a subscriber who cancels; most stop buying soon after
  silent       simply stops, with no signal at all

Every customer can also drop out after any order (BG/NBD style, a per-order
probability drawn from a beta distribution) or at an exponential lifetime.
Onsets fall before or after the cutoff, so some churners look healthy at
the cutoff. Nothing here is tuned to any real data set.

--world picks a different, orders-only population instead, to check that a
model fitted on the mixture above transfers to data it was not fitted on:

  bgnbd   Poisson buying at a gamma-distributed rate, dropout after each
          order with a beta-distributed probability (parameters of the
          order of those published for retail panels: r 0.25, alpha 30 d,
          a 0.8, b 2.4)
  pareto  Pareto/NBD: gamma rates, exponential lifetimes with gamma rates
  erlang  as pareto, but regular buyers (Erlang-3 gaps) and a seasonal
          rate (x2 in one month of the year)
  clumpy  as pareto, but buying comes in bursts (gamma gaps of shape 0.3)
          and lifetimes are longer: silence says less, frequency more

Usage: churn_cohort.py --seed N [--customers N] [--cutoff-ms MS]
                       [--world mixture|bgnbd|pareto|erlang|clumpy] --out DIR
"""
import argparse
import csv
import math
import os
import random

DAY = 86400000
HOUR = 3600000
HORIZON = 90 * DAY
DEFAULT_CUTOFF = 1780272000000  # 2026-06-01T00:00:00Z

KINDS = [("healthy", 0.30), ("casual", 0.22), ("fading", 0.14),
         ("complaining", 0.10), ("cancelling", 0.08), ("silent", 0.12),
         ("lead", 0.04)]


def pick_kind(rng):
    u = rng.random()
    for kind, p in KINDS:
        if u < p:
            return kind
        u -= p
    return KINDS[0][0]


class Customer:
    def __init__(self, rng, cid, start, cutoff):
        self.rng = rng
        self.cid = cid
        self.kind = pick_kind(rng)
        self.join = start + int(rng.random() * (cutoff - 14 * DAY - start))
        # Orders per day: log-normal around one per 45 days.
        self.rate = min(1 / 3, max(1 / 500, math.exp(
            rng.gauss(math.log(1 / 45), 0.9))))
        if self.kind == "casual":
            self.rate *= 0.3
        self.shape = rng.choice([0.6, 1.0, 1.0, 2.0, 4.0])
        self.check = math.exp(rng.gauss(math.log(4000), 0.8))  # minor units
        # Background dropout: after any order, and at a lifetime.
        self.p_drop = rng.betavariate(1.0, 14.0)
        self.lifetime_end = self.join + int(rng.expovariate(1 / (4 * 365)) * DAY)
        self.onset = None       # churn story start (fading/complaint/...)
        self.death = None       # no activity at all from here
        self.fade_hl = None
        self.recovers = False
        span_end = cutoff + HORIZON
        if self.kind in ("fading", "complaining", "cancelling", "silent"):
            lo = self.join + 30 * DAY
            if lo < span_end:
                self.onset = lo + int(rng.random() * (span_end - lo))
        if self.kind == "fading" and self.onset is not None:
            self.fade_hl = rng.uniform(20, 60) * DAY
        elif self.kind == "silent" and self.onset is not None:
            self.death = self.onset
        elif self.kind == "complaining" and self.onset is not None:
            if rng.random() < 0.75:
                self.death = self.onset + int(rng.uniform(7, 45) * DAY)
            else:
                self.recovers = True
        elif self.kind == "cancelling" and self.onset is not None:
            if rng.random() < 0.85:
                self.death = self.onset + int(rng.uniform(0, 20) * DAY)
        if self.lifetime_end < (self.death or 1 << 62):
            self.death = self.lifetime_end
        self.events = []
        self.churn_start = None

    def rate_at(self, t):
        r = self.rate
        if self.fade_hl is not None and t > self.onset:
            r *= 0.5 ** ((t - self.onset) / self.fade_hl)
        return r

    def alive(self, t):
        return self.death is None or t < self.death

    def emit(self, t, obs, value=0):
        self.events.append((t, obs, value))

    def simulate(self, end):
        rng = self.rng
        if self.kind == "lead":
            self.simulate_lead(end)
            return
        # Orders: a renewal process with gamma gaps at the current rate.
        t = self.join
        first = True
        while True:
            if not first:
                r = self.rate_at(t)
                gap = rng.gammavariate(self.shape, 1 / (r * self.shape)) * DAY
                t += max(int(gap), 10 * 60 * 1000)
            if t >= end or not self.alive(t):
                break
            first = False
            amount = int(self.check * math.exp(rng.gauss(0, 0.5)))
            self.emit(t, "order", max(amount, 100))
            self.after_order(t)
            if rng.random() < self.p_drop and (self.death is None or
                                               t < self.death):
                self.death = t + 1
                break
        self.background(end)
        if self.kind == "complaining" and self.onset is not None:
            self.complaint(end)
        if self.kind == "cancelling":
            self.subscription(end)
        self.events = [e for e in self.events if e[0] < end and
                       (self.alive(e[0]) or e[1] in ("ticket_resolved",))]
        self.events.sort()
        # When the customer started to churn, in the generator's story.
        starts = []
        if self.kind in ("fading", "silent") and self.onset is not None:
            starts.append(self.onset)
        if self.kind in ("complaining", "cancelling") and \
                self.onset is not None and not self.recovers and \
                self.death is not None:
            starts.append(self.onset)
        if self.death is not None:
            starts.append(self.death)
        self.churn_start = min(starts) if starts else None

    def simulate_lead(self, end):
        # Never orders: visits, messages, maybe a lost deal or a complaint.
        rng = self.rng
        t = self.join
        stop = self.join + int(rng.uniform(10, 200) * DAY)
        while t < min(end, stop):
            self.emit(t, rng.choice(["web_visit", "web_visit",
                                     "message_in"]))
            t += int(rng.expovariate(1 / 6) * DAY) + HOUR
        if rng.random() < 0.3:
            self.emit(min(stop, end - 1), "deal_lost")
        self.death = stop
        self.churn_start = stop

    def after_order(self, t):
        rng = self.rng
        if rng.random() < 0.25:
            happy = self.kind != "complaining" or t < self.onset
            score = rng.randint(7, 10) if happy else rng.randint(0, 6)
            self.emit(t + int(rng.uniform(1, 5) * DAY), "nps", score)
        if rng.random() < 0.15:
            self.emit(t + int(rng.uniform(1, 5) * DAY), "csat",
                      rng.randint(4, 5))
        if rng.random() < 0.06:
            self.emit(t - int(rng.uniform(1, 20) * DAY), "deal_won")

    def background(self, end):
        rng = self.rng
        # Web visits and messages at a multiple of the order rate.
        t = self.join
        while t < end and self.alive(t):
            r = 3 * self.rate_at(t) + 1 / 120
            t += int(rng.expovariate(r) * DAY) + 1000
            if t >= end or not self.alive(t):
                break
            if rng.random() < 0.8:
                self.emit(t, "web_visit")
            else:
                self.emit(t, "message_in")
                self.emit(t + int(rng.lognormvariate(math.log(HOUR), 1.0)),
                          "response",
                          int(rng.lognormvariate(math.log(HOUR), 1.0)))
        # Everyday tickets that get resolved.
        t = self.join
        while True:
            t += int(rng.expovariate(self.rate * 0.08 + 1 / 720) * DAY)
            if t >= end or not self.alive(t):
                break
            self.emit(t, "ticket_opened")
            self.emit(t + int(rng.uniform(0.2, 6) * DAY), "ticket_resolved", t)
        if rng.random() < 0.05:
            self.emit(self.join + int(rng.uniform(0, 400) * DAY), "deal_lost")
        if rng.random() < 0.04:
            self.emit(self.join + int(rng.uniform(0, 400) * DAY),
                      "call_missed")

    def complaint(self, end):
        rng = self.rng
        t = self.onset
        for _ in range(rng.randint(1, 3)):
            opened = t + int(rng.uniform(0, 10) * DAY)
            self.emit(opened, "ticket_opened")
            if self.recovers or rng.random() < 0.3:
                self.emit(opened + int(rng.uniform(5, 30) * DAY),
                          "ticket_resolved", opened)
        self.emit(t + int(rng.uniform(2, 12) * DAY), "nps", rng.randint(0, 4))
        if rng.random() < 0.6:
            self.emit(t + int(rng.uniform(2, 12) * DAY), "csat",
                      rng.randint(1, 2))
        if rng.random() < 0.5:
            self.emit(t + int(rng.uniform(2, 12) * DAY), "ces",
                      rng.randint(5, 7))
        for _ in range(rng.randint(0, 3)):
            w = t + int(rng.uniform(0, 14) * DAY)
            self.emit(w, "message_in")
            self.emit(w + 1, "response", int(rng.uniform(6, 72) * HOUR))
        for _ in range(rng.randint(0, 3)):
            self.emit(t + int(rng.uniform(0, 14) * DAY), "call_missed")
        if rng.random() < 0.3:
            self.emit(t + int(rng.uniform(0, 20) * DAY), "deal_lost")
        # Force the story into the alive window.
        if self.death is not None and self.death < t + 15 * DAY:
            self.death = t + 15 * DAY

    def subscription(self, end):
        rng = self.rng
        mrr = int(rng.uniform(10, 200)) * 100
        s = self.join + int(rng.uniform(0, 30) * DAY)
        self.emit(s, "sub_started")
        t = s + 30 * DAY
        stop = self.onset if self.onset is not None else end
        while t < min(stop, end):
            self.emit(t, "sub_renewed")
            t += 30 * DAY
        if self.onset is not None and self.onset < end:
            self.emit(self.onset, "sub_cancelled", mrr)
            if self.death is not None and self.death <= self.onset:
                self.death = self.onset + 1


def world_orders(rng, world, join, end):
    """Order times of one customer of an orders-only world."""
    out = []
    if world == "bgnbd":
        lam = rng.gammavariate(0.25, 1 / 30)  # per day
        p = rng.betavariate(0.8, 2.4)
        t = join
        out.append(t)
        while True:
            if lam <= 0:
                break
            t += int(rng.expovariate(lam) * DAY) + 1
            if t >= end:
                break
            out.append(t)
            if rng.random() < p:
                break
        return out
    lam = rng.gammavariate(0.6, 1 / 25)
    mu = rng.gammavariate(0.8, 1 / 400)
    death = join + int(rng.expovariate(mu) * DAY) if mu > 0 else end
    t = join
    out.append(t)
    if world == "clumpy":
        mu = rng.gammavariate(0.8, 1 / 900)
        death = join + int(rng.expovariate(mu) * DAY) if mu > 0 else end
    shape = {"erlang": 3, "clumpy": 0.3}.get(world, 1)
    while lam > 0:
        gap = rng.gammavariate(shape, 1 / (lam * shape))
        if world == "erlang":
            # Seasonal: one month a year buys at twice the rate.
            doy = (t // DAY) % 365
            if 300 <= doy < 330:
                gap /= 2
        t += int(gap * DAY) + 1
        if t >= min(end, death):
            break
        out.append(t)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--customers", type=int, default=8000)
    ap.add_argument("--cutoff-ms", type=int, default=DEFAULT_CUTOFF)
    ap.add_argument("--history-days", type=int, default=730)
    ap.add_argument("--tenant", default="t1")
    ap.add_argument("--world", default="mixture",
                    choices=["mixture", "bgnbd", "pareto", "erlang",
                             "clumpy"])
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    rng = random.Random(args.seed)
    cutoff = args.cutoff_ms
    start = cutoff - args.history_days * DAY
    end = cutoff + HORIZON
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "events.csv"), "w", newline="") as ev, \
            open(os.path.join(args.out, "labels.csv"), "w", newline="") as lb, \
            open(os.path.join(args.out, "truth.csv"), "w", newline="") as tr:
        evw, lbw, trw = csv.writer(ev), csv.writer(lb), csv.writer(tr)
        evw.writerow(["tenant_id", "customer_id", "occurred_at_ms", "obs",
                      "value"])
        lbw.writerow(["customer_id", "churned"])
        trw.writerow(["customer_id", "kind", "churn_start_ms"])
        for i in range(args.customers if args.world != "mixture" else 0):
            cid = "%s%d-%06d" % (args.world, args.seed, i)
            join = start + int(rng.random() * (cutoff - 14 * DAY - start))
            orders = world_orders(rng, args.world, join, end)
            for t in orders:
                if t < cutoff:
                    evw.writerow([args.tenant, cid, t, "order",
                                  int(rng.lognormvariate(8, 0.8))])
            future = any(cutoff <= t < end for t in orders)
            lbw.writerow([cid, 0 if future else 1])
            trw.writerow([cid, args.world, ""])
        for i in range(args.customers if args.world == "mixture" else 0):
            c = Customer(rng, "c%d-%06d" % (args.seed, i), start, cutoff)
            c.simulate(end)
            future = any(t >= cutoff and o == "order" for t, o, _ in c.events)
            for t, obs, value in c.events:
                if t < cutoff:
                    evw.writerow([args.tenant, c.cid, t, obs, value])
            lbw.writerow([c.cid, 0 if future else 1])
            trw.writerow([c.cid, c.kind,
                          "" if c.churn_start is None else c.churn_start])


if __name__ == "__main__":
    main()
