import { ConfigError, formatSetting, PARAMS, type Config } from '../config.js';
import type { ReplyWriter } from '../resp/writer.js';
import { globMatch } from '../server/glob.js';
import { errors } from './errors.js';
import { helpSubcommand } from './help.js';
import type { ArgDoc, Call, Command, CommandSpec, CommandTable } from './table.js';

/** An INFO section: its name as INFO prints it, and its `key:value` fields. */
export interface InfoSection {
  name: string;
  /** Listed by plain INFO (Redis' "default" set); otherwise only by name, `all` or `everything`. */
  inDefault: boolean;
  fields(): [string, string | number][];
}

export interface ServerDeps {
  table: CommandTable;
  config: Config;
  /** Sections in the order INFO prints them. */
  infoSections(): InfoSection[];
  /** Called after CONFIG SET changed settings, so live components pick them up. */
  configChanged(names: string[]): void;
  resetStats(): void;
  dbsize(): number;
  wallNow(): number;
  shutdown(): void;
}

/** Read-only answers redis-benchmark and other tools ask for; Heck has no RDB/AOF or databases. */
const COMPAT_CONFIG: [string, string][] = [
  ['save', ''],
  ['appendonly', 'no'],
  ['databases', '1'],
];

const FLAG_NAMES: Record<string, string> = {
  fast: 'fast',
  write: 'write',
  readonly: 'readonly',
  noauth: 'no_auth',
  admin: 'admin',
  pubsub: 'pubsub',
  loading: 'loading',
  stale: 'stale',
  noscript: 'noscript',
};

function aclCategories(cmd: Command): string[] {
  const cats = [cmd.flags.has('fast') ? '@fast' : '@slow'];
  if (cmd.flags.has('write')) cats.push('@write');
  if (cmd.flags.has('readonly')) cats.push('@read');
  if (cmd.flags.has('admin')) cats.push('@admin', '@dangerous');
  if (cmd.spec.group === 'connection' || cmd.spec.group === 'pubsub') cats.push(`@${cmd.spec.group}`);
  return cats;
}

/** COMMAND INFO's ten-element entry (Redis 7). */
function writeCommandInfo(reply: ReplyWriter, cmd: Command): void {
  const flags = [...cmd.flags].map((f) => FLAG_NAMES[f]).filter((f): f is string => f !== undefined);
  const cats = aclCategories(cmd);
  reply.array(10);
  reply.bulk(cmd.fullName);
  reply.integer(cmd.spec.arity);
  reply.set(flags.length);
  for (const f of flags) reply.simple(f);
  // Key positions, for clients that route by key: our commands name at most one, always first.
  const keyAt = (cmd.spec.args ?? []).findIndex((a) => a.type === 'key') === 0 ? 1 : 0;
  reply.integer(keyAt);
  reply.integer(keyAt);
  reply.integer(keyAt);
  reply.set(cats.length);
  for (const c of cats) reply.simple(c);
  reply.set(0);
  reply.array(0);
  reply.array(cmd.subcommands.size);
  for (const sub of cmd.subcommands.values()) writeCommandInfo(reply, sub);
}

function writeArgDocs(reply: ReplyWriter, args: ArgDoc[]): void {
  reply.array(args.length);
  for (const a of args) {
    const flags = [a.optional && 'optional', a.multiple && 'multiple'].filter((f): f is string => !!f);
    const pairs = 2 + (a.token ? 1 : 0) + (flags.length ? 1 : 0) + (a.arguments ? 1 : 0);
    reply.map(pairs);
    reply.bulk('name');
    reply.bulk(a.name);
    reply.bulk('type');
    reply.bulk(a.type);
    if (a.token) {
      reply.bulk('token');
      reply.bulk(a.token);
    }
    if (flags.length) {
      reply.bulk('flags');
      reply.array(flags.length);
      for (const f of flags) reply.simple(f);
    }
    if (a.arguments) {
      reply.bulk('arguments');
      writeArgDocs(reply, a.arguments);
    }
  }
}

/** COMMAND DOCS' map for one command, in the shape redis-cli reads for its help and hints. */
function writeCommandDocs(reply: ReplyWriter, cmd: Command): void {
  const { spec } = cmd;
  reply.map(4 + (spec.args ? 1 : 0) + (cmd.subcommands.size ? 1 : 0));
  reply.bulk('summary');
  reply.bulk(spec.summary);
  reply.bulk('since');
  reply.bulk(spec.since);
  reply.bulk('group');
  reply.bulk(spec.group);
  reply.bulk('complexity');
  reply.bulk(spec.complexity);
  if (spec.args) {
    reply.bulk('arguments');
    writeArgDocs(reply, spec.args);
  }
  if (cmd.subcommands.size) {
    reply.bulk('subcommands');
    reply.map(cmd.subcommands.size);
    for (const sub of cmd.subcommands.values()) {
      reply.bulk(sub.fullName);
      writeCommandDocs(reply, sub);
    }
  }
}

const lower = (b: Buffer) => b.toString('latin1').toLowerCase();

export function serverCommands(deps: ServerDeps): CommandSpec[] {
  const { table, config } = deps;

  const info = ({ args, reply }: Call): void => {
    const wanted = new Set(args.slice(1).map(lower));
    if (wanted.size === 0) wanted.add('default');
    const everything = wanted.has('all') || wanted.has('everything');
    const parts: string[] = [];
    for (const section of deps.infoSections()) {
      const key = section.name.toLowerCase();
      if (!(everything || wanted.has(key) || (wanted.has('default') && section.inDefault))) continue;
      const lines = section.fields().map(([k, v]) => `${k}:${v}\r\n`);
      parts.push(`# ${section.name}\r\n${lines.join('')}`);
    }
    reply.verbatim(parts.join('\r\n'));
  };

  /** A plain name is answered under the spelling it was asked with, a pattern under the real names (Redis 7). */
  const configGet = ({ args, reply }: Call): void => {
    const found = new Map<string, string>();
    for (const arg of args.slice(2)) {
      const pattern = arg.toString('latin1');
      const exact = !/[*?[]/.test(pattern);
      for (const param of PARAMS) {
        if (globMatch(pattern, param.name, true)) found.set(exact ? pattern : param.name, formatSetting(config, param));
      }
      for (const [name, value] of COMPAT_CONFIG) if (globMatch(pattern, name, true)) found.set(exact ? pattern : name, value);
    }
    reply.map(found.size);
    for (const [k, v] of found) {
      reply.bulk(Buffer.from(k, 'latin1'));
      reply.bulk(v);
    }
  };

  /**
   * All-or-nothing, in Redis 7's order: every name is checked (unknown, immutable, duplicate)
   * before any value is parsed, and nothing is applied unless every value parses. Name errors quote
   * the argument as the client spelled it, value errors the setting's own name, as Redis does.
   */
  const configSet = ({ args, reply }: Call): void => {
    if (args.length % 2 !== 0) throw errors.syntax();
    const pairs: { asSent: string; param: (typeof PARAMS)[number]; text: string }[] = [];
    for (let i = 2; i < args.length; i += 2) {
      const asSent = args[i]!.toString('latin1');
      const name = asSent.toLowerCase();
      const param = PARAMS.find((p) => p.name === name);
      if (!param) {
        if (COMPAT_CONFIG.some(([n]) => n === name)) throw errors.configSetFailed(asSent, "can't set immutable config");
        throw errors.configSetUnknown(args[i]!);
      }
      if (!param.mutable) throw errors.configSetFailed(asSent, "can't set immutable config");
      if (pairs.some((p) => p.param === param)) throw errors.configSetDuplicate(asSent);
      pairs.push({ asSent, param, text: args[i + 1]!.toString() });
    }
    const values = pairs.map(({ param, text }) => {
      try {
        return param.parse(text);
      } catch (e) {
        if (e instanceof ConfigError) throw errors.configSetFailed(param.name, e.message);
        throw e;
      }
    });
    pairs.forEach(({ param }, i) => ((config as unknown as Record<string, unknown>)[param.key] = values[i]));
    deps.configChanged(pairs.map((p) => p.param.name));
    reply.simple('OK');
  };

  const sub = (spec: Omit<CommandSpec, 'group' | 'since'> & { since?: string }): CommandSpec => ({
    group: 'server',
    since: '7.0.0',
    ...spec,
  });

  return [
    {
      name: 'info',
      arity: -1,
      flags: ['loading', 'stale'],
      group: 'server',
      summary: 'Returns information and statistics about the server.',
      since: '1.0.0',
      complexity: 'O(1)',
      args: [{ name: 'section', type: 'string', optional: true, multiple: true }],
      handler: info,
    },
    {
      name: 'command',
      arity: -1,
      flags: ['loading', 'stale'],
      group: 'server',
      summary: 'Returns detailed information about all commands.',
      since: '2.8.13',
      complexity: 'O(N) where N is the total number of commands',
      handler({ reply }) {
        const all = table.all();
        reply.array(all.length);
        for (const cmd of all) writeCommandInfo(reply, cmd);
      },
      subcommands: [
        sub({
          name: 'count',
          arity: 2,
          flags: ['loading', 'stale'],
          summary: 'Returns a count of commands.',
          since: '2.8.13',
          complexity: 'O(1)',
          handler: ({ reply }) => reply.integer(table.all().length),
        }),
        sub({
          name: 'info',
          arity: -2,
          flags: ['loading', 'stale'],
          summary: 'Returns information about one, multiple or all commands.',
          since: '2.8.13',
          complexity: 'O(N) where N is the number of commands to look up',
          args: [{ name: 'command-name', type: 'string', optional: true, multiple: true }],
          handler({ args, reply }) {
            const cmds = args.length > 2 ? args.slice(2).map((a) => table.byFullName(a.toString())) : table.all();
            reply.array(cmds.length);
            for (const cmd of cmds) {
              if (cmd) writeCommandInfo(reply, cmd);
              else reply.null();
            }
          },
        }),
        sub({
          name: 'docs',
          arity: -2,
          flags: ['loading', 'stale'],
          summary: 'Returns documentary information about one, multiple or all commands.',
          complexity: 'O(N) where N is the number of commands to look up',
          args: [{ name: 'command-name', type: 'string', optional: true, multiple: true }],
          handler({ args, reply }) {
            const cmds =
              args.length > 2
                ? args.slice(2).flatMap((a) => table.byFullName(a.toString()) ?? [])
                : table.all();
            reply.map(cmds.length);
            for (const cmd of cmds) {
              reply.bulk(cmd.fullName);
              writeCommandDocs(reply, cmd);
            }
          },
        }),
        sub({
          name: 'list',
          arity: -2,
          flags: ['loading', 'stale'],
          summary: 'Returns a list of command names.',
          complexity: 'O(N) where N is the total number of commands',
          args: [
            {
              name: 'filterby',
              type: 'oneof',
              token: 'FILTERBY',
              optional: true,
              arguments: [
                { name: 'module-name', type: 'string', token: 'MODULE' },
                { name: 'category', type: 'string', token: 'ACLCAT' },
                { name: 'pattern', type: 'pattern', token: 'PATTERN' },
              ],
            },
          ],
          handler({ args, reply }) {
            let cmds = table.everything();
            if (args.length === 5 && lower(args[2]!) === 'filterby') {
              const how = lower(args[3]!);
              const what = args[4]!.toString();
              if (how === 'module') cmds = [];
              else if (how === 'aclcat') cmds = cmds.filter((c) => aclCategories(c).includes(`@${what.toLowerCase()}`));
              else if (how === 'pattern') cmds = cmds.filter((c) => globMatch(what, c.fullName, true));
              else throw errors.syntax();
            } else if (args.length !== 2) {
              throw errors.syntax();
            }
            reply.array(cmds.length);
            for (const c of cmds) reply.bulk(c.fullName);
          },
        }),
        helpSubcommand('command', [
          '(no subcommand)',
          '    Return details about all commands.',
          'COUNT',
          '    Return the total number of commands in this server.',
          'LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]',
          '    Return a list of all commands in this server.',
          'INFO [<command-name> ...]',
          '    Return details about the given commands, or all of them.',
          'DOCS [<command-name> ...]',
          '    Return documentation details about the given commands, or all of them.',
        ], 'server'),
      ],
    },
    {
      name: 'config',
      arity: -2,
      flags: [],
      group: 'server',
      summary: 'A container for server configuration commands.',
      since: '2.0.0',
      complexity: 'Depends on subcommand.',
      subcommands: [
        sub({
          name: 'get',
          arity: -3,
          flags: ['admin', 'noscript', 'loading', 'stale'],
          summary: 'Returns the effective values of configuration parameters.',
          since: '2.0.0',
          complexity: 'O(N) when N is the number of configuration parameters provided',
          args: [{ name: 'parameter', type: 'string', multiple: true }],
          handler: configGet,
        }),
        sub({
          name: 'set',
          arity: -4,
          flags: ['admin', 'noscript', 'loading', 'stale'],
          summary: 'Sets configuration parameters in-flight.',
          since: '2.0.0',
          complexity: 'O(N) when N is the number of configuration parameters provided',
          args: [
            {
              name: 'data',
              type: 'block',
              multiple: true,
              arguments: [
                { name: 'parameter', type: 'string' },
                { name: 'value', type: 'string' },
              ],
            },
          ],
          handler: configSet,
        }),
        sub({
          name: 'resetstat',
          arity: 2,
          flags: ['admin', 'noscript', 'loading', 'stale'],
          summary: 'Resets the server\'s statistics.',
          since: '2.0.0',
          complexity: 'O(1)',
          handler({ reply }) {
            deps.resetStats();
            reply.simple('OK');
          },
        }),
        helpSubcommand('config', [
          'GET <pattern>',
          '    Return parameters matching the glob-like <pattern> and their values.',
          'SET <directive> <value>',
          '    Set the configuration <directive> to <value>.',
          'RESETSTAT',
          '    Reset statistics reported by the INFO command.',
        ], 'server'),
      ],
    },
    {
      name: 'dbsize',
      arity: 1,
      flags: ['fast', 'loading', 'stale'],
      group: 'server',
      summary: 'Returns the number of origins.',
      since: '1.0.0',
      complexity: 'O(1)',
      handler: ({ reply }) => reply.integer(deps.dbsize()),
    },
    {
      name: 'time',
      arity: 1,
      flags: ['fast', 'loading', 'stale'],
      group: 'server',
      summary: 'Returns the server time.',
      since: '2.6.0',
      complexity: 'O(1)',
      handler({ reply }) {
        const ms = deps.wallNow();
        reply.array(2);
        reply.bulk(String(Math.floor(ms / 1000)));
        reply.bulk(String((ms % 1000) * 1000));
      },
    },
    {
      name: 'shutdown',
      arity: -1,
      flags: ['admin', 'noscript', 'loading', 'stale'],
      group: 'server',
      summary: 'Leaves the cluster gracefully and stops the node.',
      since: '1.0.0',
      complexity: 'O(N) where N is the number of connected clients',
      args: [
        { name: 'save-selector', type: 'oneof', optional: true, arguments: [
          { name: 'nosave', type: 'pure-token', token: 'NOSAVE' },
          { name: 'save', type: 'pure-token', token: 'SAVE' },
        ] },
        { name: 'now', type: 'pure-token', token: 'NOW', optional: true },
        { name: 'force', type: 'pure-token', token: 'FORCE', optional: true },
        { name: 'abort', type: 'pure-token', token: 'ABORT', optional: true },
      ],
      handler({ args }) {
        const opts = args.slice(1).map(lower);
        for (const o of opts) if (!['nosave', 'save', 'now', 'force', 'abort'].includes(o)) throw errors.syntax();
        if (opts.includes('abort')) {
          if (opts.length > 1) throw errors.syntax();
          throw errors.noShutdown();
        }
        // Like Redis, a successful SHUTDOWN sends no reply: the connection just closes.
        deps.shutdown();
      },
    },
  ];
}
