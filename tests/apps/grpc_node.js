#!/usr/bin/env node
// A plain gRPC server and client in Node.js for sonde's integration tests: @grpc/grpc-js only
// (tests/apps/package.json, installed by tests/install-deps.sh), no OpenTelemetry and no
// generated code (a hand-written service definition, raw Buffers), so that every span sonde
// reports comes from watching the process from outside.
//
//   node tests/apps/grpc_node.js server PORT
//   node tests/apps/grpc_node.js client HOST:PORT METHOD COUNT CONCURRENCY [PAYLOAD] [DEADLINE_MS]
//
// The same service, sonde.test.Echo, and the same CLI exist in Go (tests/apps/grpc_go) and
// Python (tests/apps/grpc_py.py), whose docstring describes both; tests/integration/grpcapps.py
// starts and drives all three. In short: Unary and Bidi echo, ServerStream "N" replies N times
// "msg-<i>", ClientStream concatenates; a first request "fail:CODE", "sleep:MS" or
// "call:HOST:PORT[,...]" ends the call with that status, waits, or calls Unary downstream and
// replies "hop:<its reply>". The client prints {"ok": N, "errors": {"<code>": N}, "pid": P}.
//
// TLS: with GRPC_TEST_TLS_CERT and GRPC_TEST_TLS_KEY (PEM files) set, the server serves TLS;
// with GRPC_TEST_TLS_CERT set, clients (and a server's downstream calls) use TLS and trust that
// certificate (Node's own OpenSSL).
'use strict';
const fs = require('fs');
const grpc = require('@grpc/grpc-js');

const tlsCert = process.env.GRPC_TEST_TLS_CERT ? fs.readFileSync(process.env.GRPC_TEST_TLS_CERT) : null;
const tlsKey = process.env.GRPC_TEST_TLS_KEY ? fs.readFileSync(process.env.GRPC_TEST_TLS_KEY) : null;

function clientCredentials() {
  return tlsCert ? grpc.credentials.createSsl(tlsCert) : grpc.credentials.createInsecure();
}

function serverCredentials() {
  return tlsCert && tlsKey
    ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: tlsCert, private_key: tlsKey }], false)
    : grpc.ServerCredentials.createInsecure();
}

const SERVICE = 'sonde.test.Echo';

function rawMethod(name, requestStream, responseStream) {
  const same = (buf) => buf;
  return {
    path: `/${SERVICE}/${name}`,
    requestStream,
    responseStream,
    requestSerialize: same,
    requestDeserialize: same,
    responseSerialize: same,
    responseDeserialize: same,
  };
}

const echoService = {
  Unary: rawMethod('Unary', false, false),
  ServerStream: rawMethod('ServerStream', false, true),
  ClientStream: rawMethod('ClientStream', true, false),
  Bidi: rawMethod('Bidi', true, true),
};
const EchoClient = grpc.makeGenericClientConstructor(echoService, 'Echo');

// --- server -----------------------------------------------------------------------------------

// One client per downstream target of call:, made on first use and shared by all calls, as a
// service keeps its channels to the services it calls.
const downstream = new Map();

function downstreamClient(target) {
  let client = downstream.get(target);
  if (!client) {
    client = new EchoClient(target, clientCredentials());
    downstream.set(target, client);
  }
  return client;
}

function statusError(code, details) {
  return { code, details };
}

function sleepUnlessCancelled(call, ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      call.removeListener('cancelled', done);
      resolve();
    }
    call.once('cancelled', done);
  });
}

// The caller's deadline goes along to the downstream call, nothing else.
function hop(call, targets) {
  const comma = targets.indexOf(',');
  const first = comma < 0 ? targets : targets.slice(0, comma);
  const req = Buffer.from(comma < 0 ? 'hop' : `call:${targets.slice(comma + 1)}`);
  const deadline = call.getDeadline();
  const options = deadline === Infinity ? {} : { deadline };
  return new Promise((resolve, reject) => {
    downstreamClient(first).Unary(req, options, (err, reply) => {
      if (err) reject(statusError(err.code, err.details));
      else resolve(Buffer.concat([Buffer.from('hop:'), reply]));
    });
  });
}

// Applies a directive (fail:, sleep:, call:) and resolves to the reply to req.
async function answer(call, req) {
  const text = req.toString('latin1');
  const m = /^(fail|sleep|call):(.*)$/s.exec(text);
  if (!m) return req;
  const [, kind, arg] = m;
  if (kind === 'fail' && /^\d+$/.test(arg)) throw statusError(Number(arg), 'sonde test');
  if (kind === 'sleep' && /^\d+$/.test(arg)) {
    await sleepUnlessCancelled(call, Number(arg));
    return req;
  }
  if (kind === 'call' && arg) return hop(call, arg);
  throw statusError(grpc.status.INVALID_ARGUMENT, `bad directive ${JSON.stringify(text)}`);
}

const handlers = {
  Unary(call, callback) {
    answer(call, call.request).then((reply) => callback(null, reply), (err) => callback(err));
  },

  ServerStream(call) {
    const text = call.request.toString('latin1');
    if (/^\d+$/.test(text)) {
      for (let i = 0; i < Number(text); i++) call.write(Buffer.from(`msg-${i}`));
      call.end();
      return;
    }
    answer(call, call.request).then(
      (reply) => {
        call.write(reply);
        call.end(); // not end(reply): grpc-js takes end's argument for trailing metadata
      },
      (err) => call.emit('error', err),
    );
  },

  ClientStream(call, callback) {
    const parts = [];
    let failed = false;
    const fail = (err) => {
      if (!failed) callback(err);
      failed = true;
    };
    call.on('data', (req) => {
      const part = parts.length === 0 ? answer(call, req) : Promise.resolve(req);
      part.catch(fail);
      parts.push(part);
    });
    call.on('end', () => {
      Promise.all(parts).then((bufs) => {
        if (!failed) callback(null, Buffer.concat(bufs));
      }, fail);
    });
  },

  Bidi(call) {
    // Replies leave in the order of the requests, even while the first is being answered.
    let replies = Promise.resolve();
    let first = true;
    let failed = false;
    const fail = (err) => {
      if (!failed) call.emit('error', err);
      failed = true;
    };
    call.on('data', (req) => {
      const reply = first ? answer(call, req) : Promise.resolve(req);
      first = false;
      reply.catch(fail);
      // The chain never rejects: a rejection nobody handles would end the process.
      replies = replies.then(() => reply).then((buf) => {
        if (!failed) call.write(buf);
      }, fail);
    });
    call.on('end', () => {
      replies.then(() => {
        if (!failed) call.end();
      });
    });
  },
};

function serve(port) {
  const server = new grpc.Server();
  server.addService(echoService, handlers);
  server.bindAsync(`127.0.0.1:${port}`, serverCredentials(), (err, bound) => {
    if (err) {
      console.error(`grpc_node server: cannot listen on 127.0.0.1:${port}: ${err.message}`);
      process.exit(1);
    }
    process.stdout.write(`port ${bound}\n`);
  });
  for (const sig of ['SIGTERM', 'SIGINT']) {
    process.on(sig, () => {
      server.forceShutdown();
      process.exit(0);
    });
  }
}

// --- client -----------------------------------------------------------------------------------

const DEFAULT_REQUESTS = {
  Unary: ['hello'],
  ServerStream: ['3'],
  ClientStream: ['part-0', 'part-1', 'part-2'],
  Bidi: ['part-0', 'part-1', 'part-2'],
};

// The server's answer to a request that is not fail:.
function replyTo(req) {
  if (!req.startsWith('call:')) return req;
  return 'hop:'.repeat(req.split(',').length) + 'hop';
}

function expectedReplies(method, reqs) {
  if (method === 'ServerStream') {
    if (!/^\d+$/.test(reqs[0])) return [replyTo(reqs[0])];
    return Array.from({ length: Number(reqs[0]) }, (_, i) => `msg-${i}`);
  }
  if (method === 'ClientStream') return [replyTo(reqs[0]) + reqs.slice(1).join('')];
  return [replyTo(reqs[0]), ...reqs.slice(1)];
}

// Collects a response stream's messages; rejects with the call's error. grpc-js emits 'error'
// before 'end' for a call that did not end with OK.
function collect(stream, replies, resolve, reject) {
  stream.on('data', (buf) => replies.push(buf.toString('latin1')));
  stream.on('error', reject);
  stream.on('end', () => resolve(replies));
}

// Makes one call; resolves to its replies, rejects with the grpc-js error.
function exchange(client, method, reqs, options) {
  const bufs = reqs.map((r) => Buffer.from(r, 'latin1'));
  return new Promise((resolve, reject) => {
    const unaryDone = (err, reply) => (err ? reject(err) : resolve([reply.toString('latin1')]));
    const replies = [];
    if (method === 'Unary') {
      client.Unary(bufs[0], options, unaryDone);
    } else if (method === 'ServerStream') {
      collect(client.ServerStream(bufs[0], options), replies, resolve, reject);
    } else if (method === 'ClientStream') {
      const call = client.ClientStream(options, unaryDone);
      for (const buf of bufs) call.write(buf);
      call.end();
    } else {
      // Each request goes out after the reply to the one before.
      const call = client.Bidi(options);
      collect(call, replies, resolve, reject);
      call.on('data', () => {
        if (replies.length < bufs.length) call.write(bufs[replies.length]);
        else call.end();
      });
      call.write(bufs[0]);
    }
  });
}

async function runClient(target, method, count, concurrency, payload, deadlineMs) {
  if (!DEFAULT_REQUESTS[method]) {
    console.error(`grpc_node client: unknown method ${method} ` +
      '(Unary, ServerStream, ClientStream or Bidi)');
    process.exit(2);
  }
  const reqs = [...DEFAULT_REQUESTS[method]];
  if (payload) reqs[0] = payload;
  const want = JSON.stringify(expectedReplies(method, reqs));
  const client = new EchoClient(target, clientCredentials());
  const summary = { ok: 0, errors: {}, pid: process.pid };
  let next = 0;
  async function worker() {
    while (next++ < count) {
      const options = deadlineMs > 0 ? { deadline: Date.now() + deadlineMs } : {};
      let key = '';
      try {
        const got = await exchange(client, method, reqs, options);
        if (JSON.stringify(got) !== want) key = 'mismatch';
      } catch (err) {
        key = String(err.code ?? grpc.status.UNKNOWN);
      }
      if (key) summary.errors[key] = (summary.errors[key] || 0) + 1;
      else summary.ok++;
    }
  }
  await Promise.all(Array.from({ length: Math.max(concurrency, 1) }, worker));
  client.close();
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

function main(argv) {
  const usage = 'usage: grpc_node.js server PORT\n' +
    '       grpc_node.js client HOST:PORT METHOD COUNT CONCURRENCY [PAYLOAD] [DEADLINE_MS]';
  if (argv[0] === 'server' && argv.length === 2) return serve(Number(argv[1]));
  if (argv[0] === 'client' && argv.length >= 5 && argv.length <= 7) {
    const [, target, method, count, concurrency, payload, deadlineMs] = argv;
    return runClient(target, method, Number(count), Number(concurrency), payload || '',
      Number(deadlineMs || 0));
  }
  console.error(usage);
  process.exit(2);
}

main(process.argv.slice(2));
