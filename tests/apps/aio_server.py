#!/usr/bin/env python3
"""An asyncio HTTP service for sonde's linking tests: aiohttp (PyPI) on one event loop, with no
OTel: sonde traces it.

    python3 tests/apps/aio_server.py [--host 127.0.0.1] [--port 0]

Prints "LISTENING <port>" on stdout once it accepts connections. Routes:

    GET /                 200 text
    GET /hop/<k>?next=URL calls GET URL (http:// only) through one aiohttp ClientSession shared by
                          all requests (a keep-alive connection pool), then 200 "hop <k> <status>"
"""
import argparse
import asyncio
import signal
import sys

from aiohttp import ClientSession, ClientTimeout, web


async def index(request):
    return web.Response(text="hello from aio-server\n")


async def hop(request):
    nxt = request.query.get("next", "")
    if not nxt.startswith("http://"):
        return web.Response(status=400, text="next must be an http:// URL\n")
    async with request.app["session"].get(nxt) as r:
        await r.read()
        status = r.status
    return web.Response(text=f"hop {request.match_info['k']} {status}\n")


async def main(host, port):
    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/hop/{k}", hop)
    app["session"] = ClientSession(timeout=ClientTimeout(total=30))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]
    print(f"LISTENING {bound}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await app["session"].close()
    await runner.cleanup()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    asyncio.run(main(a.host, a.port))
    sys.exit(0)
