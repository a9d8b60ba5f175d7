#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Redis CPU per HINCRBY on this machine, the floor under the key contract's
cost: a scratch redis-server takes N HINCRBYs over K hashes x F fields
(shaped like day hashes), pipelined in batches of B, once plain and once
with every batch inside MULTI/EXEC. Redis CPU (INFO cpu, user + sys) per
command, median of R runs of each.

    tests/bench/redis_hincrby_cost.py [--port 6499] [-n 1000000] [--runs 3]
"""
import argparse
import random
import socket
import statistics
import subprocess
import time


def resp(*args):
    out = [b'*%d\r\n' % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b'$%d\r\n%s\r\n' % (len(a), a))
    return b''.join(out)


class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(('127.0.0.1', port))

    def run(self, payload):
        """Sends @payload, then PING; returns once PONG came back, so Redis
        has executed everything before it."""
        self.sock.sendall(payload + resp('PING'))
        tail = b''
        while not tail.endswith(b'+PONG\r\n'):
            tail = (tail + self.sock.recv(1 << 20))[-64:]

    def cpu_seconds(self):
        """Redis's CPU so far (INFO cpu, a bulk string: $len, body)."""
        self.sock.sendall(resp('INFO', 'cpu'))
        buf = b''
        while b'\r\n' not in buf:
            buf += self.sock.recv(65536)
        head, body = buf.split(b'\r\n', 1)
        want = int(head[1:]) + 2
        while len(body) < want:
            body += self.sock.recv(65536)
        fields = dict(line.split(':', 1) for line in body.decode().split('\r\n')
                      if ':' in line)
        return float(fields['used_cpu_sys']) + float(fields['used_cpu_user'])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--port', type=int, default=6499)
    ap.add_argument('-n', type=int, default=1000000, help='HINCRBYs a run')
    ap.add_argument('--keys', type=int, default=20000)
    ap.add_argument('--fields', type=int, default=12)
    ap.add_argument('--batch', type=int, default=5000)
    ap.add_argument('--runs', type=int, default=3)
    a = ap.parse_args()

    server = subprocess.Popen(
        ['redis-server', '--port', str(a.port), '--bind', '127.0.0.1',
         '--save', '', '--appendonly', 'no'], stdout=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        cli = Client(a.port)
        rng = random.Random(1)
        cmds = [resp('HINCRBY', 'crm:{t%d}:d:%d' % (i % 100, i % a.keys),
                     'f%d' % rng.randrange(a.fields), 1) for i in range(a.n)]
        payloads = {}
        for mode in ('plain', 'multi'):
            parts = []
            for i in range(0, a.n, a.batch):
                if mode == 'multi':
                    parts.append(resp('MULTI'))
                parts.extend(cmds[i:i + a.batch])
                if mode == 'multi':
                    parts.append(resp('EXEC'))
            payloads[mode] = b''.join(parts)
        us = {'plain': [], 'multi': []}
        for _ in range(a.runs):
            for mode in ('plain', 'multi'):
                cli.run(resp('FLUSHALL'))
                before = cli.cpu_seconds()
                cli.run(payloads[mode])
                us[mode].append((cli.cpu_seconds() - before) / a.n * 1e6)
        for mode, v in us.items():
            print('%s: %.2f us of Redis CPU per HINCRBY (runs %s)' % (
                mode, statistics.median(v), ', '.join('%.2f' % x for x in v)))
    finally:
        server.terminate()
        server.wait()


if __name__ == '__main__':
    main()
