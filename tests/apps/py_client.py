#!/usr/bin/env python3
"""An HTTP/1.1 test client for sonde's integration tests (standard library only, no OTel).

    python3 tests/apps/py_client.py URL [URL...] [-n N] [--method GET] [--data STR]
                                    [--header 'K: V'] [--new-connection] [--delay-ms MS]
                                    [--pause-after K]

Sends N requests (default: one per URL), cycling through the URLs in order, over one keep-alive
connection per host (http.client), or a new connection per request with --new-connection.
https:// URLs go over TLS (the system OpenSSL; CAs from SSL_CERT_FILE, as Python's default).
Prints one JSON object on stdout:

    {"pid": ..., "durations_ms": [...], "statuses": [...], "bytes": [...]}

With --pause-after K, it prints "paused" on stderr after the K-th request and waits for a line
on stdin before the next one, on the same connection: a test can do something (start sonde)
between two requests of one keep-alive connection without guessing at times.

durations_ms are client-measured: from just before the request is written until the whole
response body has been read.
"""
import argparse
import http.client
import json
import os
import sys
import time
from urllib.parse import urlsplit


def connection(u, timeout):
    if u.scheme == "https":
        return http.client.HTTPSConnection(u.hostname, u.port or 443, timeout=timeout)
    return http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("urls", nargs="+")
    ap.add_argument("-n", type=int, default=None, help="number of requests (default: len(urls))")
    ap.add_argument("--method", default=None, help="default GET, or POST when --data is given")
    ap.add_argument("--data", default=None)
    ap.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    ap.add_argument("--new-connection", action="store_true", help="no keep-alive")
    ap.add_argument("--delay-ms", type=float, default=0, help="pause between requests")
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("--pause-after", type=int, default=None,
                    help="after this many requests, wait for a line on stdin")
    a = ap.parse_args()

    n = a.n if a.n is not None else len(a.urls)
    method = a.method or ("POST" if a.data is not None else "GET")
    body = a.data.encode() if a.data is not None else None
    headers = {}
    for h in a.header:
        k, _, v = h.partition(":")
        headers[k.strip()] = v.strip()
    if a.new_connection:
        headers["Connection"] = "close"

    conns = {}
    out = {"pid": os.getpid(), "durations_ms": [], "statuses": [], "bytes": []}
    for i in range(n):
        u = urlsplit(a.urls[i % len(a.urls)])
        key = (u.scheme, u.hostname, u.port)
        conn = conns.get(key)
        if conn is None or a.new_connection:
            conn = connection(u, a.timeout)
            conn.connect()  # outside the timing: a duration is the request, not the handshake
            conns[key] = conn
        target = u.path or "/"
        if u.query:
            target += "?" + u.query
        t0 = time.perf_counter()
        try:
            conn.request(method, target, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The server closed an idle keep-alive connection: retry once on a new one.
            conn.close()
            conn = conns[key] = connection(u, a.timeout)
            t0 = time.perf_counter()
            conn.request(method, target, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        t1 = time.perf_counter()
        out["durations_ms"].append(round((t1 - t0) * 1000.0, 3))
        out["statuses"].append(resp.status)
        out["bytes"].append(len(data))
        if a.new_connection:
            conn.close()
        if a.delay_ms:
            time.sleep(a.delay_ms / 1000.0)
        if a.pause_after is not None and i + 1 == a.pause_after:
            print("paused", file=sys.stderr, flush=True)
            sys.stdin.readline()
    for c in conns.values():
        c.close()
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
