#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A fake of the vendors' REST APIs for tests/integration/test_bridge.c, on
loopback: HubSpot's CRM v3 objects and Bitrix24's crm.deal.get and
crm.activity.get, with canned
records in the shapes the vendors document. A path listed in FLAKY answers
429 (Retry-After: 0) the first time and 500 the second, then the record, so
the bridge's backoff is exercised. Every request is logged to stdout."""
import datetime
import http.server
import json
import sys

HUBSPOT_DEAL_555 = (
    '{"id":"555","properties":{"amount":"1500.50","dealstage":"closedwon",'
    '"hubspot_owner_id":"9001"},"associations":{"companies":{"results":'
    '[{"id":"8080","type":"deal_to_company"}]},"contacts":{"results":'
    '[{"id":"77","type":"deal_to_contact"}]}}}')
B24_DEAL_456 = (
    '{"result":{"ID":"456","STAGE_ID":"PREPARATION","COMPANY_ID":"31",'
    '"CONTACT_ID":"0","OPPORTUNITY":"990.00","ASSIGNED_BY_ID":"1"}}')
B24_DEAL_457 = (
    '{"result":{"ID":"457","STAGE_ID":"C1:WON","COMPANY_ID":"31",'
    '"CONTACT_ID":"0","OPPORTUNITY":"990.00","ASSIGNED_BY_ID":"1"}}')
# An incoming call to company 31 nobody took (no time on the line).
B24_ACTIVITY_900 = (
    '{"result":{"ID":"900","TYPE_ID":"2","DIRECTION":"1","OWNER_TYPE_ID":"4",'
    '"OWNER_ID":"31","RESPONSIBLE_ID":"1","COMPLETED":"N",'
    '"START_TIME":"2023-11-15T01:00:00+03:00",'
    '"END_TIME":"2023-11-15T01:00:00+03:00"}}')

ROUTES = {
    "/crm/v3/objects/deals/555?properties=amount,hubspot_owner_id&"
    "associations=companies,contacts": HUBSPOT_DEAL_555,
    "/rest/1/code/crm.deal.get.json?id=456": B24_DEAL_456,
    "/rest/1/code/crm.deal.get.json?id=457": B24_DEAL_457,
    "/rest/1/code/crm.activity.get.json?id=900": B24_ACTIVITY_900,
}
FLAKY = {"/rest/1/code/crm.deal.get.json?id=457"}
hits = {}

# Tenant b24off's offline queue (event.offline.get / event.offline.clear):
# two changes of deal 458 and a record without an event name, at T0 (argv
# 2, seconds) + 200 s and + 260 s, in the portal's zone (+03:00). The first
# clear answers 404, so the records are read again (process_id=p-1) and
# must come out as duplicates; the second clears them.
B24_DEAL_458 = (
    '{"result":{"ID":"458","STAGE_ID":"PREPARATION","COMPANY_ID":"32",'
    '"CONTACT_ID":"0","OPPORTUNITY":"10.00","ASSIGNED_BY_ID":"3"}}')
ROUTES["/rest/2/code/crm.deal.get.json?id=458"] = B24_DEAL_458
offline = {"cleared": False, "clears": 0}


def portal_time(unix_s):
    t = datetime.datetime.fromtimestamp(unix_s + 3 * 3600,
                                        datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S+03:00")


def offline_get(t0):
    if offline["cleared"]:
        return '{"result":{"process_id":"p-2","events":[]}}'
    recs = [
        {"ID": "1", "TIMESTAMP_X": portal_time(t0 + 200),
         "EVENT_NAME": "ONCRMDEALADD", "EVENT_DATA": {"FIELDS": {"ID": 458}},
         "MESSAGE_ID": "m1"},
        {"ID": "2", "TIMESTAMP_X": portal_time(t0 + 260),
         "EVENT_NAME": "ONCRMDEALUPDATE",
         "EVENT_DATA": {"FIELDS": {"ID": "458"}}, "MESSAGE_ID": "m2"},
        {"ID": "3", "TIMESTAMP_X": portal_time(t0 + 300), "EVENT_NAME": "",
         "EVENT_DATA": {}, "MESSAGE_ID": "m3"},
    ]
    return json.dumps({"result": {"process_id": "p-1", "events": recs}})


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        n = hits.get(self.path, 0) + 1
        hits[self.path] = n
        print(f"GET {self.path} #{n} auth={self.headers.get('Authorization')}",
              flush=True)
        if self.path in FLAKY and n <= 2:
            self.send_response(429 if n == 1 else 500)
            self.send_header("Retry-After", "0")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = ROUTES.get(self.path)
        if self.path.startswith("/rest/2/code/event.offline.get.json"):
            body = offline_get(T0)
        elif self.path == "/rest/2/code/event.offline.clear.json?process_id=p-1":
            offline["clears"] += 1
            if offline["clears"] >= 2:
                offline["cleared"] = True
                body = '{"result":true}'
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


T0 = 0


def main():
    global T0
    T0 = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    srv = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    print("ready", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
