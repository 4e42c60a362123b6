/**
 * `bin/heck-server` as a process: command-line errors, settings from the environment and a config
 * file, graceful stop on SIGTERM/SIGINT/SHUTDOWN, a busy port, and the JSON log stream.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { HECK_SERVER, startNodeProcess, type NodeProcess } from '../helpers/process.js';
import { ErrorReply, RespClient, SimpleString } from '../helpers/resp-client.js';
import { run, within } from '../helpers/run.js';

let scratch: string;
before(() => {
  scratch = mkdtempSync(join(tmpdir(), 'heck-process-test-'));
});
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs heck-server to completion (for runs that must exit by themselves). */
const heck = (args: string[], env: Record<string, string> = {}) =>
  run(HECK_SERVER, args, { env, cwd: scratch, timeoutMs: 10_000 });

/** The exit code; a process still alive after 5 s is killed and the test fails (safety net). */
const exitOf = (p: NodeProcess, ms = 5_000) => within(p.exited, ms, 'heck-server exit', () => p.child.kill('SIGKILL'));

/** SIGTERM, then the exit code (with the same safety net). */
function stop(p: NodeProcess): Promise<number | string> {
  p.child.kill('SIGTERM');
  return exitOf(p);
}

/** Starts a node, runs body, and always stops it (SIGTERM); returns the exit code. */
async function withNode(args: string[], env: Record<string, string>, body: (p: NodeProcess) => Promise<void>): Promise<number | string> {
  const p = await startNodeProcess(args, env);
  let code: Promise<number | string> | undefined;
  try {
    await body(p);
  } finally {
    code = stop(p);
    await code.catch(() => {});
  }
  return code;
}

/** Resolves once the child's stdout has closed, so every log line it printed has been parsed. */
function stdoutClosed(p: NodeProcess): Promise<void> {
  const out = p.child.stdout!;
  return out.readableEnded || out.destroyed ? Promise.resolve() : once(out, 'close').then(() => {});
}

/** Resolves with the first log record matching pred, waiting on stdout data (no timers). */
function waitForLog(p: NodeProcess, pred: (rec: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const hit = p.logs.find(pred);
      if (!hit) return false;
      p.child.stdout!.off('data', check);
      p.child.off('close', gone);
      resolve(hit);
      return true;
    };
    const gone = () => {
      if (!check()) reject(new Error(`process ended without the log line; logs: ${JSON.stringify(p.logs)}`));
    };
    if (check()) return;
    // The helper's own 'data' listener was added first, so it has parsed the chunk when ours runs.
    p.child.stdout!.on('data', check);
    p.child.once('close', gone);
  });
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : 0);
    });
  });
}

/** Asserts the client must AUTH with 'pw'. */
async function assertRequiresPw(port: number): Promise<void> {
  const c = await RespClient.open(port);
  try {
    assert.deepEqual(await c.call('PING'), new ErrorReply('NOAUTH Authentication required.'));
    assert.deepEqual(await c.call('AUTH', 'nope'), new ErrorReply('WRONGPASS invalid username-password pair or user is disabled.'));
    assert.deepEqual(await c.call('AUTH', 'pw'), new SimpleString('OK'));
    assert.deepEqual(await c.call('PING'), new SimpleString('PONG'));
  } finally {
    c.close();
  }
}

describe('command line', () => {
  const rejected = async (args: string[], mentions: RegExp) => {
    const r = await heck(args);
    assert.equal(r.code, 1, `exit code for ${args.join(' ')}; stderr: ${r.stderr}`);
    assert.match(r.stderr, /^heck-server: \S/, r.stderr);
    assert.match(r.stderr, mentions);
    assert.equal(r.stderr.trim().split('\n').length, 1, 'one clear line');
    assert.equal(r.stdout, '', 'nothing on stdout (it carries JSON logs only)');
  };

  test('an unknown flag exits 1 naming it', () => rejected(['--bogus', '1'], /--bogus/));
  test('a non-numeric port exits 1', () => rejected(['--port', 'abc'], /port/));
  test('a port out of range exits 1', () => rejected(['--port', '70000'], /port/));
  test('an unknown profile exits 1', () => rejected(['--profile', 'wan'], /profile.*wan|wan.*profile/));
  test('a bare word exits 1', () => rejected(['6379'], /6379/));
  test('an unreadable config file exits 1', () => rejected(['--config', join('/nonexistent', 'heck.conf')], /nonexistent/));

  test('--help exits 0 with usage on stdout', async () => {
    const r = await heck(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Usage: heck-server/);
    assert.match(r.stdout, /--port\b/);
    assert.match(r.stdout, /--requirepass\b/);
    assert.equal(r.stderr, '');
  });

  test('--version exits 0', async () => {
    const r = await heck(['--version']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^heck-server \d+\.\d+\.\d+/);
  });
});

describe('settings', () => {
  test('HECK_REQUIREPASS from the environment takes effect', async () => {
    const code = await withNode([], { HECK_REQUIREPASS: 'pw' }, (p) => assertRequiresPw(p.port));
    assert.equal(code, 0);
  });

  test('requirepass from a config file (quoted value, comment line) takes effect', async () => {
    const file = join(scratch, 'heck.conf');
    writeFileSync(file, '# Heck test configuration\n\nrequirepass "pw"\n   # indented comment\n');
    const code = await withNode(['--config', file], {}, async (p) => {
      await assertRequiresPw(p.port);
      const c = await RespClient.open(p.port);
      try {
        await c.call('AUTH', 'pw');
        const info = String(await c.call('INFO', 'server'));
        assert.match(info, new RegExp(`^config_file:${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\r?$`, 'm'));
      } finally {
        c.close();
      }
    });
    assert.equal(code, 0);
  });

  test('the command line beats the config file', async () => {
    const file = join(scratch, 'heck-precedence.conf');
    writeFileSync(file, 'requirepass "other"\n');
    const code = await withNode(['--config', file, '--requirepass', 'pw'], {}, (p) => assertRequiresPw(p.port));
    assert.equal(code, 0);
  });
});

describe('stopping', () => {
  // 10,000 usually completes before the signal lands; 200,000 is still being processed when it does.
  for (const count of [10_000, 200_000]) {
    const name = `SIGTERM with a ${count}-command pipeline in flight: exit 0, only complete replies`;
    test(name, { timeout: 15_000 }, async (t) => {
      const p = await startNodeProcess();
      const c = await RespClient.open(p.port);
      try {
        c.write(Buffer.from('*1\r\n$4\r\nPING\r\n'.repeat(count)));
        assert.equal(await c.readBytes(7), '+PONG\r\n');
        p.child.kill('SIGTERM');
        const rest = await within(c.readUntilClosed(), 5_000, 'server closing the connection', () => c.close());
        assert.equal(await exitOf(p), 0);
        const total = 7 + rest.length;
        t.diagnostic(`${total / 7} of ${count} replies received before the close`);
        assert.equal(total % 7, 0, `received ${total} bytes, a partial reply at the end: ${JSON.stringify(rest.slice(-20))}`);
        assert.ok(total / 7 <= count);
        assert.equal(rest, '+PONG\r\n'.repeat(rest.length / 7));
      } finally {
        c.close();
        p.child.kill('SIGKILL');
      }
    });
  }

  test('SIGTERM: a client that never closes its side does not keep the process alive', { timeout: 10_000 }, async () => {
    const p = await startNodeProcess();
    const socket = connect({ port: p.port, host: '127.0.0.1', allowHalfOpen: true });
    socket.on('error', () => {});
    try {
      await once(socket, 'connect');
      socket.write('PING\r\n');
      const [first] = (await once(socket, 'data')) as [Buffer];
      assert.equal(first.toString(), '+PONG\r\n');
      p.child.kill('SIGTERM');
      assert.equal(await exitOf(p), 0);
    } finally {
      socket.destroy();
      p.child.kill('SIGKILL');
    }
  });

  test('SIGTERM with a client connected: the graceful stop completes (stopped is logged), exit 0', async () => {
    const p = await startNodeProcess();
    const closed = stdoutClosed(p);
    const c = await RespClient.open(p.port);
    try {
      assert.deepEqual(await c.call('PING'), new SimpleString('PONG'));
      p.child.kill('SIGTERM');
      assert.equal(await within(c.readUntilClosed(), 5_000, 'server closing the connection', () => c.close()), '');
      assert.equal(await exitOf(p), 0);
      await closed;
      const events = p.logs.map((l) => l.event);
      assert.deepEqual(events.slice(-2), ['shutdown_requested', 'stopped'], `events: ${events}`);
    } finally {
      c.close();
      p.child.kill('SIGKILL');
    }
  });

  test('SIGINT exits 0', async () => {
    const p = await startNodeProcess();
    const closed = stdoutClosed(p);
    p.child.kill('SIGINT');
    assert.equal(await exitOf(p), 0);
    await closed;
    assert.ok(p.logs.some((l) => l.event === 'shutdown_requested' && l.by === 'SIGINT'), JSON.stringify(p.logs));
    assert.equal(p.logs.at(-1)?.event, 'stopped');
  });

  test('redis-cli SHUTDOWN stops the process: no output, both exit 0', async () => {
    const p = await startNodeProcess();
    try {
      const r = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(p.port), 'SHUTDOWN']);
      assert.deepEqual(r, { code: 0, signal: null, stdout: '', stderr: '' });
      assert.equal(await exitOf(p), 0);
    } finally {
      p.child.kill('SIGKILL');
    }
  });
});

test('a port already in use: exit 1 with a start_failed log line', async () => {
  const blocker = createServer();
  const spare = createServer();
  try {
    const port = await listen(blocker);
    // A free port for the bus, so that only the RESP port is in conflict.
    const busPort = await listen(spare);
    await new Promise<void>((resolve) => spare.close(() => resolve()));
    const r = await heck(['--port', String(port), '--bus-port', String(busPort), '--dir', join(scratch, 'busy')]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const failed = lines.find((l) => l.event === 'start_failed');
    assert.ok(failed, r.stdout);
    assert.equal(failed.level, 'error');
    assert.match(String(failed.error), /EADDRINUSE|in use/);
    assert.ok(!lines.some((l) => l.event === 'listening'));
  } finally {
    blocker.close();
  }
});

describe('structured logs', () => {
  const LEVELS = ['debug', 'info', 'warn', 'error'];
  const assertJsonLines = (logs: Record<string, unknown>[]) => {
    for (const rec of logs) {
      assert.ok(!('raw' in rec), `not JSON: ${JSON.stringify(rec.raw)}`);
      assert.equal(typeof rec.ts, 'string', JSON.stringify(rec));
      assert.ok(!Number.isNaN(Date.parse(rec.ts as string)), `ts ${String(rec.ts)}`);
      assert.ok(LEVELS.includes(rec.level as string), JSON.stringify(rec));
      assert.equal(typeof rec.event, 'string', JSON.stringify(rec));
    }
  };

  test('every stdout line is a JSON object with ts, level and event', async () => {
    const p = await startNodeProcess();
    const closed = stdoutClosed(p);
    try {
      const c = await RespClient.open(p.port);
      assert.deepEqual(await c.call('CONFIG', 'SET', 'maxclients', '5000'), new SimpleString('OK'));
      c.write('*abc\r\n'); // a protocol error, then the server closes the connection
      await c.readUntilClosed();
      assert.equal(await stop(p), 0);
      await closed;
      assertJsonLines(p.logs);
      const events = p.logs.map((l) => l.event);
      for (const e of ['listening', 'config_set', 'shutdown_requested', 'stopped']) assert.ok(events.includes(e), `${e} in ${events}`);
      assert.ok(!p.logs.some((l) => l.level === 'debug'), 'no debug lines at the default level');
    } finally {
      p.child.kill('SIGKILL');
    }
  });

  test('--log-level debug adds debug lines (protocol_error)', async () => {
    const p = await startNodeProcess(['--log-level', 'debug']);
    try {
      const c = await RespClient.open(p.port);
      c.write('*abc\r\n');
      assert.equal(await c.readUntilClosed(), '-ERR Protocol error: invalid multibulk length\r\n');
      const rec = await waitForLog(p, (l) => l.event === 'protocol_error');
      assert.equal(rec.level, 'debug');
      assertJsonLines(p.logs);
      assert.equal(await stop(p), 0);
    } finally {
      p.child.kill('SIGKILL');
    }
  });

  test('CONFIG SET log-level warn suppresses later info lines', async () => {
    const p = await startNodeProcess();
    const closed = stdoutClosed(p);
    try {
      const c = await RespClient.open(p.port);
      assert.deepEqual(await c.call('CONFIG', 'SET', 'log-level', 'warn'), new SimpleString('OK'));
      c.close();
      assert.equal(await stop(p), 0);
      await closed;
      assertJsonLines(p.logs);
      const events = p.logs.map((l) => l.event);
      assert.deepEqual(events, ['state_loaded', 'listening'], 'only the info lines printed before the change');
    } finally {
      p.child.kill('SIGKILL');
    }
  });
});
