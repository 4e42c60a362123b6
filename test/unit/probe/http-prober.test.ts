/**
 * The HTTP prober's deadline against a queue: a probe that times out while waiting for a pooled
 * connection is withdrawn without closing the connection it was waiting for (under load, aborting
 * it there closed every connection in turn, and each new probe paid for a new one).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { createProber, type Prober } from '../../../src/probe/prober.js';
import { SPEC_DEFAULTS, type OriginSpec } from '../../../src/probe/spec.js';

const T = { timeout: 20_000 };
const spec = (url: string, timeoutMs: number): OriginSpec => ({ ...SPEC_DEFAULTS, url, timeoutMs, headers: [] });

let server: http.Server;
let url: string;
let accepted = 0;
const sockets = new Set<Socket>();
/** Responses the test releases itself, by request path. */
const held = new Map<string, http.ServerResponse>();
/** The connection each path was last requested over. */
const servedOver = new Map<string, Socket>();
let prober: Prober;

before(async () => {
  server = http.createServer((req, res) => {
    servedOver.set(req.url!, req.socket);
    if (req.url === '/hold') held.set(req.url, res);
    else res.end('fine');
  });
  server.on('connection', (s: Socket) => {
    accepted++;
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  prober = createProber({ nodeId: 'abcdef0123456789abcdef0123456789abcdef01', maxConnectionsPerOrigin: 1 });
});

after(async () => {
  await prober.close();
  for (const s of sockets) s.destroy();
  server.close();
});

test('a probe that times out queued behind another leaves their connection open', T, async () => {
  const first = prober.probe(spec(`${url}/hold`, 10_000), Date.now);
  while (!held.has('/hold')) await once(server, 'request');
  // One connection per origin, busy with the held request: this probe can only wait in the queue.
  const queued = await prober.probe(spec(`${url}/queued`, 50), Date.now);
  assert.deepEqual([queued.ok, queued.reason], [false, 'timeout']);
  held.get('/hold')!.end('late');
  assert.equal((await first).reason, 'ok');
  assert.equal((await prober.probe(spec(`${url}/after`, 10_000), Date.now)).reason, 'ok');
  assert.equal(accepted, 1, 'every probe went over the one connection');
  assert.equal(sockets.size, 1, 'and it is still open');
});

test('a probe that times out on the wire closes its connection (the only way to abandon it)', T, async () => {
  held.clear();
  const stuck = prober.probe(spec(`${url}/hold`, 1000), Date.now);
  while (!held.has('/hold')) await once(server, 'request');
  const socket = held.get('/hold')!.socket!;
  assert.deepEqual([(await stuck).ok, (await stuck).reason], [false, 'timeout']);
  if (!socket.destroyed) await once(socket, 'close');
  assert.equal((await prober.probe(spec(`${url}/after`, 10_000), Date.now)).reason, 'ok');
  assert.notEqual(servedOver.get('/after'), socket, 'the next probe went over another connection');
});
