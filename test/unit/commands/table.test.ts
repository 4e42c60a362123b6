import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CommandError } from '../../../src/commands/errors.js';
import { Command, CommandTable, type CommandSpec, type Handler } from '../../../src/commands/table.js';
import { encode } from '../../../src/resp/writer.js';

const noop: Handler = () => {};

function spec(name: string, arity: number, extra: Partial<CommandSpec> = {}): CommandSpec {
  return {
    name,
    arity,
    flags: [],
    group: 'server',
    summary: `${name} summary`,
    since: '1.0.0',
    complexity: 'O(1)',
    handler: noop,
    ...extra,
  };
}

/** A small table shaped like Heck's: plain commands and a container with subcommands. */
function makeTable(): CommandTable {
  const t = new CommandTable();
  t.register([spec('ping', -1, { flags: ['fast', 'noauth'] }), spec('get', 2), spec('echo', 2)]);
  t.register([
    spec('client', -2, {
      handler: undefined,
      group: 'connection',
      subcommands: [spec('setname', 3), spec('getname', 2), spec('list', -2), spec('help', 2)],
    }),
  ]);
  return t;
}

const args = (...a: string[]) => a.map((s) => Buffer.from(s, 'latin1'));

/** Asserts resolve() throws a CommandError with exactly this reply text. */
function rejects(t: CommandTable, argv: Buffer[], reply: string): CommandError {
  let caught: unknown;
  assert.throws(
    () => t.resolve(argv),
    (e: unknown) => {
      caught = e;
      return e instanceof CommandError;
    },
  );
  const err = caught as CommandError;
  assert.equal(err.reply, reply);
  return err;
}

describe('CommandTable: registration and lookup', () => {
  test('all() lists top-level commands in registration order', () => {
    assert.deepEqual(
      makeTable()
        .all()
        .map((c) => c.fullName),
      ['ping', 'get', 'echo', 'client'],
    );
  });

  test('everything() adds subcommands after their container', () => {
    assert.deepEqual(
      makeTable()
        .everything()
        .map((c) => c.fullName),
      ['ping', 'get', 'echo', 'client', 'client|setname', 'client|getname', 'client|list', 'client|help'],
    );
  });

  test('resolve() finds names in any ASCII case, and only whole names', () => {
    const t = makeTable();
    for (const name of ['ping', 'PING', 'PiNg', 'pINg']) assert.equal(t.resolve(args(name)).fullName, 'ping', name);
    for (const name of ['pin', 'pingg', 'ping ', ' ping', 'ping\x00', 'pong', '']) {
      assert.throws(() => t.resolve(args(name)), CommandError, JSON.stringify(name));
    }
  });

  test('resolve() folds ASCII letters only (as Redis does with its case-insensitive dict)', () => {
    const t = new CommandTable();
    t.register([spec('\xe9cho', -1)]);
    assert.equal(t.resolve(args('\xe9CHO')).fullName, '\xe9cho');
    assert.throws(() => t.resolve(args('\xc9CHO')), CommandError);
    // UTF-8 "İ" / "ı" are not ASCII i.
    assert.throws(() => makeTable().resolve([Buffer.from('pİng')]), CommandError);
    assert.throws(() => makeTable().resolve([Buffer.from('pıng')]), CommandError);
  });

  test('byFullName() takes "cmd" and "cmd|sub", in any case', () => {
    const t = makeTable();
    assert.equal(t.byFullName('client')?.fullName, 'client');
    assert.equal(t.byFullName('client|setname')?.fullName, 'client|setname');
    assert.equal(t.byFullName('CLIENT|SetName')?.fullName, 'client|setname');
    assert.equal(t.byFullName('GET')?.fullName, 'get');
    assert.equal(t.byFullName('client|nope'), undefined);
    assert.equal(t.byFullName('get|x'), undefined);
    assert.equal(t.byFullName('nope'), undefined);
    assert.equal(t.byFullName('nope|x'), undefined);
  });

  test('a subcommand knows its parent, full name and flags', () => {
    const t = makeTable();
    const sub = t.byFullName('client|setname')!;
    assert.equal(sub.parent, t.byFullName('client'));
    assert.equal(sub.spec.name, 'setname');
    assert.equal(t.byFullName('ping')!.flags.has('noauth'), true);
    assert.equal(t.byFullName('get')!.flags.has('noauth'), false);
  });

  test('registering a name twice throws, within one call or across calls', () => {
    const t = new CommandTable();
    t.register([spec('get', 2)]);
    assert.throws(() => t.register([spec('get', 3)]), /duplicate command get/);
    assert.throws(() => new CommandTable().register([spec('set', 3), spec('set', 3)]), /duplicate command set/);
  });

  test('a command with neither a handler nor subcommands is refused', () => {
    assert.throws(() => new CommandTable().register([spec('bare', 1, { handler: undefined })]), /command bare has no handler/);
    assert.throws(
      () => new CommandTable().register([spec('box', -2, { handler: undefined, subcommands: [spec('inner', 2, { handler: undefined })] })]),
      /command box\|inner has no handler/,
    );
  });
});

describe('Command.arityOk', () => {
  test('positive arity means exactly N, negative means at least N', () => {
    const exact = new Command(spec('get', 2), null);
    assert.deepEqual([1, 2, 3].map((n) => exact.arityOk(n)), [false, true, false]);
    const atLeast = new Command(spec('set', -3), null);
    assert.deepEqual([2, 3, 4, 10].map((n) => atLeast.arityOk(n)), [false, true, true, true]);
    const any = new Command(spec('ping', -1), null);
    assert.equal(any.arityOk(1), true);
  });
});

describe('CommandTable.resolve', () => {
  test('resolves commands in any case', () => {
    const t = makeTable();
    assert.equal(t.resolve(args('PING')).fullName, 'ping');
    assert.equal(t.resolve(args('ping', 'hello')).fullName, 'ping');
    assert.equal(t.resolve(args('GeT', 'k')).fullName, 'get');
  });

  test('resolves subcommands in any case', () => {
    const t = makeTable();
    assert.equal(t.resolve(args('CLIENT', 'SETNAME', 'x')).fullName, 'client|setname');
    assert.equal(t.resolve(args('client', 'GetName')).fullName, 'client|getname');
    assert.equal(t.resolve(args('Client', 'list', 'TYPE', 'normal')).fullName, 'client|list');
  });

  test('unknown command: name as sent, each argument quoted and followed by a space', () => {
    const t = makeTable();
    rejects(t, args('FOOBAR', 'a', 'b'), "ERR unknown command 'FOOBAR', with args beginning with: 'a' 'b' ");
    rejects(t, args('heck.get'), "ERR unknown command 'heck.get', with args beginning with: ");
    rejects(t, args('NOPE', ''), "ERR unknown command 'NOPE', with args beginning with: '' ");
  });

  test('unknown command: the name is cut at 128 bytes', () => {
    const t = makeTable();
    rejects(t, args('Z'.repeat(200)), `ERR unknown command '${'Z'.repeat(128)}', with args beginning with: `);
  });

  // Texts below were produced by redis-server 7.0.15 for the same requests.
  test('unknown command: arguments are cut once 128 bytes of argument text are reached', () => {
    const t = makeTable();
    rejects(
      t,
      args('FooBar', 'abc', 'x'.repeat(200), 'y'),
      `ERR unknown command 'FooBar', with args beginning with: 'abc' '${'x'.repeat(122)}' `,
    );
    rejects(t, args('f', 'a'.repeat(127), 'b'), `ERR unknown command 'f', with args beginning with: '${'a'.repeat(127)}' `);
    rejects(t, args('f', 'a'.repeat(300)), `ERR unknown command 'f', with args beginning with: '${'a'.repeat(128)}' `);
  });

  test('unknown command: binary bytes are kept as sent (latin1), not re-encoded', () => {
    const t = makeTable();
    const err = rejects(t, [Buffer.from([0x66, 0xff]), Buffer.from([0xe9])], "ERR unknown command 'f\xff', with args beginning with: '\xe9' ");
    assert.equal(err.code, 'ERR');
  });

  // The dispatcher sends err.reply through ReplyWriter.error(). Redis copies the argument bytes
  // into the error as they are. Checked on redis-server 7.0.15: a command named "foo\xc3\xa9" (UTF-8
  // "fooé") with argument "\xc3\xa9" gets
  // -ERR unknown command 'foo\xc3\xa9', with args beginning with: '\xc3\xa9' \r\n
  test('unknown command: UTF-8 bytes in the name and arguments reach the wire unchanged', () => {
    const t = makeTable();
    const err = rejects(t, [Buffer.from('fooé'), Buffer.from('é')], "ERR unknown command 'foo\xc3\xa9', with args beginning with: '\xc3\xa9' ");
    const wire = encode(2, (w) => w.error(err.reply));
    assert.deepEqual(wire, Buffer.from("-ERR unknown command 'fooé', with args beginning with: 'é' \r\n", 'utf8'));
  });

  test("unknown subcommand: ERR unknown subcommand 'foo'. Try CLIENT HELP.", () => {
    const t = makeTable();
    rejects(t, args('client', 'foo'), "ERR unknown subcommand 'foo'. Try CLIENT HELP.");
    rejects(t, args('Client', 'Foo', 'x'), "ERR unknown subcommand 'Foo'. Try CLIENT HELP.");
    rejects(t, args('client', 's'.repeat(200)), `ERR unknown subcommand '${'s'.repeat(128)}'. Try CLIENT HELP.`);
  });

  test("wrong arity of a subcommand names it 'client|setname'", () => {
    const t = makeTable();
    rejects(t, args('client', 'setname'), "ERR wrong number of arguments for 'client|setname' command");
    rejects(t, args('CLIENT', 'SETNAME', 'a', 'b'), "ERR wrong number of arguments for 'client|setname' command");
  });

  test('wrong arity of a command names it in lowercase', () => {
    const t = makeTable();
    rejects(t, args('GET'), "ERR wrong number of arguments for 'get' command");
    rejects(t, args('get', 'a', 'b'), "ERR wrong number of arguments for 'get' command");
  });

  test('a container alone is checked against its own arity', () => {
    const t = makeTable();
    rejects(t, args('CLIENT'), "ERR wrong number of arguments for 'client' command");
  });

  test('a command without subcommands ignores what its first argument looks like', () => {
    const t = makeTable();
    assert.equal(t.resolve(args('echo', 'help')).fullName, 'echo');
  });
});

describe('CommandTable: statistics', () => {
  test('an arity error counts as a rejected call on the command that was found', () => {
    const t = makeTable();
    assert.throws(() => t.resolve(args('client', 'setname')));
    assert.throws(() => t.resolve(args('client', 'setname')));
    assert.throws(() => t.resolve(args('get')));
    assert.equal(t.byFullName('client|setname')!.stats.rejectedCalls, 2);
    assert.equal(t.byFullName('client')!.stats.rejectedCalls, 0);
    assert.equal(t.byFullName('get')!.stats.rejectedCalls, 1);
  });

  test('unknown commands and subcommands count against no command', () => {
    const t = makeTable();
    assert.throws(() => t.resolve(args('nope')));
    assert.throws(() => t.resolve(args('client', 'nope')));
    for (const c of t.everything()) assert.equal(c.stats.rejectedCalls, 0, c.fullName);
  });

  test('a successful resolve does not touch the stats', () => {
    const t = makeTable();
    const cmd = t.resolve(args('get', 'k'));
    assert.deepEqual({ ...cmd.stats }, { calls: 0, usec: 0, rejectedCalls: 0, failedCalls: 0 });
  });

  test('countError() counts by error code; resetStats() clears everything', () => {
    const t = makeTable();
    t.countError(new CommandError('ERR syntax error'));
    t.countError(new CommandError('ERR other'));
    t.countError(new CommandError('NOAUTH Authentication required.'));
    t.countError(new CommandError('WRONGPASS'));
    assert.deepEqual(Object.fromEntries(t.errorStats), { ERR: 2, NOAUTH: 1, WRONGPASS: 1 });
    assert.throws(() => t.resolve(args('get')));
    t.byFullName('ping')!.stats.calls = 5;
    t.resetStats();
    assert.equal(t.errorStats.size, 0);
    for (const c of t.everything()) assert.deepEqual({ ...c.stats }, { calls: 0, usec: 0, rejectedCalls: 0, failedCalls: 0 });
  });
});
