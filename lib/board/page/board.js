// SPDX-License-Identifier: Apache-2.0
// crmpulse wallboard: reads /api/tenants/T/board, renders it, and follows
// /api/events (SSE). A `live` message moves today's counters at once and
// schedules a re-read of the hashes (the truth); an `alert` joins the
// ticker; a (re)connect or `resync` re-reads everything. No libraries.
(function () {
  "use strict";

  var params = new URLSearchParams(location.search);
  var pinned = params.get("tenant");            // ?tenant=T pins a tenant
  var rotateS = parseInt(params.get("rotate") || "45", 10); // TV rotation
  // freshAfter: server time (ms) an answer must be read after to include
  // what the last live message / reconnect announced.
  var state = { tenant: null, tenants: [], board: null, offsetMs: 0, freshAfter: 0,
                lastUpdate: 0, lastEvent: 0 };
  var es = null, refetchTimer = null, rotateTimer = null, fetchSeq = 0, staleRetries = 0;

  // ---- formatting ----
  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function num(v) { return typeof v === "number" && isFinite(v) ? v : 0; }
  // The team's language: ?lang=, else board.lang (from /api/settings),
  // else English; numbers, money and dates in its locale.
  var I = window.CP_I18N.make(params.get("lang") || "en");
  var settings = { lang: "", currency: {}, thresholds: [] };
  // board.thresholds: "rt_avg_s>3600, missed>10" -> [{kpi, op, v}].
  function parseThresholds(text) {
    return String(text || "").split(",").map(function (x) {
      var m = /^\s*([a-z_]+)\s*([<>])\s*(-?[0-9.eE+-]+)\s*$/.exec(x);
      return m ? { kpi: m[1], op: m[2], v: parseFloat(m[3]) } : null;
    }).filter(function (x) { return x && isFinite(x.v); });
  }
  // Red while a tile's value passes its threshold (a traffic light).
  function overThreshold(kpi, v) {
    return isFinite(v) && settings.thresholds.some(function (t) {
      return t.kpi === kpi && (t.op === ">" ? v > t.v : v < t.v);
    });
  }
  function T(key, args) { return I.t(key, args); }
  function fmtInt(v) { return Math.round(num(v)).toLocaleString(I.locale); }
  function fmtDec(v, digits) {
    return num(v).toLocaleString(I.locale, { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }
  // Amounts are in minor units of the tenant's currency (board.currency):
  // shown as money in the team's locale, compact once they are large.
  function fmtMoney(minor) {
    var cur = settings.currency[state.tenant] || settings.currency["*"], opts, exp = 2;
    if (cur) {
      try {
        exp = new Intl.NumberFormat("en", { style: "currency", currency: cur }).resolvedOptions().maximumFractionDigits;
      } catch (e) { cur = null; }
    }
    var v = num(minor) / Math.pow(10, exp);
    opts = v >= 1e4 ? { notation: "compact", maximumFractionDigits: v >= 1e6 ? 2 : 1 }
      : v >= 100 ? { maximumFractionDigits: 0 } : { minimumFractionDigits: exp, maximumFractionDigits: exp };
    if (cur) { opts.style = "currency"; opts.currency = cur; }
    return v.toLocaleString(I.locale, opts);
  }
  function fmtPct(p) { return isFinite(p) ? (p * 100).toFixed(0) + "%" : "–"; }
  // A YYYY-MM-DD key day in the team's date form.
  function fmtDay(d) {
    var t = Date.parse(String(d) + "T00:00:00Z");
    if (!isFinite(t)) return String(d);
    return new Date(t).toLocaleDateString(I.locale, { timeZone: "UTC", year: "numeric", month: "short", day: "numeric" });
  }
  // A churn probability: never a bare 0% or 100% (the engine never knows
  // that much), "<1%" and ">99%" at the ends.
  function fmtProb(p) {
    if (!isFinite(p)) return "–";
    if (p < 0.01) return "<1%";
    if (p > 0.99) return ">99%";
    return Math.round(p * 100) + "%";
  }
  // User text (ids, names, reasons) in its own bidi island: an id holding
  // U+202E must not reverse what follows it.
  function bdi(text, cls) { return el("bdi", cls || "", String(text)); }
  // A conversion from one day's counts: more than 100% happens when deals
  // entered earlier moved on today; it says nothing, so it is not shown.
  function fmtConv(p) { return isFinite(p) && p <= 1 ? fmtPct(p) : "–"; }
  function fmtDur(ms) {
    if (!isFinite(ms) || ms < 0) return "–";
    var s = ms / 1000;
    if (s < 60) return fmtDec(s, 0) + T("unit.s");
    if (s < 3600) return fmtDec(s / 60, s < 600 ? 1 : 0) + T("unit.m");
    if (s < 86400) return fmtDec(s / 3600, 1) + T("unit.h");
    return fmtDec(s / 86400, 1) + T("unit.d");
  }
  function ratio(a, b) { return num(b) > 0 ? num(a) / num(b) : NaN; }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  // ---- derived figures (the API serves raw counters only) ----
  var KPIS = [
    { id: "events", label: "Events", f: function (c) { return num(c.events); }, fmt: fmtInt },
    { id: "leads", label: "Leads", f: function (c) { return num(c.leads); }, fmt: fmtInt },
    { id: "orders", label: "Orders", f: function (c) { return num(c.orders); }, fmt: fmtInt },
    { id: "revenue", label: "Revenue", f: function (c) { return num(c.order_amount_minor); }, fmt: fmtMoney },
    { id: "avg_check", label: "Average check", f: function (c) { return ratio(c.order_amount_minor, c.orders); }, fmt: fmtMoney, rate: true },
    { id: "repeat", label: "Repeat orders", f: function (c) { return ratio(c.repeat_orders, c.orders); }, fmt: fmtPct, rate: true },
    { id: "deals_won", label: "Deals won", f: function (c) { return num(c.deals_won); }, fmt: fmtInt },
    { id: "missed", label: "Missed calls", f: function (c) { return num(c.calls_missed); }, fmt: fmtInt, lowerIsBetter: true }
  ];

  // Some languages' numbers are wider ("12,8 тыс."): a value that would
  // spill out of its tile is set smaller until it fits, never cut off.
  function fitWidth(node) {
    node.style.fontSize = "";
    var w = node.clientWidth, need = node.scrollWidth;
    if (w > 0 && need > w + 1)
      node.style.fontSize = Math.max(60, Math.floor(100 * w / need)) + "%";
  }
  function renderKpis(c, prev, flash) {
    var box = $("kpis");
    if (!box.firstChild) {
      KPIS.forEach(function (k) {
        var t = el("div", "kpi");
        t.id = "kpi-" + k.id;
        t.appendChild(el("div", "label", T("kpi." + k.id)));
        t.appendChild(el("div", "value", "–"));
        t.appendChild(el("div", "cmp", ""));
        box.appendChild(t);
      });
    }
    KPIS.forEach(function (k) {
      var t = $("kpi-" + k.id), v = k.f(c), p = k.f(prev || {});
      var valueEl = t.querySelector(".value"), cmpEl = t.querySelector(".cmp");
      var text = isFinite(v) ? k.fmt(v) : "–";
      if (valueEl.textContent !== text) {
        valueEl.textContent = text;
        if (flash) {
          valueEl.classList.remove("flash");
          void valueEl.offsetWidth; // restarts the animation
          valueEl.classList.add("flash");
        }
      }
      t.dataset.value = isFinite(v) ? String(v) : "";
      t.classList.toggle("alarm", overThreshold(k.id, v));
      fitWidth(valueEl);
      clear(cmpEl);
      cmpEl.appendChild(document.createTextNode(T("last_wk", { v: isFinite(p) ? k.fmt(p) : "–" }) + " "));
      // Last week's day is complete and today's is not (minute keys live
      // 48 h only): a count is shown beside it, only rates get an arrow.
      if (k.rate && isFinite(v) && isFinite(p) && p > 0) {
        var d = (v - p) / p, better = k.lowerIsBetter ? d < 0 : d > 0;
        cmpEl.appendChild(el("span", d === 0 ? "" : better ? "up" : "down",
          (d >= 0 ? "▲" : "▼") + Math.abs(d * 100).toFixed(0) + "%"));
      }
      fitWidth(cmpEl);
    });
  }

  // ---- SVG charts ----
  var SVGNS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVGNS, tag);
    Object.keys(attrs || {}).forEach(function (a) { e.setAttribute(a, attrs[a]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }
  // Chart geometry follows the root font size, which follows the screen.
  function rem() {
    return parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
  }
  function chartBox(node) {
    var r = node.getBoundingClientRect();
    return { w: Math.max(200, Math.floor(r.width)), h: Math.max(120, Math.floor(r.height)) };
  }

  // Funnel: lead, then the stages by how many deals entered them (the hash
  // has no stage order), then won; lost beside. Conversion = stage / previous.
  function funnelStages(f) {
    var st = [];
    Object.keys(f || {}).forEach(function (k) {
      if (k.indexOf("stage:") === 0) st.push({ name: k.slice(6), n: num(f[k]) });
    });
    st.sort(function (a, b) { return b.n - a.n || a.name.localeCompare(b.name); });
    var out = [{ name: T("funnel.lead"), n: num(f.lead), cls: "" }];
    st.forEach(function (s) { out.push({ name: s.name, n: s.n, cls: "" }); });
    out.push({ name: T("funnel.won"), n: num(f.won), cls: "won" });
    return out;
  }

  function renderFunnel(f, prevF) {
    var node = $("funnel"), box = chartBox(node), stages = funnelStages(f || {});
    var max = Math.max.apply(null, stages.map(function (s) { return s.n; }).concat([1]));
    var r = rem(), labelW = Math.min(8 * r, box.w * 0.3), rowH = box.h / stages.length;
    var barMax = box.w - labelW - 7.5 * r, s = svg("svg", { viewBox: "0 0 " + box.w + " " + box.h });
    stages.forEach(function (st, i) {
      var y = i * rowH, mid = y + rowH / 2 + 0.33 * r;
      var bh = Math.max(4, rowH * 0.62), w = Math.max(2, barMax * st.n / max);
      s.appendChild(svg("text", { x: 0, y: mid, class: "axis" }, st.name));
      s.appendChild(svg("rect", { x: labelW, y: y + (rowH - bh) / 2, width: w, height: bh, rx: 3, class: "bar " + st.cls }));
      var t = svg("text", { x: labelW + w + 0.4 * r, y: mid }, fmtInt(st.n));
      if (i > 0) {
        // Stage-to-stage conversion: of the deals in the stage above.
        t.appendChild(svg("tspan", { class: "conv", dx: 0.4 * r }, fmtConv(ratio(st.n, stages[i - 1].n))));
      }
      s.appendChild(t);
    });
    clear(node);
    node.appendChild(s);
    var lost = num((f || {}).lost), wonWk = num((prevF || {}).won);
    $("funnel-note").textContent = T("funnel.note", { l: fmtInt(lost), w: fmtInt(wonWk) });
  }

  var RT_BUCKETS = ["b15", "b30", "b60", "b120", "b300", "b600", "b900", "b1800",
                    "b3600", "b7200", "b14400", "b28800", "b86400", "binf"];
  function rtLabel(b) {
    if (b === "binf") return ">1d";
    var s = parseInt(b.slice(1), 10);
    return s < 60 ? s + "s" : s < 3600 ? s / 60 + "m" : s / 3600 + "h";
  }
  function renderRt(rt, c) {
    var node = $("rt"), box = chartBox(node);
    var vals = RT_BUCKETS.map(function (b) { return num((rt || {})[b]); });
    var max = Math.max.apply(null, vals.concat([1]));
    var r = rem(), bottom = 1.3 * r, top = 1.1 * r, colW = box.w / vals.length;
    var s = svg("svg", { viewBox: "0 0 " + box.w + " " + box.h });
    vals.forEach(function (v, i) {
      var h = (box.h - bottom - top) * v / max, x = i * colW + colW * 0.12;
      s.appendChild(svg("rect", { x: x, y: box.h - bottom - h, width: colW * 0.76, height: Math.max(1, h), rx: 2, class: "bar" }));
      if (v > 0) s.appendChild(svg("text", { x: x + colW * 0.38, y: box.h - bottom - h - 0.25 * r, "text-anchor": "middle", class: "axis" }, fmtInt(v)));
      s.appendChild(svg("text", { x: x + colW * 0.38, y: box.h - 0.3 * r, "text-anchor": "middle", class: "axis" }, rtLabel(RT_BUCKETS[i])));
    });
    clear(node);
    node.appendChild(s);
    var avgMs = ratio(c.response_ms_sum, c.responses);
    $("rt-avg").textContent = T("rt.avg", { v: fmtDur(avgMs) });
    $("rt-avg").classList.toggle("alarm", overThreshold("rt_avg_s", avgMs / 1000));
    $("rt-note").textContent = T("rt.note", { n: fmtInt(c.responses) });
  }

  // ---- service, tables, risk, ticker ----
  function item(label, value, sub, id) {
    var d = el("div", "item");
    if (id) d.id = id;
    d.appendChild(el("div", "label", label));
    d.appendChild(el("div", "value", value));
    d.appendChild(el("div", "sub", sub || ""));
    return d;
  }
  function npsOf(c) {
    var p = num(c.nps_promoters), d = num(c.nps_detractors), n = p + d + num(c.nps_passives);
    return n > 0 ? Math.round((p - d) * 100 / n) : NaN;
  }
  function renderService(b) {
    var c = b.today.counters, w = b.waiting, node = $("service");
    var oldest = w.oldest.length ? Date.now() + state.offsetMs - w.oldest[0].since_ms : NaN;
    var nps = npsOf(c);
    clear(node);
    var csat = ratio(c.csat_sum, c.csat_count), ces = ratio(c.ces_sum, c.ces_count);
    node.appendChild(item(T("svc.waiting"), fmtInt(w.count),
      w.count ? T("svc.oldest", { v: fmtDur(oldest) }) : T("svc.none"), "svc-waiting"));
    node.appendChild(item(T("svc.missed"), fmtInt(c.calls_missed), T("svc.inbound", { n: fmtInt(c.calls_inbound) })));
    node.appendChild(item(T("svc.tickets"), fmtInt(c.tickets_opened) + " / " + fmtInt(c.tickets_resolved),
      T("svc.resolution", { v: fmtDur(ratio(c.resolution_ms_sum, c.tickets_resolved)) })));
    node.appendChild(item("NPS", isFinite(nps) ? String(nps) : "–",
      T("svc.answers", { n: fmtInt(num(c.nps_promoters) + num(c.nps_passives) + num(c.nps_detractors)) })));
    node.appendChild(item("CSAT", fmtPct(ratio(c.csat_satisfied, c.csat_count)),
      T("svc.csat", { v: isFinite(csat) ? fmtDec(csat, 2) : "–" })));
    node.appendChild(item("CES", isFinite(ces) ? fmtDec(ces, 2) : "–", T("svc.ces", { n: fmtInt(c.ces_count) })));
  }

  function table(node, head, rows) {
    clear(node);
    var tr = el("tr");
    head.forEach(function (h) { tr.appendChild(el("th", "", h)); });
    node.appendChild(tr);
    if (!rows.length) {
      var r = el("tr"), td = el("td", "empty", T("no_data"));
      td.colSpan = head.length;
      r.appendChild(td);
      node.appendChild(r);
    }
    rows.forEach(function (cells) {
      var r = el("tr");
      cells.forEach(function (c) { r.appendChild(el("td", "", c)); });
      node.appendChild(r);
    });
  }
  function renderManagers(m) {
    var list = Object.keys(m || {}).map(function (k) { return { name: k, c: m[k] }; });
    list.sort(function (a, b) {
      return num(b.c.won_amount_minor) - num(a.c.won_amount_minor) ||
        num(b.c.deals_won) - num(a.c.deals_won) || num(b.c.events) - num(a.c.events);
    });
    table($("managers"), [T("col.manager"), T("col.won"), T("col.amount"), T("col.replies"), T("col.avg_reply"), T("col.missed")],
      list.slice(0, 8).map(function (x, i) {
        return [(i + 1) + ". " + x.name, fmtInt(x.c.deals_won), fmtMoney(x.c.won_amount_minor),
          fmtInt(x.c.responses), fmtDur(ratio(x.c.response_ms_sum, x.c.responses)), fmtInt(x.c.calls_missed)];
      }));
  }
  function renderSources(s) {
    var list = Object.keys(s || {}).map(function (k) { return { name: k, c: s[k] }; });
    list.sort(function (a, b) { return num(b.c.leads) - num(a.c.leads) || a.name.localeCompare(b.name); });
    table($("sources"), [T("col.source"), T("col.leads"), T("col.won"), T("col.lost"), T("col.conv"), T("col.amount")],
      list.slice(0, 8).map(function (x) {
        return [x.name, fmtInt(x.c.leads), fmtInt(x.c.deals_won), fmtInt(x.c.deals_lost),
          fmtConv(ratio(x.c.deals_won, x.c.leads)), fmtMoney(x.c.won_amount_minor)];
      }));
  }
  function renderRisk(r) {
    var node = $("risk");
    clear(node);
    var list = ((r && r.customers) || []).slice();
    // ?sort=value: the customers with the most at stake first (probability
    // x their monthly value), among the most likely to leave.
    if (params.get("sort") === "value")
      list.sort(function (a, b) { return num(b.value_at_risk_minor) - num(a.value_at_risk_minor); });
    if (!list.length) node.appendChild(el("li", "empty", T("risk.none")));
    list.forEach(function (c) {
      var li = el("li"), who = el("div", "who"), lvl = String(c.level || "none");
      who.appendChild(el("span", "level " + lvl, T("level." + lvl)));
      who.appendChild(bdi(c.customer));
      if (c.manager) who.appendChild(bdi(c.manager, "muted"));
      if (num(c.value_at_risk_minor) > 0)
        who.appendChild(el("span", "muted value", fmtMoney(c.value_at_risk_minor)));
      who.appendChild(el("span", "score", fmtProb(num(typeof c.score === "number" ? c.score : c.risk))));
      li.appendChild(who);
      // What a manager can do about it, from the model file.
      if (c.action) li.appendChild(bdi(c.action, "action"));
      var reasons = Array.isArray(c.reasons) ? c.reasons.slice(0, 3) : [];
      var ul = el("ul", "reasons");
      reasons.forEach(function (x) {
        if (x && (x.detail || x.factor)) {
          var item = el("li");
          item.appendChild(bdi(x.detail || x.factor));
          ul.appendChild(item);
        }
      });
      li.appendChild(ul);
      node.appendChild(li);
    });
    // As many customers as fit, each with all three reasons.
    while (node.children.length > 1 && node.scrollHeight > node.clientHeight + 1)
      node.removeChild(node.lastChild);
  }

  // One churn alert: time, level, customer (manager), probability, the top
  // reason; user text in bdi islands.
  function alertNode(a, fresh) {
    var t = new Date(num(a.event_time) || num(a.emitted_at));
    var hh = ("0" + t.getUTCHours()).slice(-2) + ":" + ("0" + t.getUTCMinutes()).slice(-2);
    var span = el("span", "alert" + (fresh ? " fresh" : ""));
    span.dataset.alertId = String(a.alert_id || "");
    span.appendChild(el("span", "t", hh));
    span.appendChild(document.createTextNode(T("churn.alert", { l: T("level." + String(a.level || "none").toLowerCase()) })));
    span.appendChild(bdi(a.customer_id));
    if (a.manager_id) {
      span.appendChild(document.createTextNode(" ("));
      span.appendChild(bdi(a.manager_id));
      span.appendChild(document.createTextNode(")"));
    }
    if (typeof a.risk_score === "number")
      span.appendChild(document.createTextNode(" " + fmtProb(a.risk_score)));
    if (Array.isArray(a.reasons) && a.reasons[0]) {
      span.appendChild(document.createTextNode(" — "));
      span.appendChild(bdi(a.reasons[0].detail || a.reasons[0].factor));
    }
    return span;
  }
  // SLA breaches are a count, not a flood: the last hour's, from the API.
  function renderSla(sla) {
    var n = sla ? num(sla.last_hour) : 0;
    $("sla").textContent = T("sla", { n: fmtInt(n) });
    $("sla").className = "sla" + (n > 0 ? " bad" : "");
  }
  function renderTicker(alerts, freshId) {
    var node = $("ticker");
    clear(node);
    node.classList.remove("scroll");
    if (!alerts.length) { node.appendChild(el("span", "empty", T("churn.none"))); return; }
    // The list twice, so the scroll (to -50%) loops without a jump.
    for (var rep = 0; rep < 2; rep++) {
      alerts.slice(0, 20).forEach(function (a) {
        node.appendChild(alertNode(a, a.alert_id === freshId));
      });
    }
    if (node.scrollWidth / 2 > node.parentNode.clientWidth) {
      node.style.setProperty("--ticker-s", Math.max(20, node.scrollWidth / 120) + "s");
      node.classList.add("scroll");
    }
  }

  function render(flash) {
    var b = state.board;
    if (!b) return;
    $("day").textContent = T("day", { d: fmtDay(b.day), w: fmtDay(b.compare.week_ago.day) });
    renderKpis(b.today.counters, b.compare.week_ago.counters, flash);
    renderFunnel(b.today.funnel, b.compare.week_ago.funnel);
    renderRt(b.today.rt, b.today.counters);
    renderService(b);
    renderManagers(b.today.managers);
    renderSources(b.today.sources);
    renderRisk(b.risk);
    renderTicker(churnOf(b.alerts), null);
    renderSla(b.alerts.sla);
  }
  function churnOf(alerts) {
    return (alerts && alerts.churn) || [];
  }

  // ---- data ----
  function getJson(url) {
    return fetch(url, { cache: "no-store" }).then(function (r) {
      if (!r.ok) throw new Error(url + ": HTTP " + r.status);
      return r.json();
    });
  }
  // A TV must never show old numbers as if they were live: while down, the
  // page is dimmed and says since when it has had nothing new.
  function hhmmss(ms) {
    var t = new Date(ms);
    return ("0" + t.getUTCHours()).slice(-2) + ":" + ("0" + t.getUTCMinutes()).slice(-2) +
      ":" + ("0" + t.getUTCSeconds()).slice(-2);
  }
  function setStatus(cls, text) {
    var down = cls === "down";
    if (down && state.lastUpdate)
      text = T("status.lost", { why: text, t: hhmmss(state.lastUpdate) });
    $("status").className = "status " + cls;
    $("status-text").textContent = text;
    document.body.classList.toggle("offline", down && !!state.board);
  }
  // No event of the tenant for STALE_MS: the numbers are right, but old.
  var STALE_MS = 15 * 60 * 1000;
  function markStale() {
    var b = state.board, quiet = state.lastEvent && Date.now() - state.lastEvent > STALE_MS;
    $("stale").textContent = b && quiet ? T("stale", { t: hhmmss(state.lastEvent) }) : "";
  }

  function loadBoard() {
    if (!state.tenant) return Promise.resolve();
    var seq = ++fetchSeq, t = state.tenant;
    return getJson("/api/tenants/" + encodeURIComponent(t) + "/board").then(function (b) {
      if (seq !== fetchSeq || t !== state.tenant) return; // a newer read won
      if (num(b.now_ms) < state.freshAfter && staleRetries++ < 10) {
        // Read before the change we were told about (the server may answer
        // from its cache while it reads Redis): keep what we show, ask again.
        setTimeout(loadBoard, 300);
        return;
      }
      staleRetries = 0;
      state.offsetMs = num(b.now_ms) - Date.now();
      var before = state.board && state.board.tenant === b.tenant ? num(state.board.today.counters.events) : -1;
      if (num(b.today && b.today.counters && b.today.counters.events) !== before) state.lastEvent = Date.now();
      state.lastUpdate = Date.now();
      state.board = b;
      document.body.classList.remove("offline");
      render(false);
      markStale();
    }).catch(function () { setStatus("down", T("status.no_data")); });
  }
  // The next answer must be read after now (server clock). Only once the
  // offset to the server clock is known, so a skewed TV clock cannot stall.
  function needFresh() {
    if (state.board)
      state.freshAfter = Math.max(state.freshAfter, Date.now() + state.offsetMs);
  }
  // Live messages are hints; the hashes are the truth: re-read shortly
  // after, once the 1 s server cache has surely expired.
  function scheduleRefetch() {
    needFresh();
    if (refetchTimer) return;
    refetchTimer = setTimeout(function () { refetchTimer = null; loadBoard(); }, 1200);
  }

  function onLive(ev) {
    var m;
    try { m = JSON.parse(ev.data); } catch (e) { return; }
    var b = state.board;
    if (b && m.tenant === state.tenant && m.deltas && num(m.deltas.events) > 0) {
      state.lastEvent = Date.now();
      state.lastUpdate = Date.now();
    }
    if (b && m.tenant === state.tenant && m.day === b.day && m.deltas) {
      var c = b.today.counters;
      Object.keys(m.deltas).forEach(function (k) { c[k] = num(c[k]) + num(m.deltas[k]); });
      renderKpis(c, b.compare.week_ago.counters, true);
      renderService(b);
    }
    scheduleRefetch();
  }
  function onAlert(ev) {
    var a;
    try { a = JSON.parse(ev.data); } catch (e) { return; }
    var b = state.board;
    if (!b || a.tenant_id !== state.tenant) return;
    if (a.kind === "RESPONSE_SLA_BREACH") {
      // Counted in the SLA lane; the next re-read brings the exact count.
      if (b.alerts.sla) b.alerts.sla.last_hour = num(b.alerts.sla.last_hour) + 1;
      renderSla(b.alerts.sla);
      scheduleRefetch();
      return;
    }
    if (String(a.level).toUpperCase() === "CRITICAL") chime();
    var list = churnOf(b.alerts).filter(function (x) { return x.alert_id !== a.alert_id; });
    list.unshift(a);
    b.alerts.churn = list.slice(0, 30);
    renderTicker(b.alerts.churn, a.alert_id);
    scheduleRefetch();
  }

  function connect() {
    if (es) es.close();
    es = new EventSource("/api/events?tenant=" + encodeURIComponent(state.tenant || ""));
    es.addEventListener("hello", function (ev) {
      var h = {};
      try { h = JSON.parse(ev.data); } catch (e) { /* keep defaults */ }
      setStatus(h.redis ? "live" : "down", h.redis ? T("status.live") : T("status.redis_down"));
      needFresh(); // a (re)connect may have missed messages: re-read
      loadBoard();
    });
    es.addEventListener("resync", function () {
      setStatus("live", T("status.live"));
      needFresh();
      loadBoard();
    });
    es.addEventListener("live", onLive);
    es.addEventListener("alert", onAlert);
    es.onerror = function () { setStatus("down", T("status.reconnecting")); };
  }

  function selectTenant(t) {
    if (!t || t === state.tenant) return;
    state.tenant = t;
    state.board = null;
    state.lastEvent = 0;
    $("tenant").value = t;
    connect();
  }

  function loadTenants() {
    return getJson("/api/tenants").then(function (r) {
      state.tenants = r.tenants || [];
      var sel = $("tenant"), cur = sel.value;
      clear(sel);
      var names = state.tenants.slice();
      if (pinned && names.indexOf(pinned) < 0) names.unshift(pinned);
      names.forEach(function (t) { var o = el("option", "", t); o.value = t; sel.appendChild(o); });
      if (cur) sel.value = cur;
      if (!state.tenant) selectTenant(pinned || names[0]);
      if (!names.length) setStatus("down", T("status.no_tenants"));
    }).catch(function () { setStatus("down", T("status.unreachable")); });
  }

  function rotate() {
    if (pinned || state.tenants.length < 2) return;
    var i = state.tenants.indexOf(state.tenant);
    selectTenant(state.tenants[(i + 1) % state.tenants.length]);
  }

  function tick() {
    var now = new Date(Date.now() + state.offsetMs);
    $("clock").textContent = ("0" + now.getUTCHours()).slice(-2) + ":" +
      ("0" + now.getUTCMinutes()).slice(-2) + ":" + ("0" + now.getUTCSeconds()).slice(-2) + " UTC";
    if (state.board && now.getUTCSeconds() % 5 === 0) { renderService(state.board); markStale(); } // ages move
  }

  $("tenant").addEventListener("change", function (e) {
    pinned = e.target.value;
    params.set("tenant", pinned);
    history.replaceState(null, "", "?" + params.toString());
    if (rotateTimer) clearInterval(rotateTimer);
    selectTenant(pinned);
  });
  window.addEventListener("resize", function () { render(false); });
  // A page left behind (navigation, back-forward cache) must not keep its
  // stream: a browser allows 6 connections per host, and a kept stream
  // would starve the next page's reads.
  window.addEventListener("pagehide", function () { if (es) { es.close(); es = null; } });
  window.addEventListener("pageshow", function (ev) { if (ev.persisted && state.tenant) connect(); });
  // Kiosk (?kiosk=1): a TV with nothing to click: no cursor, no controls.
  if (params.get("kiosk") === "1") document.body.classList.add("kiosk");
  // ?sound=1: a short chime for each new CRITICAL churn alert. Browsers
  // allow sound only after a first click on the page, so until then the
  // page says so.
  var audio = null;
  function chime() {
    if (!audio || audio.state !== "running") return;
    var o = audio.createOscillator(), g = audio.createGain();
    o.frequency.value = 880;
    g.gain.setValueAtTime(0.2, audio.currentTime);
    g.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.6);
    o.connect(g); g.connect(audio.destination);
    o.start(); o.stop(audio.currentTime + 0.6);
  }
  if (params.get("sound") === "1" && window.AudioContext) {
    audio = new AudioContext();
    var hint = $("sound-hint");
    hint.textContent = "click once to allow the alert sound";
    document.addEventListener("click", function () {
      audio.resume().then(function () { hint.textContent = ""; });
    });
  }
  // Static labels of the page in the team's language.
  function translatePage() {
    document.documentElement.lang = I.lang;
    [["h-funnel", "title.funnel"], ["h-rt", "title.rt"], ["h-service", "title.service"],
     ["h-managers", "title.managers"], ["h-sources", "title.sources"], ["h-risk", "title.risk"],
     ["h-churn", "title.churn"]].forEach(function (x) { $(x[0]).textContent = T(x[1]); });
    $("status-text").textContent = T("status.connecting");
  }
  getJson("/api/settings").then(function (st) {
    settings.lang = st.lang || "";
    settings.currency = st.currency || {};
    settings.thresholds = parseThresholds(st.thresholds);
    if (!params.get("lang") && settings.lang) I = window.CP_I18N.make(settings.lang);
  }).catch(function () { /* defaults: English, no currency sign */ }).then(function () {
    translatePage();
    loadTenants();
  });
  setInterval(loadTenants, 30000);
  setInterval(loadBoard, 15000); // waiting ages, risk: even without messages
  setInterval(tick, 1000);
  tick();
  if (rotateS > 0) rotateTimer = setInterval(rotate, rotateS * 1000);
})();
