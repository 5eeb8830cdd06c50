#!/usr/bin/env python3
"""A plain gRPC server and client in Python for sonde's integration tests: grpcio only, no
OpenTelemetry and no generated code (generic handlers, raw bytes), so that every span sonde
reports comes from watching the process from outside.

    python3 tests/apps/grpc_py.py server PORT
    python3 tests/apps/grpc_py.py client HOST:PORT METHOD COUNT CONCURRENCY [PAYLOAD] [DEADLINE_MS]

The same service, sonde.test.Echo, and the same CLI exist in Go (tests/apps/grpc_go) and Node
(tests/apps/grpc_node.js); tests/integration/grpcapps.py starts and drives all three.

server: listens on 127.0.0.1:PORT (0 picks a free port), prints "port N" once it accepts
connections, serves clear-text HTTP/2 until SIGTERM or SIGINT, then exits 0. Methods:

    Unary         replies with the request
    ServerStream  request "N" (a number): N replies "msg-0" ... "msg-<N-1>"; any other request:
                  one reply, as Unary would give
    ClientStream  one reply: the concatenation of all requests
    Bidi          replies to each request as it comes, with the request

The request of Unary and the first request of the others may ask for something else:

    fail:CODE     the call ends with gRPC status CODE and the message "sonde test", before any
                  reply (so a unary call gets a trailers-only response)
    sleep:MS      wait MS milliseconds (less if the call is cancelled) before replying
    call:HOST:PORT[,HOST:PORT...]
                  call Unary on the Echo server at the first HOST:PORT, with "hop" as the
                  request, or with "call:<the rest>" if more targets follow, and reply
                  "hop:<its reply>" instead of the request (a failed call's status ends this
                  one); the caller's deadline goes along, nothing else

client: COUNT calls of METHOD over one channel, CONCURRENCY of them in flight (one thread each),
each with its own deadline of DEADLINE_MS (none when absent or 0). Prints one JSON line,
{"ok": N, "errors": {"<code>": N, ...}, "pid": P}, and exits 0 whatever the calls' statuses: a
call is ok if it ended with status OK and exactly the expected replies, "mismatch" if it ended
OK with other replies, else it counts under its numeric status code. What each call sends
(PAYLOAD replaces the first message; an empty PAYLOAD keeps the default):

    Unary         "hello"
    ServerStream  "3"
    ClientStream  "part-0", "part-1", "part-2"
    Bidi          "part-0", "part-1", "part-2", each sent after the reply to the one before
"""
import json
import os
import queue
import signal
import sys
import threading
from collections import Counter
from concurrent import futures

import grpc

SERVICE = "sonde.test.Echo"
STATUS_BY_NUMBER = {s.value[0]: s for s in grpc.StatusCode}
# Each call holds a thread for its whole life (sleep:, streams): room for the tests' 50 in
# flight and the downstream calls they make.
SERVER_THREADS = 128
NO_DEADLINE = 10 * 365 * 86400  # seconds left beyond which a call counts as without deadline


class Echo:
    """The handlers, and one channel per downstream target of call:, made on first use and
    shared by all calls, as a service keeps its channels to the services it calls."""

    def __init__(self):
        self._lock = threading.Lock()
        self._unary_to = {}  # target -> the Unary multicallable on its channel

    def _downstream(self, target):
        with self._lock:
            call = self._unary_to.get(target)
            if call is None:
                call = grpc.insecure_channel(target).unary_unary(f"/{SERVICE}/Unary")
                self._unary_to[target] = call
            return call

    def answer(self, req, context):
        """Apply a directive (see the module's docstring); return the reply to req."""
        text = req.decode("ascii", "replace")
        kind, colon, arg = text.partition(":")
        if kind == "fail" and arg.isdigit():
            context.abort(STATUS_BY_NUMBER.get(int(arg), grpc.StatusCode.UNKNOWN), "sonde test")
        if kind == "sleep" and arg.isdigit():
            ended = threading.Event()
            context.add_callback(ended.set)  # runs when the call ends, e.g. at its deadline
            ended.wait(int(arg) / 1000)
            return req
        if kind == "call" and arg:
            return self.hop(arg, context)
        if colon and kind in ("fail", "sleep", "call"):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"bad directive {text!r}")
        return req

    def hop(self, targets, context):
        first, _, rest = targets.partition(",")
        req = b"call:" + rest.encode() if rest else b"hop"
        # grpcio gives a call without a deadline some 2**63 s to go, which as a timeout
        # would overflow into one already past.
        left = context.time_remaining()
        try:
            reply = self._downstream(first)(req, timeout=left if left < NO_DEADLINE else None)
        except grpc.RpcError as e:
            context.abort(e.code(), e.details())
        return b"hop:" + reply

    def unary(self, req, context):
        return self.answer(req, context)

    def server_stream(self, req, context):
        try:
            n = int(req.decode("ascii"))
        except ValueError:
            yield self.answer(req, context)
            return
        for i in range(n):
            yield f"msg-{i}".encode()

    def client_stream(self, reqs, context):
        out = []
        for req in reqs:
            out.append(self.answer(req, context) if not out else req)
        return b"".join(out)

    def bidi(self, reqs, context):
        for i, req in enumerate(reqs):
            yield self.answer(req, context) if i == 0 else req


def serve(port):
    echo = Echo()
    # No (de)serializers: handlers take and return bytes as they are on the wire.
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(echo.unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(echo.server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(echo.client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(echo.bidi),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=SERVER_THREADS))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"port {bound}", flush=True)
    stop.wait()
    server.stop(grace=None)
    return 0


DEFAULT_REQUESTS = {
    "Unary": [b"hello"],
    "ServerStream": [b"3"],
    "ClientStream": [b"part-0", b"part-1", b"part-2"],
    "Bidi": [b"part-0", b"part-1", b"part-2"],
}


def reply_to(req):
    """The server's answer to a request that is not fail:."""
    if req.startswith(b"call:"):
        return b"hop:" * (req.count(b",") + 1) + b"hop"
    return req


def expected_replies(method, reqs):
    if method == "ServerStream":
        try:
            return [f"msg-{i}".encode() for i in range(int(reqs[0].decode("ascii")))]
        except ValueError:
            return [reply_to(reqs[0])]
    if method == "ClientStream":
        return [reply_to(reqs[0]) + b"".join(reqs[1:])]
    return [reply_to(reqs[0]), *reqs[1:]]


def bidi_exchange(call, reqs, timeout):
    """Send each request after the reply to the one before; return the replies."""
    outbox = queue.Queue()

    def requests():
        while (req := outbox.get()) is not None:
            yield req

    outbox.put(reqs[0])
    replies = []
    try:
        for reply in call(requests(), timeout=timeout):
            replies.append(reply)
            outbox.put(reqs[len(replies)] if len(replies) < len(reqs) else None)
    finally:
        outbox.put(None)  # the channel's thread reading requests() would wait for ever
    return replies


def exchange(call, method, reqs, timeout):
    """Make one call; return its replies (grpc.RpcError if it did not end with OK)."""
    if method == "Unary":
        return [call(reqs[0], timeout=timeout)]
    if method == "ServerStream":
        return list(call(reqs[0], timeout=timeout))
    if method == "ClientStream":
        return [call(iter(reqs), timeout=timeout)]
    return bidi_exchange(call, reqs, timeout)


def run_client(target, method, count, concurrency, payload="", deadline_ms="0"):
    if method not in DEFAULT_REQUESTS:
        sys.exit(f"grpc_py client: unknown method {method!r} "
                 "(Unary, ServerStream, ClientStream or Bidi)")
    reqs = list(DEFAULT_REQUESTS[method])
    if payload:
        reqs[0] = payload.encode()
    timeout = int(deadline_ms) / 1000 or None
    want = expected_replies(method, reqs)
    channel = grpc.insecure_channel(target)
    path = f"/{SERVICE}/{method}"
    call = {"Unary": channel.unary_unary, "ServerStream": channel.unary_stream,
            "ClientStream": channel.stream_unary, "Bidi": channel.stream_stream}[method](path)

    def call_once(_):
        try:
            got = exchange(call, method, reqs, timeout)
        except grpc.RpcError as e:
            return str(e.code().value[0])
        return "" if got == want else "mismatch"

    with futures.ThreadPoolExecutor(max_workers=max(int(concurrency), 1)) as pool:
        keys = Counter(pool.map(call_once, range(int(count))))
    channel.close()
    ok = keys.pop("", 0)
    print(json.dumps({"ok": ok, "errors": dict(keys), "pid": os.getpid()}, separators=(",", ":")),
          flush=True)
    return 0


def main(argv):
    usage = (f"usage: {argv[0]} server PORT\n"
             f"       {argv[0]} client HOST:PORT METHOD COUNT CONCURRENCY [PAYLOAD] [DEADLINE_MS]")
    if len(argv) == 3 and argv[1] == "server":
        return serve(int(argv[2]))
    if 6 <= len(argv) <= 8 and argv[1] == "client":
        return run_client(*argv[2:])
    print(usage, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
