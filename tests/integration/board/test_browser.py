# SPDX-License-Identifier: Apache-2.0
"""The wallboard in a real headless Chromium (chromium-driver + selenium):
the page loads with no console errors, shows the numbers the API returns,
moves a KPI within 2 s of new counters + a `live` message, shows a new
alert in the ticker after it is published, re-reads everything after the
subscription reconnects, and is photographed at 1920x1080 and 1280x800.

    python3 test_browser.py BUILD_DIR/crmpulse-board OUT_DIR [--readme PNG]
"""
import argparse
import base64
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

import fixture
from common import Servers

TENANT = "acme-retail"


def digits(text):
    return int(re.sub(r"[^0-9]", "", text) or "0")


def wait_for(what, fn, timeout):
    """Polls fn() until it returns a truthy value; returns (value, seconds)."""
    start = time.time()
    while True:
        v = fn()
        if v:
            return v, time.time() - start
        if time.time() - start > timeout:
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(0.05)


def new_driver():
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
              "--disable-dev-shm-usage", "--window-size=1920,1080",
              "--hide-scrollbars", "--force-device-scale-factor=1"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def viewport(driver, w, h):
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": w, "height": h, "deviceScaleFactor": 1,
                            "mobile": False})


def kpi(driver, name):
    found = driver.find_elements(By.CSS_SELECTOR, "#kpi-%s .value" % name)
    return found[0].text if found else ""


# Every element of every panel lies inside its panel (nothing cut off or
# spilling over a neighbour); returns the offenders as text.
OVERFLOW_JS = """
var bad = [];
document.querySelectorAll('.panel, .kpi, footer, header').forEach(function (p) {
  var pr = p.getBoundingClientRect();
  p.querySelectorAll('*').forEach(function (e) {
    if (e.closest('.ticker')) return;            // the ticker scrolls on purpose
    if (e.closest('.reasons li')) return;        // reasons end in an ellipsis
    var r = e.getBoundingClientRect();
    if (!r.width || !r.height) return;
    if (r.left < pr.left - 1 || r.right > pr.right + 1 ||
        r.top < pr.top - 1 || r.bottom > pr.bottom + 1)
      bad.push((p.className || p.tagName) + ' > ' + e.tagName + '.' + e.className +
               ' "' + (e.textContent || '').slice(0, 30) + '"');
  });
  if (p.scrollWidth > p.clientWidth + 1 && !p.matches('footer'))
    bad.push((p.className || p.tagName) + (p.id ? '#' + p.id : '') + ' scrolls sideways: ' + p.scrollWidth + ' > ' + p.clientWidth);
});
return bad.slice(0, 10);
"""


def console_errors(driver):
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("board_bin")
    ap.add_argument("out_dir")
    ap.add_argument("--readme", help="also write a small shot of the TV layout here")
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    checks = []

    with Servers(args.board_bin) as srv:
        day = fixture.load(srv.redis)
        # Traffic lights: missed calls past 5 and a slow first response are
        # red, events (never past a billion here) are not.
        srv.start_board(extra=["-X", "board.thresholds=missed>5, events>1000000000, rt_avg_s>1"])
        api = srv.get("/api/tenants/%s/board" % TENANT)
        c = api["today"]["counters"]
        driver = new_driver()
        try:
            viewport(driver, 1920, 1080)
            driver.get(srv.url("/?tenant=" + TENANT))
            wait_for("the page to render", lambda: kpi(driver, "events") not in ("", "–"), 10)

            # The numbers the API returns are the numbers on the page.
            for name, field in (("events", "events"), ("leads", "leads"),
                                ("orders", "orders"), ("deals_won", "deals_won"),
                                ("missed", "calls_missed")):
                got = digits(kpi(driver, name))
                assert got == c[field], "%s: page %d, API %d" % (name, got, c[field])
            checks.append("KPIs equal the API: events=%d leads=%d orders=%d"
                          % (c["events"], c["leads"], c["orders"]))
            waiting = driver.find_element(By.CSS_SELECTOR, "#svc-waiting .value").text
            assert digits(waiting) == api["waiting"]["count"], (waiting, api["waiting"])
            rows = driver.find_elements(By.CSS_SELECTOR, "#managers tr td:first-child")
            shown = [r.text.split(". ", 1)[1] for r in rows]
            want = sorted(api["today"]["managers"],
                          key=lambda m: -api["today"]["managers"][m].get("won_amount_minor", 0))
            assert shown == want[:len(shown)] and shown, (shown, want)
            first_risk = driver.find_element(By.CSS_SELECTOR, "#risk li .who").text
            assert api["risk"]["customers"][0]["customer"] in first_risk, first_risk
            reasons = driver.find_element(By.CSS_SELECTOR, "#risk li .reasons").text
            assert api["risk"]["customers"][0]["reasons"][0]["detail"] in reasons, reasons
            ticker = [e.get_attribute("data-alert-id") for e in
                      driver.find_elements(By.CSS_SELECTOR, "#ticker .alert")]
            assert ticker[0] == api["alerts"]["churn"][0]["alert_id"], ticker[:3]
            sla = driver.find_element(By.ID, "sla").text
            assert digits(sla) == api["alerts"]["sla"]["last_hour"], (sla, api["alerts"]["sla"])
            checks.append("waiting, manager order, top at-risk customer + reason, "
                          "newest alert equal the API")
            tile = lambda k: driver.find_element(By.ID, "kpi-" + k).get_attribute("class")
            assert c["calls_missed"] > 5 and "alarm" in tile("missed"), tile("missed")
            assert "alarm" not in tile("events"), tile("events")
            assert "alarm" in driver.find_element(By.ID, "rt-avg").get_attribute("class")
            checks.append("board.thresholds: missed calls %d > 5 red, events not"
                          % c["calls_missed"])

            # Screenshots before anything moves.
            time.sleep(0.5)
            shot_big = os.path.join(args.out_dir, "board-1920x1080.png")
            driver.save_screenshot(shot_big)
            viewport(driver, 1280, 800)
            time.sleep(0.8)
            driver.save_screenshot(os.path.join(args.out_dir, "board-1280x800.png"))
            viewport(driver, 1920, 1080)
            time.sleep(0.5)
            if args.readme:
                # The TV layout scaled to 1440x810 keeps the PNG small.
                shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
                    "format": "png", "clip": {"x": 0, "y": 0, "width": 1920,
                                              "height": 1080, "scale": 0.75}})
                with open(args.readme, "wb") as f:
                    f.write(base64.b64decode(shot["data"]))

            # A KPI moves within 2 s of new counters + a live message.
            before = digits(kpi(driver, "events"))
            key = "crm:{%s}:d:%s" % (TENANT, day)
            srv.redis.cmd("HINCRBY", key, "events", 37)
            srv.redis.cmd("HINCRBY", key, "orders", 2)
            srv.redis.cmd("PUBLISH", "crm:{%s}:live" % TENANT, json.dumps(
                {"tenant": TENANT, "day": day, "at": int(time.time() * 1000),
                 "deltas": {"events": 37, "orders": 2}}))
            _, took = wait_for("events KPI to move",
                               lambda: digits(kpi(driver, "events")) == before + 37, 2.0)
            checks.append("events KPI %d -> %d %.2f s after the live message"
                          % (before, before + 37, took))
            # ... and stays there once the page re-reads the hashes.
            time.sleep(2.0)
            assert digits(kpi(driver, "events")) == before + 37
            assert digits(kpi(driver, "orders")) == c["orders"] + 2

            # A new alert appears in the ticker.
            alert = fixture.make_alert(TENANT, "C99999", "anna.k", "browser-test-alert",
                                       int(time.time() * 1000), level="CRITICAL")
            srv.redis.cmd("LPUSH", "crm:{%s}:alerts:recent" % TENANT, json.dumps(alert))
            srv.redis.cmd("LTRIM", "crm:{%s}:alerts:recent" % TENANT, 0, 99)
            srv.redis.cmd("PUBLISH", "crm:{%s}:alerts" % TENANT, json.dumps(alert))
            sel = '#ticker .alert[data-alert-id="browser-test-alert"]'
            el, took = wait_for("the alert in the ticker",
                                lambda: driver.find_elements(By.CSS_SELECTOR, sel), 2.0)
            assert "C99999" in el[0].text, el[0].text
            checks.append("new alert in the ticker %.2f s after PUBLISH" % took)

            # The subscription drops: on reconnect the page re-reads the hashes
            # (counters written without any live message show up).
            srv.redis.cmd("HINCRBY", key, "leads", 5)
            want_leads = c["leads"] + 5
            srv.redis.cmd("CLIENT", "KILL", "TYPE", "pubsub")
            _, took = wait_for("leads after the resync",
                               lambda: digits(kpi(driver, "leads")) == want_leads, 5.0)
            checks.append("after the subscription was killed, the page re-read "
                          "the hashes in %.2f s" % took)

            errors = console_errors(driver)
            assert not errors, "console errors: %s" % errors
            checks.append("no console errors")

            # Kiosk: no controls on a TV.
            driver.get(srv.url("/?kiosk=1&tenant=" + TENANT))
            wait_for("kiosk page", lambda: digits(kpi(driver, "events")) > 0, 10.0)
            assert not driver.find_element(By.ID, "tenant").is_displayed()
            checks.append("?kiosk=1 hides the tenant control")

            # Every language at a TV's two sizes: its words, its number
            # format, nothing cut off; a screenshot of each.
            words = {"en": "Funnel today", "ru": "Воронка сегодня",
                     "uk": "Воронка сьогодні", "it": "Funnel di oggi"}
            for lang, heading in words.items():
                for w, h in ((1920, 1080), (3840, 2160)):
                    viewport(driver, w, h)
                    driver.get(srv.url("/?tenant=%s&lang=%s" % (TENANT, lang)))
                    wait_for("the %s page" % lang,
                             lambda: kpi(driver, "events") not in ("", "–"), 10)
                    time.sleep(0.6)  # charts are drawn for the new size
                    got = driver.find_element(By.ID, "h-funnel").text
                    assert got.lower() == heading.lower(), (lang, got)
                    bad = driver.execute_script(OVERFLOW_JS)
                    assert not bad, "%s at %dx%d: %s" % (lang, w, h, bad)
                    driver.save_screenshot(os.path.join(
                        args.out_dir, "board-%s-%dx%d.png" % (lang, w, h)))
            events = kpi(driver, "events")
            assert digits(events) == before + 37, events
            checks.append("en/ru/uk/it at 1920x1080 and 3840x2160: their words, "
                          "nothing cut off (it shows events as %r)" % events)
            viewport(driver, 1920, 1080)
            driver.get(srv.url("/?tenant=" + TENANT))
            wait_for("the page again", lambda: kpi(driver, "events") not in ("", "–"), 10)

            # The board goes away: the page says so, with the last update,
            # instead of showing old numbers as live.
            srv.board_proc.terminate()
            rc = srv.board_proc.wait(10)
            assert rc == 0, "board exit status %d" % rc
            checks.append("SIGTERM: board exited 0")
            status, took = wait_for(
                "connection lost on the page",
                lambda: "connection lost" in driver.find_element(By.ID, "status").text
                and driver.find_element(By.ID, "status").text, 10.0)
            assert "last update" in status, status
            assert "offline" in driver.find_element(By.TAG_NAME, "body").get_attribute("class")
            checks.append("board gone: '%s' %.2f s later, page dimmed" % (status, took))

            # A board with tokens, as on an office TV: no token, no data; the
            # page opened once with ?token= keeps it in an HttpOnly cookie and
            # shows the numbers from then on; a token of another tenant is
            # refused that tenant's API.
            token, other = "tv-" + "a1b2c3d4" * 3, "tv-" + "e5f6a7b8" * 3
            srv.start_board(extra=["-X", "board.token=%s, %s@someone-else" % (token, other)])
            driver.delete_all_cookies()
            driver.get(srv.url("/?tenant=" + TENANT))
            body = driver.find_element(By.TAG_NAME, "body").text
            assert "?token=" in body and not driver.find_elements(By.ID, "kpi-events"), body[:200]
            console_errors(driver)  # the 401 itself is logged: read it away
            driver.get(srv.url("/?token=%s&tenant=%s" % (token, TENANT)))
            wait_for("the page with a token",
                     lambda: digits(kpi(driver, "events")) == before + 37, 10)
            cookies = driver.get_cookies()
            assert cookies and all(c.get("httpOnly") for c in cookies), cookies
            driver.get(srv.url("/?tenant=" + TENANT))
            wait_for("the page by its cookie",
                     lambda: digits(kpi(driver, "events")) == before + 37, 10)
            errors = console_errors(driver)
            assert not errors, errors
            for tok, want in ((other, 403), ("tv-wrong-token-000000", 401)):
                req = urllib.request.Request(
                    srv.url("/api/tenants/%s/board" % TENANT),
                    headers={"Authorization": "Bearer " + tok})
                try:
                    urllib.request.urlopen(req, timeout=5)
                    code = 200
                except urllib.error.HTTPError as e:
                    code = e.code
                assert code == want, (tok[:6], code)
            checks.append("board.token: no token 401 page; ?token= once, then the "
                          "HttpOnly cookie shows the numbers; another tenant's "
                          "token 403, a wrong one 401")
        finally:
            driver.quit()

    for c in checks:
        print("ok -", c)
    print("screenshots in", args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
