#!/usr/bin/env node
// An Express service that reads Redis, for sonde's integration tests (no OTel: sonde sees it
// from outside). The Redis client is the current `redis` npm client (node-redis, RESP3 with
// HELLO 3, commands of one event-loop turn written together) or `ioredis`.
//
//   node tests/apps/express_redis.js --redis PORT [--client redis|ioredis] [--auto-pipeline]
//                                    [--resp 2|3] [--port 0]
//
// Prints "LISTENING <port>" on stdout once it accepts connections.
// Routes:
//   GET /users/:id   GET user:<id>, then INCR views:<id> (two awaits in a row); 200 JSON
//   GET /dash/:id    GET user:<id>, INCR views:<id> and HGETALL prefs:<id> issued together
//                    (Promise.all: one write with the redis client); 200 JSON
//   GET /multi/:id   MULTI, SET, INCR, EXEC as one transaction; 200 JSON
//   GET /hop/:id?next=URL  calls URL (keep-alive), then does what /users/:id does
'use strict';
const http = require('http');
const express = require('express');

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}
const redisPort = parseInt(arg('--redis', '6379'), 10);
const kind = arg('--client', 'redis');
const resp = parseInt(arg('--resp', '3'), 10);
const auto = process.argv.includes('--auto-pipeline');
const agent = new http.Agent({ keepAlive: true });

async function connect() {
  if (kind === 'ioredis') {
    const Redis = require('ioredis');
    const c = new Redis({ host: '127.0.0.1', port: redisPort, enableAutoPipelining: auto,
      lazyConnect: true });
    await c.connect();
    return {
      get: (k) => c.get(k), incr: (k) => c.incr(k), hgetall: (k) => c.hgetall(k),
      multi: (k, v) => c.multi().set(k, v).incr(k + ':n').exec(),
    };
  }
  const { createClient } = require('redis');
  const c = createClient({ url: `redis://127.0.0.1:${redisPort}`, RESP: resp });
  c.on('error', (e) => console.error('redis:', e.message));
  await c.connect();
  return {
    get: (k) => c.get(k), incr: (k) => c.incr(k), hgetall: (k) => c.hGetAll(k),
    multi: (k, v) => c.multi().set(k, v).incr(k + ':n').exec(),
  };
}

function fetchText(url) {
  return new Promise((resolve, reject) => {
    http.get(url, { agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', reject);
  });
}

async function main() {
  const r = await connect();
  const app = express();
  app.get('/users/:id', async (req, res) => {
    const id = req.params.id;
    const name = await r.get(`user:${id}`);
    const views = await r.incr(`views:${id}`);
    res.json({ id, name, views });
  });
  app.get('/dash/:id', async (req, res) => {
    const id = req.params.id;
    const [name, views, prefs] = await Promise.all([r.get(`user:${id}`), r.incr(`views:${id}`),
      r.hgetall(`prefs:${id}`)]);
    res.json({ id, name, views, prefs });
  });
  app.get('/multi/:id', async (req, res) => {
    const out = await r.multi(`tx:${req.params.id}`, 'v');
    res.json({ id: req.params.id, n: out.length });
  });
  app.get('/hop/:id', async (req, res) => {
    const id = req.params.id;
    const down = await fetchText(req.query.next);
    const name = await r.get(`user:${id}`);
    const views = await r.incr(`views:${id}`);
    res.json({ id, name, views, down: down.status });
  });
  app.use((err, req, res, next) => { // eslint-disable-line no-unused-vars
    console.error(err);
    res.status(500).json({ error: String(err) });
  });
  const server = app.listen(parseInt(arg('--port', '0'), 10), '127.0.0.1', () => {
    process.stdout.write(`LISTENING ${server.address().port}\n`);
  });
  server.keepAliveTimeout = 60000;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
