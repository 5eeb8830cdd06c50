#!/usr/bin/env python3
"""Concurrent HTTP/1.1 load for sonde's integration tests (standard library only, no OTel).

    python3 tests/apps/py_load.py --concurrency C URL [URL...] < or > --urls-file FILE

Sends every URL once, from C threads, each over its own keep-alive connection (http.client):
C requests are in flight at once. Prints one JSON object on stdout:

    {"pid": ..., "statuses": {"<url>": status, ...}, "errors": ["<url>: <error>", ...],
     "ms": {"<url>": milliseconds from sending the request to its response read, ...}}
"""
import argparse
import http.client
import json
import os
import queue
import threading
import time
from urllib.parse import urlsplit


def worker(q, statuses, errors, lock, timeout, ms):
    conns = {}
    while True:
        try:
            url = q.get_nowait()
        except queue.Empty:
            break
        u = urlsplit(url)
        target = u.path + ("?" + u.query if u.query else "")
        try:
            c = conns.get(u.netloc)
            if c is None:
                c = conns[u.netloc] = http.client.HTTPConnection(u.netloc, timeout=timeout)
            t0 = time.monotonic()
            c.request("GET", target)
            r = c.getresponse()
            r.read()
            with lock:
                statuses[url] = r.status
                ms[url] = (time.monotonic() - t0) * 1000
        except (http.client.HTTPException, OSError) as e:
            conns.pop(u.netloc, None)
            with lock:
                errors.append(f"{url}: {e!r}")
    for c in conns.values():
        c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("urls", nargs="*")
    ap.add_argument("--urls-file")
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--timeout", type=float, default=60)
    a = ap.parse_args()
    urls = list(a.urls)
    if a.urls_file:
        with open(a.urls_file) as f:
            urls += [l.strip() for l in f if l.strip()]
    q = queue.Queue()
    for u in urls:
        q.put(u)
    statuses, errors, lock, ms = {}, [], threading.Lock(), {}
    # all threads start together, so that `concurrency` requests are in flight at once
    threads = [threading.Thread(target=worker, args=(q, statuses, errors, lock, a.timeout, ms))
               for _ in range(a.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"pid": os.getpid(), "statuses": statuses, "errors": errors, "ms": ms}))


if __name__ == "__main__":
    main()
