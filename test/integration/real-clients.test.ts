/**
 * Real Redis clients against a real `bin/heck-server` process: redis-cli and redis-benchmark 7.0
 * (Debian redis-tools), ioredis 5 (RESP2) and ioredis 6 (opens with HELLO 3, so pub/sub arrives as
 * RESP3 pushes). Expected outputs are those the same tools print against redis-server 7.0.15.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { Redis as Redis6 } from 'ioredis6';
import { startNodeProcess, type NodeProcess } from '../helpers/process.js';
import { run, within } from '../helpers/run.js';

const HOST = '127.0.0.1';

let node: NodeProcess;
/** Started with --requirepass pw. */
let authNode: NodeProcess;

before(async () => {
  [node, authNode] = await Promise.all([startNodeProcess(), startNodeProcess(['--requirepass', 'pw'])]);
});

after(async () => {
  const stop = (p: NodeProcess | undefined) =>
    p && within(p.stop(), 5_000, `heck-server on port ${p.port} exiting`, () => p.child.kill('SIGKILL'));
  const codes = await Promise.all([stop(node), stop(authNode)]);
  assert.deepEqual(codes, [0, 0], 'both nodes exit 0 on SIGTERM after the client tests');
});

const cli = (port: number, args: string[], input?: string) =>
  run('redis-cli', ['-h', HOST, '-p', String(port), ...args], input === undefined ? {} : { input });
const benchmark = (port: number, args: string[]) => run('redis-benchmark', ['-h', HOST, '-p', String(port), ...args]);

describe('redis-cli one-shot', () => {
  test('PING prints PONG', async () => {
    const r = await cli(node.port, ['PING']);
    assert.deepEqual(r, { code: 0, signal: null, stdout: 'PONG\n', stderr: '' });
  });

  test('-3 PING (HELLO 3 first) prints PONG', async () => {
    const r = await cli(node.port, ['-3', 'PING']);
    assert.deepEqual(r, { code: 0, signal: null, stdout: 'PONG\n', stderr: '' });
  });

  test('-3 HELLO 3 prints the HELLO map', async () => {
    const r = await cli(node.port, ['-3', 'HELLO', '3']);
    assert.equal(r.code, 0);
    assert.equal(r.stderr, '');
    const lines = r.stdout.split('\n');
    assert.equal(lines.pop(), '', 'output ends with a newline');
    assert.equal(lines.length, 7, r.stdout);
    assert.equal(lines[0], 'server redis');
    assert.match(lines[1]!, /^version \d+\.\d+\.\d+$/);
    assert.equal(lines[2], 'proto 3');
    assert.match(lines[3]!, /^id \d+$/);
    assert.equal(lines[4], 'mode standalone');
    assert.equal(lines[5], 'role master');
    assert.equal(lines[6], 'modules ', 'modules is an empty array');
  });

  test('ECHO "a b" keeps the space', async () => {
    const r = await cli(node.port, ['ECHO', 'a b']);
    assert.deepEqual(r, { code: 0, signal: null, stdout: 'a b\n', stderr: '' });
  });

  test('-n 1: SELECT 1 fails, redis-cli says so and still runs the command', async () => {
    const r = await cli(node.port, ['-n', '1', 'PING']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, 'PONG\n');
    assert.equal(r.stderr, 'SELECT 1 failed: ERR DB index is out of range\n');
  });

  test('an unknown command prints the ERR text (trailing space kept), exit 0 like against Redis', async () => {
    const r = await cli(node.port, ['FOOBAR', 'a', 'b']);
    assert.equal(r.code, 0);
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, "ERR unknown command 'FOOBAR', with args beginning with: 'a' 'b' \n\n");
  });

  test('INFO server has the Server section with redis_version', async () => {
    const r = await cli(node.port, ['INFO', 'server']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^# Server\r?\n/);
    assert.match(r.stdout, /^redis_version:\d+\.\d+\.\d+\r?$/m);
    assert.doesNotMatch(r.stdout, /^# Clients/m, 'only the requested section');
  });

  test('CLIENT LIST shows this connection', async () => {
    const r = await cli(node.port, ['CLIENT', 'LIST']);
    assert.equal(r.code, 0);
    assert.equal(r.stderr, '');
    const own = r.stdout.split('\n').filter((l) => l.includes('cmd=client|list'));
    assert.equal(own.length, 1, r.stdout);
    assert.match(own[0]!, /^id=\d+ addr=127\.0\.0\.1:\d+ laddr=127\.0\.0\.1:\d+ .*\bname= .*\bdb=0 /);
  });

  test('-a pw against a requirepass node runs the command', async () => {
    const r = await cli(authNode.port, ['-a', 'pw', '--no-auth-warning', 'PING']);
    assert.deepEqual(r, { code: 0, signal: null, stdout: 'PONG\n', stderr: '' });
  });

  test('-a with a wrong password: AUTH failed, then NOAUTH for the command', async () => {
    const r = await cli(authNode.port, ['-a', 'wrong', '--no-auth-warning', 'PING']);
    assert.equal(r.code, 0);
    assert.equal(r.stderr, 'AUTH failed: WRONGPASS invalid username-password pair or user is disabled.\n');
    assert.equal(r.stdout, 'NOAUTH Authentication required.\n\n');
  });

  test('no password against a requirepass node: NOAUTH', async () => {
    const r = await cli(authNode.port, ['PING']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, 'NOAUTH Authentication required.\n\n');
  });
});

describe('redis-cli interactive', () => {
  test('reads COMMAND DOCS at start, HELP PING works, PING prints PONG', async () => {
    const r = await cli(node.port, [], 'HELP PING\nPING\n');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.signal, null);
    assert.match(r.stdout, /PING/);
    assert.match(r.stdout, /summary:/, 'HELP PING prints the command summary');
    assert.match(r.stdout, /^PONG$/m);
    const stats = await cli(node.port, ['INFO', 'commandstats']);
    assert.match(stats.stdout, /^cmdstat_command\|docs:calls=[1-9]/m, 'redis-cli asked for COMMAND DOCS');
  });
});

describe('redis-benchmark', () => {
  const rate = (name: string) => new RegExp(`${name}: [\\d.]+ requests per second`);

  test('-t ping -q runs PING_INLINE and PING_MBULK', async () => {
    const r = await benchmark(node.port, ['-n', '2000', '-c', '10', '-t', 'ping', '-q']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, rate('PING_INLINE'));
    assert.match(r.stdout, rate('PING_MBULK'));
    assert.doesNotMatch(r.stdout + r.stderr, /Error from server/);
  });

  test('a custom command: ECHO hello', async () => {
    const r = await benchmark(node.port, ['-n', '2000', '-c', '10', '-q', 'ECHO', 'hello']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, rate('ECHO hello'));
    assert.doesNotMatch(r.stdout + r.stderr, /Error from server/);
  });

  test('-P 16 pipelines', async () => {
    const r = await benchmark(node.port, ['-n', '2000', '-c', '10', '-P', '16', '-t', 'ping', '-q']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, rate('PING_INLINE'));
    assert.match(r.stdout, rate('PING_MBULK'));
  });

  test('-a pw against a requirepass node', async () => {
    const r = await benchmark(authNode.port, ['-a', 'pw', '-n', '2000', '-c', '10', '-t', 'ping', '-q']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, rate('PING_INLINE'));
    assert.match(r.stdout, rate('PING_MBULK'));
  });

  test('without the password it stops with NOAUTH, exit 1 (as against Redis)', async () => {
    const r = await benchmark(authNode.port, ['-n', '200', '-c', '2', '-t', 'ping', '-q']);
    assert.equal(r.code, 1);
    assert.match(r.stdout + r.stderr, /NOAUTH Authentication required\./);
  });
});

/** The subset of the ioredis API these tests use; both majors share it. */
type Client = Redis | Redis6;

/**
 * Runs `body` with one or more clients, records every 'error' event, and quits them all at the
 * end. The test fails if any client emitted an error.
 */
function withClients<C extends Client>(make: () => C) {
  return async (count: number, body: (...clients: C[]) => Promise<void>) => {
    const errors: unknown[] = [];
    const clients = Array.from({ length: count }, () => {
      const c = make();
      c.on('error', (e: unknown) => errors.push(e));
      return c;
    });
    try {
      await body(...clients);
    } finally {
      for (const c of clients) {
        if (c.status === 'end') continue;
        const ended = once(c, 'end');
        if (c.status === 'ready') assert.equal(await c.quit(), 'OK');
        else c.disconnect();
        await ended;
      }
    }
    assert.deepEqual(errors, [], 'no error events');
  };
}

/** The shared ioredis 5 and 6 tests. */
function ioredisSuite(name: string, open: (options: Record<string, unknown>) => Client, resp: 2 | 3) {
  describe(name, () => {
    const clients = (count: number, body: (...c: Client[]) => Promise<void>, options: Record<string, unknown> = {}) =>
      withClients(() => open({ host: HOST, port: node.port, ...options }))(count, body);

    test('default options: ready, PING, call(ECHO)', () =>
      clients(1, async (r) => {
        await once(r, 'ready');
        assert.equal(await r.ping(), 'PONG');
        assert.equal(await r.call('ECHO', 'x'), 'x');
        assert.equal(await r.call('echo', 'a b\r\nc'), 'a b\r\nc');
      }));

    test(`the connection speaks RESP${resp}`, () =>
      clients(1, async (r) => {
        await once(r, 'ready');
        const id = await r.call('CLIENT', 'ID');
        const line = (await r.call('CLIENT', 'LIST', 'ID', String(id))) as string;
        assert.match(line, new RegExp(`\\bresp=${resp}\\b`), line);
      }));

    test('a pipeline of 100 commands', () =>
      clients(1, async (r) => {
        await once(r, 'ready');
        const p = r.pipeline();
        for (let i = 0; i < 100; i++) {
          if (i % 2) p.ping();
          else p.echo(`m${i}`);
        }
        const results = await p.exec();
        assert.ok(results);
        assert.equal(results.length, 100);
        results.forEach(([err, value], i) => {
          assert.equal(err, null);
          assert.equal(value, i % 2 ? 'PONG' : `m${i}`);
        });
      }));

    test('pub/sub: subscribe + publish delivers message, psubscribe delivers pmessage', () =>
      clients(2, async (sub, pub) => {
        await Promise.all([once(sub, 'ready'), once(pub, 'ready')]);
        assert.equal(await sub.subscribe('news'), 1);
        const message = once(sub, 'message');
        assert.equal(await pub.publish('news', 'hello'), 1);
        assert.deepEqual(await message, ['news', 'hello']);

        assert.equal(await sub.psubscribe('sport.*'), 2);
        const pmessage = once(sub, 'pmessage');
        assert.equal(await pub.publish('sport.tennis', 'ace'), 1);
        assert.deepEqual(await pmessage, ['sport.*', 'sport.tennis', 'ace']);

        // Both a channel and a pattern match: two deliveries, one publish count each.
        assert.equal(await sub.psubscribe('n*'), 3);
        const both = Promise.all([once(sub, 'message'), once(sub, 'pmessage')]);
        assert.equal(await pub.publish('news', 'again'), 2);
        assert.deepEqual(await both, [['news', 'again'], ['n*', 'news', 'again']]);

        assert.equal(await sub.unsubscribe('news'), 2);
        assert.equal(await sub.punsubscribe(), 0);
        assert.equal(await pub.publish('news', 'nobody'), 0);
        assert.equal(await sub.ping(), 'PONG', 'out of subscriber mode again');
      }));

    test('db: 0 and connectionName options', () =>
      clients(
        1,
        async (r) => {
          await once(r, 'ready');
          assert.equal(await r.call('CLIENT', 'GETNAME'), 'heck-test');
          assert.equal(await r.ping(), 'PONG');
        },
        { db: 0, connectionName: 'heck-test' },
      ));

    test('enableReadyCheck: false', () =>
      clients(
        1,
        async (r) => {
          await once(r, 'ready');
          assert.equal(await r.ping(), 'PONG');
        },
        { enableReadyCheck: false },
      ));

    test('password option against a requirepass node', () =>
      withClients(() => open({ host: HOST, port: authNode.port, password: 'pw' }))(1, async (r) => {
        await once(r, 'ready');
        assert.equal(await r.ping(), 'PONG');
        assert.equal(await r.call('ECHO', 'authed'), 'authed');
      }));
  });
}

ioredisSuite('ioredis 5', (options) => new Redis(options), 2);
ioredisSuite('ioredis 6 (HELLO 3)', (options) => new Redis6(options), 3);
