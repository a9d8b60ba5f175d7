# SPDX-License-Identifier: Apache-2.0
"""Starts a scratch redis-server and crmpulse-board for the board's tests
and stops them again, whatever happens."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

from resp import Redis


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Servers:
    """redis-server on a free port, loaded by the caller, plus the board."""

    def __init__(self, board_bin):
        self.board_bin = board_bin
        self.dir = tempfile.mkdtemp(prefix="crmpulse-board-test-")
        self.redis_port = free_port()
        self.board_port = None
        self.redis_proc = None
        self.board_proc = None

    def __enter__(self):
        self.redis_proc = subprocess.Popen(
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while True:
            try:
                self.redis = Redis(self.redis_port)
                self.redis.cmd("PING")
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        return self

    def start_board(self, prefix="crm", extra=()):
        self.board_port = free_port()
        self.board_log = open(os.path.join(self.dir, "board.log"), "w")
        self.board_proc = subprocess.Popen(
            [self.board_bin, "-X", "redis.url=redis://127.0.0.1:%d" % self.redis_port,
             "-X", "redis.prefix=" + prefix,
             "-X", "board.listen=127.0.0.1:%d" % self.board_port] + list(extra),
            stdout=self.board_log, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while True:
            try:
                self.get("/healthz")
                return
            except OSError:
                if time.time() > deadline or self.board_proc.poll() is not None:
                    raise RuntimeError("crmpulse-board did not start:\n" + self.log())
                time.sleep(0.05)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.board_port, path)

    def get(self, path):
        with urllib.request.urlopen(self.url(path), timeout=5) as r:
            return json.loads(r.read().decode())

    def log(self):
        try:
            with open(os.path.join(self.dir, "board.log")) as f:
                return f.read()
        except OSError:
            return ""

    def __exit__(self, *exc):
        if self.board_proc and self.board_proc.poll() is None:
            self.board_proc.terminate()
            try:
                self.board_proc.wait(10)
            except subprocess.TimeoutExpired:
                self.board_proc.kill()
        if self.redis_proc:
            self.redis_proc.terminate()
            self.redis_proc.wait(10)
        if exc[0] is None:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print("logs kept in", self.dir)
        return False
