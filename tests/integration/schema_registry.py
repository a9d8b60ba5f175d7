#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A small Confluent-compatible schema registry for the tests.

The REST subset crmpulse uses, with Confluent's error codes:
  GET  /schemas/ids/{id}          {"schema": "..."}; 404 40403
  POST /subjects/{s}/versions     register: {"id": n}; 422 42201 bad schema
  POST /subjects/{s}              look up: {"subject","id","version","schema"};
                                  404 40401 no subject, 404 40403 not under it
  GET  /subjects                  ["s", ...]
Ids are stable: the same schema text gets the same id under every subject,
ids count up from --first-id. --user user:password turns on Basic auth
(401, error code 40101). Faults for tests, set by POST /_control with
{"mode": "ok" | "500" | "garbage" | "close" | "hang"} (the control endpoint
itself always answers): every other request then answers 500, a body that
is not JSON, closes the connection unanswered, or hangs. --state FILE
keeps the schemas across restarts (kill it for a real outage, start it
again on the same port). --tls CERT KEY serves HTTPS. Prints "PORT <n>"
once listening.
"""
import argparse
import base64
import json
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CT = "application/vnd.schemaregistry.v1+json"


class State:
    def __init__(self, first_id, path):
        self.lock = threading.Lock()
        self.path = path
        self.next_id = first_id
        self.schemas = {}   # id -> schema text
        self.ids = {}       # canonical text -> id
        self.subjects = {}  # subject -> [id, ...] (versions in order)
        self.mode = "ok"
        if path and os.path.exists(path):
            with open(path) as f:
                d = json.load(f)
            self.next_id = d["next_id"]
            self.schemas = {int(k): v for k, v in d["schemas"].items()}
            self.ids = {canon(v): int(k) for k, v in self.schemas.items()}
            self.subjects = d["subjects"]

    def save(self):
        if not self.path:
            return
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"next_id": self.next_id, "schemas": self.schemas,
                       "subjects": self.subjects}, f)
        os.replace(tmp, self.path)


def canon(text):
    return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))


def valid_avro(text):
    try:
        doc = json.loads(text)
    except ValueError:
        return False
    if isinstance(doc, str):
        return True
    if isinstance(doc, list):
        return True
    return isinstance(doc, dict) and "type" in doc


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None
    auth = None

    def log_message(self, fmt, *args):
        if os.environ.get("CP_REGISTRY_VERBOSE"):
            sys.stderr.write("registry: " + fmt % args + "\n")

    def reply(self, status, obj, raw=None):
        body = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", CT)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, code, msg):
        self.reply(status, {"error_code": code, "message": msg})

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def faulted(self):
        mode = self.state.mode
        if mode == "ok":
            return False
        if mode == "500":
            self.error(500, 50001, "Error in the backend data store")
        elif mode == "garbage":
            self.reply(200, None, raw=b"<html>proxy error</html>")
        elif mode == "close":
            self.close_connection = True
            self.connection.shutdown(2)
        elif mode == "hang":
            time.sleep(3600)
        return True

    def authorized(self):
        if not self.auth:
            return True
        want = "Basic " + base64.b64encode(self.auth.encode()).decode()
        if self.headers.get("Authorization") == want:
            return True
        self.send_response(401)
        body = json.dumps({"error_code": 40101,
                           "message": "Unauthorized"}).encode()
        self.send_header("WWW-Authenticate", 'Basic realm="registry"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return False

    def do_GET(self):
        if self.faulted() or not self.authorized():
            return
        st = self.state
        m = re.fullmatch(r"/schemas/ids/(\d+)", self.path)
        if m:
            with st.lock:
                text = st.schemas.get(int(m.group(1)))
            if text is None:
                return self.error(404, 40403, "Schema not found")
            return self.reply(200, {"schema": text})
        if self.path == "/subjects":
            with st.lock:
                return self.reply(200, sorted(st.subjects))
        self.error(404, 404, "HTTP 404 Not Found")

    def do_POST(self):
        st = self.state
        data = self.body()
        if self.path == "/_control":
            st.mode = json.loads(data)["mode"]
            return self.reply(200, {"mode": st.mode})
        if self.faulted() or not self.authorized():
            return
        m = re.fullmatch(r"/subjects/([^/]+)(/versions)?", self.path)
        if not m:
            return self.error(404, 404, "HTTP 404 Not Found")
        subject, register = m.group(1), bool(m.group(2))
        try:
            text = json.loads(data)["schema"]
            assert isinstance(text, str)
        except (ValueError, KeyError, TypeError, AssertionError):
            return self.error(422, 42201, "Invalid schema")
        if not valid_avro(text):
            return self.error(422, 42201, "Invalid schema")
        key = canon(text)
        with st.lock:
            if register:
                sid = st.ids.get(key)
                if sid is None:
                    sid = st.next_id
                    st.next_id += 1
                    st.ids[key] = sid
                    st.schemas[sid] = text
                versions = st.subjects.setdefault(subject, [])
                if sid not in versions:
                    versions.append(sid)
                st.save()
                return self.reply(200, {"id": sid})
            if subject not in st.subjects:
                return self.error(404, 40401, "Subject not found")
            sid = st.ids.get(key)
            if sid is None or sid not in st.subjects[subject]:
                return self.error(404, 40403, "Schema not found")
            return self.reply(200, {"subject": subject, "id": sid,
                                    "version":
                                    st.subjects[subject].index(sid) + 1,
                                    "schema": st.schemas[sid]})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--first-id", type=int, default=1)
    ap.add_argument("--user", help="user:password for Basic auth")
    ap.add_argument("--state", help="file keeping schemas across restarts")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"),
                    help="serve HTTPS with this PEM certificate and key")
    args = ap.parse_args()
    Handler.state = State(args.first_id, args.state)
    Handler.auth = args.user
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    if args.tls:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls[0], args.tls[1])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("PORT %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
