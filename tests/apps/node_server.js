#!/usr/bin/env node
// A plain Node.js HTTP/1.1 test server for sonde's integration tests (core modules only, no OTel).
//
//   node tests/apps/node_server.js [--host 127.0.0.1] [--port 0] [--tls CERT KEY]
//
// Prints "LISTENING <port>" on stdout once it accepts connections (--port 0 picks a free port).
// Routes (same as tests/apps/py_server.py):
//   GET  /                  200 text
//   GET  /api/users/<id>    200 JSON; 404 JSON if <id> is not a number
//   GET  /status/<code>     that status code
//   GET  /chunked?n=CHUNKS  200, Transfer-Encoding: chunked
//   GET  /big?n=BYTES       200 with BYTES bytes (default 1 MiB), Content-Length
//   POST /echo              echoes the body (Node answers Expect: 100-continue by itself)
//   GET  /slow?ms=N         sleeps N ms (default 100), then 200
//   GET  /hop/<k>?next=URL  calls GET URL (http:// or https://, keep-alive agent; CAs from
//                           NODE_EXTRA_CA_CERTS), then 200 "hop <k> <status>"
// --tls serves HTTPS (Node's own OpenSSL).
//   anything else           404
'use strict';
const http = require('http');
const https = require('https');
const fs = require('fs');

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}
const host = arg('--host', '127.0.0.1');
const agent = new http.Agent({ keepAlive: true });
const tlsAgent = new https.Agent({ keepAlive: true });
const tlsIdx = process.argv.indexOf('--tls');
const tls = tlsIdx >= 0 ? { cert: fs.readFileSync(process.argv[tlsIdx + 1]),
  key: fs.readFileSync(process.argv[tlsIdx + 2]) } : null;
const port = parseInt(arg('--port', '0'), 10);

function send(res, code, body, type) {
  const noBody = code < 200 || code === 204 || code === 304;
  if (noBody) {
    res.writeHead(code);
    res.end();
    return;
  }
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body);
  res.writeHead(code, { 'Content-Type': type || 'text/plain', 'Content-Length': buf.length });
  res.end(buf);
}

const handler = (req, res) => {
  const url = new URL(req.url, 'http://x');
  const path = url.pathname;
  const q = (name, def) => {
    const v = parseInt(url.searchParams.get(name), 10);
    return Number.isNaN(v) ? def : v;
  };
  if (req.method === 'POST' || req.method === 'PUT') {
    const parts = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => {
      if (path === '/echo') {
        send(res, 200, Buffer.concat(parts), req.headers['content-type'] || 'application/octet-stream');
      } else {
        send(res, 404, 'not found\n');
      }
    });
    return;
  }
  if (path === '/') return send(res, 200, 'hello from node-server\n');
  if (path.startsWith('/api/users/')) {
    const id = path.slice('/api/users/'.length);
    if (!/^[0-9]+$/.test(id)) return send(res, 404, JSON.stringify({ error: 'no such user', id }), 'application/json');
    return send(res, 200, JSON.stringify({ id: parseInt(id, 10), name: `user-${id}` }), 'application/json');
  }
  if (path.startsWith('/status/')) {
    const code = parseInt(path.slice('/status/'.length), 10);
    if (!(code >= 100 && code <= 599)) return send(res, 400, 'bad status\n');
    return send(res, code, `status ${code}\n`);
  }
  if (path === '/chunked') {
    const n = q('n', 5);
    res.writeHead(200, { 'Content-Type': 'text/plain' }); // no Content-Length: chunked
    for (let i = 0; i < n; i++) res.write(`chunk ${i}\n`);
    return res.end();
  }
  if (path === '/big') {
    const n = Math.max(0, q('n', 1 << 20));
    return send(res, 200, Buffer.alloc(n, 'x'), 'application/octet-stream');
  }
  if (path.startsWith('/hop/')) {
    const next = url.searchParams.get('next') || '';
    const secure = next.startsWith('https://');
    if (!secure && !next.startsWith('http://')) return send(res, 400, 'next must be an http(s):// URL\n');
    const out = (secure ? https : http).get(next, { agent: secure ? tlsAgent : agent }, (r) => {
      r.resume();
      r.on('end', () => send(res, 200, `hop ${path.slice(5)} ${r.statusCode}\n`));
    });
    out.on('error', (e) => send(res, 502, `hop failed: ${e.message}\n`));
    return undefined;
  }
  if (path === '/slow') {
    setTimeout(() => send(res, 200, 'slow\n'), Math.max(0, q('ms', 100)));
    return undefined;
  }
  return send(res, 404, 'not found\n');
};
const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
server.keepAliveTimeout = 30000;

server.listen(port, host, () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
});
