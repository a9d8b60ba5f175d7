#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A fake of the vendors' REST APIs for tests/integration/test_bridge.c, on
loopback: HubSpot's CRM v3 objects and Bitrix24's crm.deal.get and
crm.activity.get, with canned
records in the shapes the vendors document. A path listed in FLAKY answers
429 (Retry-After: 0) the first time and 500 the second, then the record, so
the bridge's backoff is exercised. Every request is logged to stdout."""
import http.server
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


def main():
    srv = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    print("ready", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
