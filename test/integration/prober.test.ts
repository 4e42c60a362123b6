/**
 * The probers against real servers on 127.0.0.1 that each test starts and stops: statuses, EXPECT,
 * redirects not followed, headers, User-Agent, connection reuse and its limit, timeouts, bounded
 * bodies, transport failures, TLS and tcp.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net, { type LookupFunction } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { createProber, type Prober } from '../../src/probe/prober.js';
import { SPEC_DEFAULTS, type OriginSpec } from '../../src/probe/spec.js';

const NODE_ID = 'abcdef0123456789abcdef0123456789abcdef01';
const T = { timeout: 20_000 };

const spec = (url: string, more: Partial<OriginSpec> = {}): OriginSpec => ({
  ...SPEC_DEFAULTS,
  url,
  headers: [],
  ...more,
});

/** Tracks a server's sockets: how many it accepted, how many are still open. */
function track(server: net.Server) {
  const sockets = new Set<net.Socket>();
  const stats = {
    accepted: 0,
    maxOpen: 0,
    sockets,
    /** Resolves once the socket has closed (events.once would reject on the reset before it). */
    closed: (s: net.Socket) => new Promise<void>((resolve) => (sockets.has(s) ? s.once('close', () => resolve()) : resolve())),
  };
  server.on('connection', (socket: net.Socket) => {
    stats.accepted++;
    sockets.add(socket);
    // Probers hang up mid-response on purpose (cut bodies, timeouts): a reset is expected here.
    socket.on('error', () => {});
    stats.maxOpen = Math.max(stats.maxOpen, sockets.size);
    socket.once('close', () => sockets.delete(socket));
  });
  return stats;
}

async function listen<S extends net.Server>(server: S): Promise<{ server: S; port: number; stats: ReturnType<typeof track> }> {
  const stats = track(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => {
    for (const socket of stats.sockets) socket.destroy();
    return close(server);
  });
  return { server, port: (server.address() as net.AddressInfo).port, stats };
}

function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** An http server answering every request with `handler`, recording the requests it saw. */
async function httpServer(handler: http.RequestListener = (_req, res) => res.end('fine')) {
  const requests: http.IncomingMessage[] = [];
  const s = await listen(http.createServer((req, res) => (requests.push(req), handler(req, res))));
  return { ...s, requests, url: `http://127.0.0.1:${s.port}` };
}

/** A port with nothing listening: bound once, then released. */
async function deadPort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await close(server);
  return port;
}

let prober: Prober;
let cleanups: (() => Promise<void>)[] = [];
before(() => (prober = createProber({ nodeId: NODE_ID, maxConnectionsPerOrigin: 4 })));
afterEach(async () => {
  await Promise.all(cleanups.map((c) => c()));
  cleanups = [];
});
after(() => prober.close());

const probe = (s: OriginSpec) => prober.probe(s, Date.now);

describe('http prober', () => {
  test('200 is ok, with latency and completion time', T, async () => {
    const { url } = await httpServer();
    const before = Date.now();
    const r = await probe(spec(url));
    assert.deepEqual([r.ok, r.reason], [true, 'ok']);
    assert.ok(r.latencyMs >= 0 && r.at >= before);
  });

  test('503 fails with its status', T, async () => {
    const { url } = await httpServer((_req, res) => ((res.statusCode = 503), res.end()));
    const r = await probe(spec(url));
    assert.deepEqual([r.ok, r.reason], [false, 'status 503']);
  });

  test('a redirect is judged by EXPECT and never followed', T, async () => {
    const target = await httpServer();
    const { url } = await httpServer((_req, res) => res.writeHead(302, { Location: `${target.url}/` }).end());
    const strict = await probe(spec(url, { expect: '200-299' }));
    assert.deepEqual([strict.ok, strict.reason], [false, 'status 302']);
    const lenient = await probe(spec(url, { expect: '300-399' }));
    assert.deepEqual([lenient.ok, lenient.reason], [true, 'ok']);
    assert.equal(target.requests.length, 0);
  });

  test('METHOD HEAD is sent as HEAD', T, async () => {
    const { url, requests } = await httpServer();
    assert.equal((await probe(spec(url, { method: 'HEAD' }))).reason, 'ok');
    assert.equal(requests[0]!.method, 'HEAD');
  });

  test('the spec headers and a Host override reach the server', T, async () => {
    const { url, requests } = await httpServer();
    const headers: [string, string][] = [['X-Probe', 'yes'], ['Host', 'site.example'], ['Authorization', 'Bearer t']];
    assert.equal((await probe(spec(`${url}/health?x=1`, { headers }))).reason, 'ok');
    const req = requests[0]!;
    assert.equal(req.url, '/health?x=1');
    assert.equal(req.headers['x-probe'], 'yes');
    assert.equal(req.headers.host, 'site.example');
    assert.equal(req.headers.authorization, 'Bearer t');
  });

  test('the User-Agent names Heck and the node, unless the spec sets one', T, async () => {
    const { url, requests } = await httpServer();
    await probe(spec(url));
    assert.match(requests[0]!.headers['user-agent']!, /^Heck\/\d+\.\d+\.\d+ \(node abcdef012345\)$/);
    await probe(spec(url, { headers: [['user-agent', 'mine']] }));
    assert.equal(requests[1]!.headers['user-agent'], 'mine');
  });

  test('sequential probes reuse one connection', T, async () => {
    const { url, stats } = await httpServer();
    for (let i = 0; i < 5; i++) assert.equal((await probe(spec(url))).reason, 'ok');
    assert.equal(stats.accepted, 1);
  });

  test('200 concurrent probes all pass within the per-origin connection limit', T, async () => {
    const { url, stats, requests } = await httpServer();
    const results = await Promise.all(Array.from({ length: 200 }, () => probe(spec(url, { timeoutMs: 10_000 }))));
    assert.deepEqual(new Set(results.map((r) => r.reason)), new Set(['ok']));
    assert.equal(requests.length, 200);
    assert.ok(stats.accepted <= 4 && stats.maxOpen <= 4, `accepted ${stats.accepted}, max open ${stats.maxOpen}`);
  });

  test('a server that never answers times out', T, async () => {
    // Reads (so it sees the prober hang up) but never writes.
    const { port } = await listen(net.createServer((socket) => socket.resume()));
    const r = await probe(spec(`http://127.0.0.1:${port}/`, { timeoutMs: 200 }));
    assert.deepEqual([r.ok, r.reason], [false, 'timeout']);
  });

  test('an endless fast body is cut after 64 KiB: ok, and the connection is closed', T, async () => {
    const chunk = Buffer.alloc(16 * 1024, 'x');
    const { url, stats, requests } = await httpServer((_req, res) => {
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
      };
      res.on('drain', pump);
      pump();
    });
    const r = await probe(spec(url, { timeoutMs: 5000 }));
    assert.deepEqual([r.ok, r.reason], [true, 'ok']);
    // The connection that carried the body is closed. (undici then dials a spare one for the aborted
    // request's slot, which it drops unused: so not "no connection open".)
    await stats.closed(requests[0]!.socket);
  });

  test('an endless slow body times out, and the connection is closed', T, async () => {
    const { url, stats, requests } = await httpServer((_req, res) => {
      res.writeHead(200).write('x');
      // A byte every 20 ms: far from 64 KiB when the timeout strikes.
      const trickle = setInterval(() => res.write('x'), 20);
      res.once('close', () => clearInterval(trickle));
    });
    const r = await probe(spec(url, { timeoutMs: 300 }));
    assert.deepEqual([r.ok, r.reason], [false, 'timeout']);
    await stats.closed(requests[0]!.socket);
  });

  test('nothing listening: connection refused', T, async () => {
    const r = await probe(spec(`http://127.0.0.1:${await deadPort()}/`));
    assert.deepEqual([r.ok, r.reason], [false, 'connection refused']);
  });

  test('a server that hangs up: connection reset', T, async () => {
    const { port } = await listen(net.createServer((socket) => socket.once('data', () => socket.resetAndDestroy())));
    const r = await probe(spec(`http://127.0.0.1:${port}/`));
    assert.deepEqual([r.ok, r.reason], [false, 'connection reset']);
  });

  test('past maxKeptConnections open connections, probes close theirs after the response', T, async () => {
    const { port, stats, server } = await httpServer();
    const accepted: net.Socket[] = [];
    server.on('connection', (socket: net.Socket) => accepted.push(socket));
    // 30 origin hosts, all this server: the test's resolver answers 127.0.0.1 for each.
    const lookup = ((_hostname, options, callback) =>
      options.all ? callback(null, [{ address: '127.0.0.1', family: 4 }]) : callback(null, '127.0.0.1', 4)) as LookupFunction;
    const few = createProber({ nodeId: NODE_ID, lookup, maxKeptConnections: 5 });
    try {
      for (let i = 0; i < 30; i++) {
        const r = await few.probe(spec(`http://origin-${i}.test:${port}/`), Date.now);
        assert.equal(r.ok, true, r.reason);
      }
      assert.equal(stats.accepted, 30);
      await Promise.all(accepted.slice(5).map(stats.closed));
      assert.deepEqual([...stats.sockets], accepted.slice(0, 5)); // the first five stay for the next probes
    } finally {
      await few.close();
    }
  });

  test('a name that does not resolve: dns failure (http and tcp), with no query leaving the machine', T, async () => {
    // The resolver is the test's own: a system lookup would ask the machine's name server.
    const lookup: LookupFunction = (hostname, _options, callback) =>
      callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '', 4);
    const offline = createProber({ nodeId: NODE_ID, lookup });
    try {
      for (const url of ['http://heck-prober-test.invalid/', 'tcp://heck-prober-test.invalid:80']) {
        const r = await offline.probe(spec(url), Date.now);
        assert.deepEqual([r.ok, r.reason], [false, 'dns failure'], url);
      }
    } finally {
      await offline.close();
    }
  });
});

describe('https prober', () => {
  let cert: { key: Buffer; cert: Buffer } | undefined;
  before(() => {
    const dir = mkdtempSync(join(tmpdir(), 'heck-prober-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
        '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
      cert = { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
    } catch {
      cert = undefined;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a self-signed certificate is a tls error, and SNI follows the url, not a Host override', T, async (t) => {
    if (!cert) return t.skip('openssl is not available to make a certificate');
    const servernames: (string | undefined)[] = [];
    const server = https.createServer({
      ...cert,
      SNICallback: (name, cb) => (servernames.push(name), cb(null, undefined)),
    }, (_req, res) => res.end());
    const { port } = await listen(server);
    const r = await probe(spec(`https://localhost:${port}/`, { headers: [['Host', 'other.example']] }));
    assert.equal(r.ok, false);
    assert.match(r.reason, /^tls error self.signed certificate$/);
    assert.ok(r.reason.length < 60);
    assert.deepEqual(servernames, ['localhost']);
  });
});

describe('tcp prober', () => {
  test('a listening port is ok, and the probe hangs up', T, async () => {
    let accepted: net.Socket | undefined;
    const { port, stats, server } = await listen(net.createServer((socket) => (accepted = socket.resume())));
    const r = await probe(spec(`tcp://127.0.0.1:${port}`));
    assert.deepEqual([r.ok, r.reason], [true, 'ok']);
    // The probe may finish before the server runs its connection callback: wait for both sides.
    if (!accepted) await once(server, 'connection');
    await stats.closed(accepted!);
  });

  test('nothing listening: connection refused', T, async () => {
    const r = await probe(spec(`tcp://127.0.0.1:${await deadPort()}`));
    assert.deepEqual([r.ok, r.reason], [false, 'connection refused']);
  });
});

describe('close', () => {
  test('closes pooled connections, and later probes fail without touching the network', T, async () => {
    const { url, stats } = await httpServer();
    const own = createProber({ nodeId: NODE_ID });
    assert.equal((await own.probe(spec(url), Date.now)).reason, 'ok');
    const [socket] = stats.sockets;
    assert.ok(socket, 'the connection is pooled');
    await own.close();
    await stats.closed(socket);
    assert.equal((await own.probe(spec(url), Date.now)).reason, 'prober closed');
    assert.equal(stats.accepted, 1);
  });
});
