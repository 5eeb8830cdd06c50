#!/usr/bin/env node
// An HTTP/1.1 test client for sonde's integration tests (core modules only, no OTel).
//
//   node tests/apps/node_client.js URL [URL...] [-n N] [--method GET] [--data STR]
//                                  [--header 'K: V'] [--new-connection] [--delay-ms MS]
//
// Sends N requests (default: one per URL) one after another, cycling through the URLs, over a
// keep-alive http.Agent with one socket (or a new connection per request with --new-connection).
// Prints one JSON object on stdout: {"pid", "durations_ms": [...], "statuses": [...], "bytes": [...]}
// with client-measured durations (request start until the whole body has been read).
// https:// URLs go over TLS (Node's own OpenSSL; CAs from NODE_EXTRA_CA_CERTS).
'use strict';
const http = require('http');
const https = require('https');

const urls = [];
const headers = {};
let n = null;
let method = null;
let data = null;
let newConnection = false;
let delayMs = 0;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '-n') n = parseInt(argv[++i], 10);
  else if (a === '--method') method = argv[++i];
  else if (a === '--data') data = argv[++i];
  else if (a === '--header') {
    const h = argv[++i];
    const c = h.indexOf(':');
    headers[h.slice(0, c).trim()] = h.slice(c + 1).trim();
  } else if (a === '--new-connection') newConnection = true;
  else if (a === '--delay-ms') delayMs = parseFloat(argv[++i]);
  else urls.push(a);
}
if (urls.length === 0) {
  process.stderr.write('usage: node_client.js URL [URL...] [-n N] [--method M] [--data STR]\n');
  process.exit(2);
}
if (n === null) n = urls.length;
if (!method) method = data !== null ? 'POST' : 'GET';

const agentOpts = newConnection ? { keepAlive: false } : { keepAlive: true, maxSockets: 1 };
const agent = new http.Agent(agentOpts);
const tlsAgent = new https.Agent(agentOpts);

function once(url) {
  return new Promise((resolve, reject) => {
    const h = Object.assign({}, headers);
    const body = data !== null ? Buffer.from(data) : null;
    if (body) h['Content-Length'] = body.length;
    const t0 = process.hrtime.bigint();
    const secure = url.startsWith('https:');
    const req = (secure ? https : http).request(url,
      { method, headers: h, agent: secure ? tlsAgent : agent }, (res) => {
      let bytes = 0;
      res.on('data', (c) => { bytes += c.length; });
      res.on('end', () => {
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        resolve({ ms, status: res.statusCode, bytes });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

(async () => {
  const out = { pid: process.pid, durations_ms: [], statuses: [], bytes: [] };
  for (let i = 0; i < n; i++) {
    const r = await once(urls[i % urls.length]);
    out.durations_ms.push(Math.round(r.ms * 1000) / 1000);
    out.statuses.push(r.status);
    out.bytes.push(r.bytes);
    if (delayMs) await new Promise((ok) => setTimeout(ok, delayMs));
  }
  agent.destroy();
  tlsAgent.destroy();
  process.stdout.write(JSON.stringify(out) + '\n');
})().catch((e) => {
  process.stderr.write(`node_client: ${e.stack || e}\n`);
  process.exit(1);
});
