#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A stand-in for the Kubernetes API server, for sonde's pod-metadata tests.

No Kubernetes cluster can run on the test machines, so this plain-Python HTTP server plays the
part of the API server for what sonde asks of it, with the shapes the real one returns (the
objects come from tests/integration/k8s_recordings/ and from the test):

- GET /api/v1/pods?fieldSelector=spec.nodeName=N[&limit=L&continue=C]: a PodList of that
  node's pods with metadata.resourceVersion, paged with metadata.continue;
- the same with watch=1&resourceVersion=R: a chunked stream of JSON lines
  {"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object": ...} from R on, open until
  timeoutSeconds; a version older than the last compaction gets an ERROR event carrying a
  Status with code 410 (Gone), as the real server sends it;
- GET /apis/apps/v1/namespaces/NS/replicasets/NAME and /apis/batch/v1/.../jobs/NAME: objects
  the test registered, 404 otherwise, or 403 for all with --deny-owners (no RBAC); the same
  for any other /apis/ path (a ServiceCIDRList, Calico's IPPoolList) and for /api/v1/nodes
  (a NodeList), the lists sonde reads the cluster's address ranges from;
- with --token-file, a request without "Authorization: Bearer <the file's current content>"
  gets 401.

The test drives it through /_test/ endpoints: POST /_test/pods (body: a Pod; ADDED or
MODIFIED), DELETE /_test/pods/UID, POST /_test/expire (compact the history: open watches get
the 410 ERROR and end), POST /_test/objects (body: {"path": ..., "object": ...}), GET
/_test/log (the requests seen, as JSON lines).
"""
import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class State:
    def __init__(self, token_file, deny_owners):
        self.cond = threading.Condition()
        self.rv = 100  # resourceVersion counter
        self.compacted = 0  # versions at or below this are gone
        self.pods = {}  # uid -> pod
        self.history = []  # (rv, type, pod)
        self.objects = {}  # path -> object
        self.log = []
        self.token_file = token_file
        self.deny_owners = deny_owners
        self.epoch = 0  # bumped by expire: open watches end

    def event(self, typ, pod):
        with self.cond:
            self.rv += 1
            pod = json.loads(json.dumps(pod))
            pod.setdefault("metadata", {})["resourceVersion"] = str(self.rv)
            if typ == "DELETED":
                self.pods.pop(pod["metadata"]["uid"], None)
            else:
                self.pods[pod["metadata"]["uid"]] = pod
            self.history.append((self.rv, typ, pod))
            self.cond.notify_all()


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: State = None

    def log_message(self, fmt, *args):
        pass

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n)) if n else None

    def authorized(self):
        st = self.state
        if not st.token_file:
            return True
        with open(st.token_file) as f:
            want = "Bearer " + f.read().strip()
        return self.headers.get("Authorization") == want

    def record(self):
        with self.state.cond:
            self.state.log.append({"method": self.command, "path": self.path,
                                   "auth": self.headers.get("Authorization", ""),
                                   "time": time.time()})

    # --- the test's controls

    def do_POST(self):
        st = self.state
        u = urlparse(self.path)
        if u.path == "/_test/pods":
            pod = self.body()
            typ = "MODIFIED" if pod["metadata"]["uid"] in st.pods else "ADDED"
            st.event(typ, pod)
            return self.send_json(200, {"type": typ, "resourceVersion": str(st.rv)})
        if u.path == "/_test/expire":
            with st.cond:
                st.compacted = st.rv
                st.epoch += 1
                st.cond.notify_all()
            return self.send_json(200, {"compacted": st.compacted})
        if u.path == "/_test/objects":
            b = self.body()
            st.objects[b["path"]] = b["object"]
            return self.send_json(200, {})
        self.send_json(404, status(404, "NotFound", "no such control"))

    def do_DELETE(self):
        st = self.state
        u = urlparse(self.path)
        if u.path.startswith("/_test/pods/"):
            uid = u.path.rsplit("/", 1)[1]
            pod = st.pods.get(uid)
            if not pod:
                return self.send_json(404, status(404, "NotFound", "no such pod"))
            st.event("DELETED", pod)
            return self.send_json(200, {})
        self.send_json(404, status(404, "NotFound", "no such control"))

    # --- the API

    def do_GET(self):
        st = self.state
        u = urlparse(self.path)
        if u.path == "/_test/log":
            with st.cond:
                return self.send_json(200, st.log)
        self.record()
        if not self.authorized():
            return self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        if u.path == "/api/v1/pods":
            sel = q.get("fieldSelector", "")
            if not sel.startswith("spec.nodeName="):
                return self.send_json(400, status(400, "BadRequest", "sonde must select its node"))
            node = sel.split("=", 1)[1]
            if q.get("watch") in ("1", "true"):
                return self.watch(node, q)
            return self.list(node, q)
        if u.path == "/api/v1/nodes":
            obj = st.objects.get(u.path)
            if obj is None:
                return self.send_json(403, status(403, "Forbidden", "cannot list nodes"))
            return self.send_json(200, obj)
        if u.path.startswith("/apis/"):
            if st.deny_owners:
                return self.send_json(403, status(403, "Forbidden", f"cannot get {u.path}"))
            obj = st.objects.get(u.path)
            if obj is None:
                return self.send_json(404, status(404, "NotFound", f"{u.path} not found"))
            return self.send_json(200, obj)
        self.send_json(404, status(404, "NotFound", "the server could not find the resource"))

    def list(self, node, q):
        st = self.state
        with st.cond:
            pods = [p for p in st.pods.values() if p["spec"].get("nodeName") == node]
            rv = st.rv
        limit = int(q.get("limit") or 0) or len(pods) or 1
        start = 0
        if q.get("continue"):
            start = int(q["continue"].split(":")[1])
        page = pods[start:start + limit]
        md = {"resourceVersion": str(rv)}
        if start + limit < len(pods):
            md["continue"] = f"{rv}:{start + limit}"
        self.send_json(200, {"kind": "PodList", "apiVersion": "v1", "metadata": md,
                             "items": page})

    def chunk(self, obj):
        data = (json.dumps(obj) + "\n").encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def watch(self, node, q):
        st = self.state
        since = int(q.get("resourceVersion") or 0)
        deadline = time.time() + int(q.get("timeoutSeconds") or 60)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            with st.cond:
                epoch = st.epoch
                gone = since and since < st.compacted
            if gone:
                self.chunk({"type": "ERROR", "object": status(
                    410, "Expired", f"too old resource version: {since} ({st.compacted})")})
            else:
                sent_bookmark = False
                while time.time() < deadline:
                    with st.cond:
                        evs = [e for e in st.history if e[0] > since]
                        if not evs and st.epoch == epoch:
                            st.cond.wait(timeout=1)
                            evs = [e for e in st.history if e[0] > since]
                        expired = st.epoch != epoch
                        cur_rv = st.rv
                    for rv, typ, pod in evs:
                        since = rv
                        if pod["spec"].get("nodeName") == node:
                            self.chunk({"type": typ, "object": pod})
                    if expired:
                        self.chunk({"type": "ERROR", "object": status(
                            410, "Expired", f"too old resource version: {since}")})
                        break
                    if not sent_bookmark and q.get("allowWatchBookmarks") == "true":
                        self.chunk({"type": "BOOKMARK", "object": {
                            "kind": "Pod", "apiVersion": "v1",
                            "metadata": {"resourceVersion": str(max(since, cur_rv))}}})
                        since = max(since, cur_rv)
                        sent_bookmark = True
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--token-file")
    ap.add_argument("--deny-owners", action="store_true")
    args = ap.parse_args()
    Handler.state = State(args.token_file, args.deny_owners)
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    print(f"fake-apiserver: listening on 127.0.0.1:{args.port}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
