import { createHash, timingSafeEqual } from 'node:crypto';
import { parseIntArg } from '../resp/integer.js';
import type { PubSubHub } from '../server/pubsub.js';
import { REDIS_COMPAT_VERSION } from '../version.js';
import { errors } from './errors.js';
import { helpSubcommand } from './help.js';
import type { Call, Client, CommandSpec } from './table.js';

/** A connected client as CLIENT LIST and CLIENT KILL see it. */
export interface ListedClient extends Client {
  readonly remoteAddress: string;
  readonly localAddress: string;
  readonly createdAt: number;
  readonly lastInteraction: number;
  memory(): { queryBuffer: number; outputBuffer: number };
  kill(): void;
}

export interface ConnectionDeps {
  requirepass(): string;
  hub: PubSubHub;
  clients(): Iterable<ListedClient>;
  now(): number;
}

const PONG = Buffer.from('+PONG\r\n');
const OK = Buffer.from('+OK\r\n');

/** The only user is `default`: passwordless unless requirepass is set. */
function passwordMatches(requirepass: string, user: string, password: Buffer): boolean {
  if (user !== 'default') return false;
  if (requirepass === '') return true;
  const digest = (b: Buffer | string) => createHash('sha256').update(b).digest();
  return timingSafeEqual(digest(password), digest(requirepass));
}

/** Client names and library attributes: printable ASCII without spaces, as Redis requires. */
function isPrintableWord(b: Buffer): boolean {
  for (const c of b) if (c < 0x21 || c > 0x7e) return false;
  return true;
}

const lower = (b: Buffer) => b.toString('latin1').toLowerCase();

export function connectionCommands(deps: ConnectionDeps): CommandSpec[] {
  const authenticate = (client: Client, user: Buffer, password: Buffer): void => {
    if (!passwordMatches(deps.requirepass(), user.toString(), password)) throw errors.wrongPass();
    client.authenticated = true;
  };

  const describe = (c: ListedClient): string => {
    const now = deps.now();
    const mem = c.memory();
    const subscribed = c.channels.size + c.patterns.size > 0;
    return [
      `id=${c.id}`,
      `addr=${c.remoteAddress}`,
      `laddr=${c.localAddress}`,
      `fd=-1`,
      `name=${c.name}`,
      `age=${Math.floor((now - c.createdAt) / 1000)}`,
      `idle=${Math.floor((now - c.lastInteraction) / 1000)}`,
      `flags=${subscribed ? 'P' : 'N'}`,
      `db=0`,
      `sub=${c.channels.size}`,
      `psub=${c.patterns.size}`,
      `ssub=0`,
      `multi=-1`,
      `qbuf=${mem.queryBuffer}`,
      `qbuf-free=0`,
      `argv-mem=0`,
      `multi-mem=0`,
      `rbs=0`,
      `rbp=0`,
      `obl=0`,
      `oll=0`,
      `omem=${mem.outputBuffer}`,
      `tot-mem=${mem.queryBuffer + mem.outputBuffer}`,
      `events=r`,
      `cmd=${c.lastCommand}`,
      `user=default`,
      `redir=-1`,
      `resp=${c.protocol}`,
      `lib-name=${c.libName}`,
      `lib-ver=${c.libVer}`,
    ].join(' ');
  };

  const clientType = (c: ListedClient) => (c.channels.size + c.patterns.size > 0 ? 'pubsub' : 'normal');

  const checkType = (t: Buffer): string => {
    const type = lower(t) === 'slave' ? 'replica' : lower(t);
    if (!['normal', 'master', 'replica', 'pubsub'].includes(type)) throw errors.clientKillType(t);
    return type;
  };

  const clientList = ({ args, reply }: Call): void => {
    let clients = [...deps.clients()];
    for (let i = 2; i < args.length; i++) {
      const opt = lower(args[i]!);
      if (opt === 'type' && i + 1 < args.length) {
        const type = checkType(args[++i]!);
        clients = clients.filter((c) => clientType(c) === type);
      } else if (opt === 'id' && i + 1 < args.length) {
        const ids = new Set<number>();
        while (i + 1 < args.length) {
          const id = parseIntArg(args[++i]!);
          if (id === null) throw errors.invalidClientId();
          ids.add(id);
        }
        clients = clients.filter((c) => ids.has(c.id));
      } else {
        throw errors.syntax();
      }
    }
    reply.verbatim(clients.map((c) => describe(c) + '\n').join(''));
  };

  const clientKill = ({ client, args, reply }: Call): void => {
    const all = [...deps.clients()];
    if (args.length === 3) {
      // Old form: CLIENT KILL addr:port
      const addr = args[2]!.toString();
      const target = all.find((c) => c.remoteAddress === addr);
      if (!target) throw errors.noSuchClient();
      killClient(client, target);
      reply.raw(OK);
      return;
    }
    if (args.length % 2 !== 0) throw errors.syntax();
    let matches = all;
    let skipMe = true;
    for (let i = 2; i < args.length; i += 2) {
      const opt = lower(args[i]!);
      const value = args[i + 1]!;
      const text = value.toString();
      if (opt === 'id') {
        const id = parseIntArg(value);
        if (id === null || id <= 0) throw errors.clientIdNotPositive();
        matches = matches.filter((c) => c.id === id);
      } else if (opt === 'type') {
        const type = checkType(value);
        matches = matches.filter((c) => clientType(c) === type);
      } else if (opt === 'addr') {
        matches = matches.filter((c) => c.remoteAddress === text);
      } else if (opt === 'laddr') {
        matches = matches.filter((c) => c.localAddress === text);
      } else if (opt === 'user') {
        if (text !== 'default') matches = [];
      } else if (opt === 'skipme') {
        const yn = lower(value);
        if (yn !== 'yes' && yn !== 'no') throw errors.syntax();
        skipMe = yn === 'yes';
      } else if (opt === 'maxage') {
        const age = parseIntArg(value);
        if (age === null) throw errors.notInteger();
        matches = matches.filter((c) => (deps.now() - c.createdAt) / 1000 >= age);
      } else {
        throw errors.syntax();
      }
    }
    if (skipMe) matches = matches.filter((c) => c.id !== client.id);
    for (const target of matches) killClient(client, target);
    reply.integer(matches.length);
  };

  /** Killing oneself still delivers this reply first, as in Redis. */
  const killClient = (self: Client, target: ListedClient): void => {
    if (target.id === self.id) self.closeAfterReply();
    else target.kill();
  };

  return [
    {
      name: 'ping',
      arity: -1,
      flags: ['fast', 'pubsub-context', 'loading', 'stale'],
      group: 'connection',
      summary: 'Returns the server\'s liveliness response.',
      since: '1.0.0',
      complexity: 'O(1)',
      args: [{ name: 'message', type: 'string', optional: true }],
      handler({ client, args, reply }) {
        if (args.length > 2) throw errors.wrongArity('ping');
        if (client.protocol === 2 && client.channels.size + client.patterns.size > 0) {
          reply.array(2);
          reply.bulk('pong');
          reply.bulk(args[1] ?? '');
        } else if (args.length === 1) {
          reply.raw(PONG);
        } else {
          reply.bulk(args[1]!);
        }
      },
    },
    {
      name: 'echo',
      arity: 2,
      flags: ['fast', 'loading', 'stale'],
      group: 'connection',
      summary: 'Returns the given string.',
      since: '1.0.0',
      complexity: 'O(1)',
      args: [{ name: 'message', type: 'string' }],
      handler: ({ args, reply }) => reply.bulk(args[1]!),
    },
    {
      name: 'hello',
      arity: -1,
      flags: ['noauth', 'fast', 'loading', 'stale'],
      group: 'connection',
      summary: 'Handshakes with the server: protocol version, authentication, client name.',
      since: '6.0.0',
      complexity: 'O(1)',
      args: [
        {
          name: 'arguments',
          type: 'block',
          optional: true,
          arguments: [
            { name: 'protover', type: 'integer' },
            {
              name: 'username-password',
              type: 'block',
              token: 'AUTH',
              optional: true,
              arguments: [
                { name: 'username', type: 'string' },
                { name: 'password', type: 'string' },
              ],
            },
            { name: 'clientname', type: 'string', token: 'SETNAME', optional: true },
          ],
        },
      ],
      handler({ client, args, reply }) {
        let protocol = client.protocol;
        if (args.length >= 2) {
          const ver = parseIntArg(args[1]!);
          if (ver === null) throw errors.protoNotInteger();
          if (ver !== 2 && ver !== 3) throw errors.noProto();
          protocol = ver;
        }
        let auth: [Buffer, Buffer] | null = null;
        let name: Buffer | null = null;
        for (let j = 2; j < args.length; j++) {
          const more = args.length - 1 - j;
          const opt = lower(args[j]!);
          if (opt === 'auth' && more >= 2) {
            auth = [args[j + 1]!, args[j + 2]!];
            j += 2;
          } else if (opt === 'setname' && more >= 1) {
            name = args[++j]!;
            if (!isPrintableWord(name)) throw errors.badClientName();
          } else {
            throw errors.helloOption(args[j]!);
          }
        }
        if (auth) authenticate(client, auth[0], auth[1]);
        if (!client.authenticated) throw errors.helloNoAuth();
        if (name) client.name = name.toString();
        client.protocol = protocol;
        reply.map(7);
        reply.bulk('server');
        reply.bulk('redis');
        reply.bulk('version');
        reply.bulk(REDIS_COMPAT_VERSION);
        reply.bulk('proto');
        reply.integer(protocol);
        reply.bulk('id');
        reply.integer(client.id);
        reply.bulk('mode');
        reply.bulk('standalone');
        reply.bulk('role');
        reply.bulk('master');
        reply.bulk('modules');
        reply.array(0);
      },
    },
    {
      name: 'auth',
      arity: -2,
      flags: ['noauth', 'fast', 'loading', 'stale'],
      group: 'connection',
      summary: 'Authenticates the connection.',
      since: '1.0.0',
      complexity: 'O(N) where N is the number of passwords defined for the user',
      args: [
        { name: 'username', type: 'string', optional: true },
        { name: 'password', type: 'string' },
      ],
      handler({ client, args, reply }) {
        if (args.length > 3) throw errors.syntax();
        if (args.length === 2 && deps.requirepass() === '') throw errors.authNotConfigured();
        const [user, password] = args.length === 2 ? [Buffer.from('default'), args[1]!] : [args[1]!, args[2]!];
        authenticate(client, user, password);
        reply.raw(OK);
      },
    },
    {
      name: 'quit',
      arity: -1,
      flags: ['noauth', 'fast', 'pubsub-context', 'loading', 'stale'],
      group: 'connection',
      summary: 'Closes the connection.',
      since: '1.0.0',
      complexity: 'O(1)',
      handler({ client, reply }) {
        reply.raw(OK);
        client.closeAfterReply();
      },
    },
    {
      name: 'reset',
      arity: 1,
      flags: ['noauth', 'fast', 'pubsub-context', 'loading', 'stale'],
      group: 'connection',
      summary: 'Resets the connection: RESP2, no name, no subscriptions, not authenticated.',
      since: '6.2.0',
      complexity: 'O(1)',
      handler({ client, reply }) {
        deps.hub.dropAll(client);
        client.name = '';
        client.authenticated = deps.requirepass() === '';
        client.protocol = 2;
        reply.simple('RESET');
      },
    },
    {
      name: 'select',
      arity: 2,
      flags: ['fast', 'loading', 'stale'],
      group: 'connection',
      summary: 'Selects the database; Heck has only database 0.',
      since: '1.0.0',
      complexity: 'O(1)',
      args: [{ name: 'index', type: 'integer' }],
      handler({ args, reply }) {
        const db = parseIntArg(args[1]!);
        if (db === null) throw errors.notInteger();
        if (db < -2147483648 || db > 2147483647) throw errors.outOfRange(-2147483648, 2147483647);
        if (db !== 0) throw errors.dbOutOfRange();
        reply.raw(OK);
      },
    },
    {
      name: 'client',
      arity: -2,
      flags: [],
      group: 'connection',
      summary: 'A container for client connection commands.',
      since: '2.4.0',
      complexity: 'Depends on subcommand.',
      subcommands: [
        {
          name: 'id',
          arity: 2,
          flags: ['fast', 'loading', 'stale'],
          group: 'connection',
          summary: 'Returns the unique client ID of the connection.',
          since: '5.0.0',
          complexity: 'O(1)',
          handler: ({ client, reply }) => reply.integer(client.id),
        },
        {
          name: 'setname',
          arity: 3,
          flags: ['fast', 'loading', 'stale'],
          group: 'connection',
          summary: 'Sets the connection name.',
          since: '2.6.9',
          complexity: 'O(1)',
          args: [{ name: 'connection-name', type: 'string' }],
          handler({ client, args, reply }) {
            if (!isPrintableWord(args[2]!)) throw errors.badClientName();
            client.name = args[2]!.toString();
            reply.raw(OK);
          },
        },
        {
          name: 'getname',
          arity: 2,
          flags: ['fast', 'loading', 'stale'],
          group: 'connection',
          summary: 'Returns the name of the connection.',
          since: '2.6.9',
          complexity: 'O(1)',
          handler: ({ client, reply }) => (client.name ? reply.bulk(client.name) : reply.null()),
        },
        {
          name: 'setinfo',
          arity: 4,
          flags: ['fast', 'loading', 'stale'],
          group: 'connection',
          summary: "Sets information specific to the client or connection.",
          since: '7.2.0',
          complexity: 'O(1)',
          args: [
            {
              name: 'attr',
              type: 'oneof',
              arguments: [
                { name: 'libname', type: 'string', token: 'LIB-NAME' },
                { name: 'libver', type: 'string', token: 'LIB-VER' },
              ],
            },
          ],
          handler({ client, args, reply }) {
            const attr = lower(args[2]!);
            if (attr !== 'lib-name' && attr !== 'lib-ver') throw errors.unrecognizedOption(args[2]!);
            if (!isPrintableWord(args[3]!)) throw errors.badClientAttr(args[2]!);
            if (attr === 'lib-name') client.libName = args[3]!.toString();
            else client.libVer = args[3]!.toString();
            reply.raw(OK);
          },
        },
        {
          name: 'info',
          arity: 2,
          flags: ['loading', 'stale'],
          group: 'connection',
          summary: 'Returns information about the connection.',
          since: '6.2.0',
          complexity: 'O(1)',
          handler({ client, reply }) {
            const self = [...deps.clients()].find((c) => c.id === client.id);
            reply.verbatim(self ? describe(self) + '\n' : '');
          },
        },
        {
          name: 'list',
          arity: -2,
          flags: ['admin', 'loading', 'stale'],
          group: 'connection',
          summary: 'Lists open connections.',
          since: '2.4.0',
          complexity: 'O(N) where N is the number of client connections',
          args: [
            { name: 'client-type', type: 'oneof', token: 'TYPE', optional: true, arguments: [
              { name: 'normal', type: 'pure-token', token: 'NORMAL' },
              { name: 'master', type: 'pure-token', token: 'MASTER' },
              { name: 'replica', type: 'pure-token', token: 'REPLICA' },
              { name: 'pubsub', type: 'pure-token', token: 'PUBSUB' },
            ] },
            { name: 'client-id', type: 'integer', token: 'ID', optional: true, multiple: true },
          ],
          handler: clientList,
        },
        {
          name: 'kill',
          arity: -3,
          flags: ['admin', 'loading', 'stale'],
          group: 'connection',
          summary: 'Terminates open connections.',
          since: '2.4.0',
          complexity: 'O(N) where N is the number of client connections',
          args: [
            { name: 'filter', type: 'oneof', arguments: [
              { name: 'ip:port', type: 'string' },
              { name: 'client-id', type: 'integer', token: 'ID', optional: true },
              { name: 'addr', type: 'string', token: 'ADDR', optional: true },
              { name: 'laddr', type: 'string', token: 'LADDR', optional: true },
              { name: 'skipme', type: 'string', token: 'SKIPME', optional: true },
            ] },
          ],
          handler: clientKill,
        },
        helpSubcommand('client', [
          'GETNAME',
          '    Return the name of the current connection.',
          'ID',
          '    Return the ID of the current connection.',
          'INFO',
          '    Return information about the current client connection.',
          'KILL <ip:port>',
          '    Kill connection made from <ip:port>.',
          'KILL <option> <value> [<option> <value> [...]]',
          '    Kill connections. Options are: ID, TYPE, USER, ADDR, LADDR, SKIPME, MAXAGE.',
          'LIST [options ...]',
          '    Return information about client connections. Options: TYPE, ID.',
          'SETINFO <option> <value>',
          '    Set client meta attr. Options are: LIB-NAME, LIB-VER.',
          'SETNAME <name>',
          '    Assign the name <name> to the current connection.',
        ], 'connection'),
      ],
    },
  ];
}
