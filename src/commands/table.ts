import type { Protocol, ReplyWriter } from '../resp/writer.js';
import type { Subscriber } from '../server/pubsub.js';
import { CommandError, errors } from './errors.js';

/**
 * The one command table. Each entry carries everything about a command: dispatch (handler), arity
 * checks, the flags that gate it (auth, pub/sub context), its documentation for COMMAND DOCS/INFO
 * and its call statistics. Families of commands live in their own files and contribute entries.
 */
export type CommandFlag =
  | 'fast' // O(1) or close to it
  | 'write' // changes replicated state
  | 'readonly'
  | 'noauth' // allowed before AUTH
  | 'pubsub-context' // allowed in RESP2 subscribed mode
  | 'admin'
  | 'pubsub'
  | 'loading'
  | 'stale'
  | 'noscript';

/** The per-connection state a command may read or change. */
export interface Client extends Subscriber {
  readonly id: number;
  protocol: Protocol;
  authenticated: boolean;
  name: string;
  libName: string;
  libVer: string;
  /** Full name of the last command run, for CLIENT LIST. */
  lastCommand: string;
  /** Reply, then close the connection; nothing after it in the pipeline runs. */
  closeAfterReply(): void;
  /**
   * Holds every reply written so far until `durable` resolves (the write is on disk), while later
   * pipelined commands keep running: one fsync covers a whole batch. If it rejects, the
   * connection closes without those replies: nothing unsaved is acknowledged.
   */
  holdRepliesUntil(durable: Promise<void>): void;
}

export interface Call {
  readonly client: Client;
  /** args[0] is the command name as sent; arguments are views valid for this call only. */
  readonly args: Buffer[];
  readonly reply: ReplyWriter;
}

export type Handler = (call: Call) => void | Promise<void>;

/** Documentation of one argument, in the shape COMMAND DOCS gives it (and redis-cli shows). */
export interface ArgDoc {
  name: string;
  type: 'string' | 'integer' | 'double' | 'key' | 'pattern' | 'unix-time' | 'pure-token' | 'oneof' | 'block';
  token?: string;
  optional?: boolean;
  multiple?: boolean;
  arguments?: ArgDoc[];
}

export interface CommandSpec {
  /** Lowercase name; a subcommand's name without its container. */
  name: string;
  /** Redis' convention: N exactly N arguments (name included), -N at least N. */
  arity: number;
  flags: CommandFlag[];
  group: 'connection' | 'server' | 'pubsub' | 'cluster' | 'heck';
  summary: string;
  since: string;
  complexity: string;
  args?: ArgDoc[];
  handler?: Handler;
  subcommands?: CommandSpec[];
}

export class CommandStats {
  calls = 0;
  usec = 0;
  rejectedCalls = 0;
  failedCalls = 0;
}

/** A command as the table holds it: its spec plus identity and stats. */
export class Command {
  readonly fullName: string;
  readonly stats = new CommandStats();
  readonly subcommands = new Map<string, Command>();
  readonly subcommandIndex = new NameIndex();
  readonly flags: ReadonlySet<CommandFlag>;

  constructor(
    readonly spec: CommandSpec,
    readonly parent: Command | null,
  ) {
    this.fullName = parent ? `${parent.spec.name}|${spec.name}` : spec.name;
    this.flags = new Set(spec.flags);
    for (const sub of spec.subcommands ?? []) {
      const cmd = new Command(sub, this);
      this.subcommands.set(sub.name, cmd);
      this.subcommandIndex.add(cmd);
    }
    if (!spec.handler && this.subcommands.size === 0) throw new Error(`command ${this.fullName} has no handler`);
  }

  arityOk(argc: number): boolean {
    const a = this.spec.arity;
    return a > 0 ? argc === a : argc >= -a;
  }
}

/** FNV-1a over the ASCII-lowercased bytes: command lookup without building a string per request. */
function foldedHash(name: Buffer | string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    let c = typeof name === 'string' ? name.charCodeAt(i) : name[i]!;
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    h = Math.imul(h ^ c, 16777619);
  }
  return h >>> 0;
}

/** Whether `name` equals the lowercase `expected`, ignoring ASCII case. */
function equalsFolded(name: Buffer, expected: string): boolean {
  if (name.length !== expected.length) return false;
  for (let i = 0; i < name.length; i++) {
    let c = name[i]!;
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    if (c !== expected.charCodeAt(i)) return false;
  }
  return true;
}

/** Commands (or one container's subcommands) indexed by folded-name hash. */
class NameIndex {
  private readonly byHash = new Map<number, Command>();

  add(cmd: Command): void {
    const h = foldedHash(cmd.spec.name);
    const clash = this.byHash.get(h);
    if (clash) throw new Error(`command name hash clash: ${clash.fullName} / ${cmd.fullName}`);
    this.byHash.set(h, cmd);
  }

  find(name: Buffer): Command | undefined {
    const cmd = this.byHash.get(foldedHash(name));
    return cmd && equalsFolded(name, cmd.spec.name) ? cmd : undefined;
  }
}

export class CommandTable {
  private readonly commands = new Map<string, Command>();
  private readonly index = new NameIndex();
  /** Counts per error code, for INFO errorstats. */
  readonly errorStats = new Map<string, number>();

  /** Adds a family of commands; the table is complete once the node has registered every family. */
  register(specs: CommandSpec[]): void {
    for (const spec of specs) {
      if (this.commands.has(spec.name)) throw new Error(`duplicate command ${spec.name}`);
      const cmd = new Command(spec, null);
      this.commands.set(spec.name, cmd);
      this.index.add(cmd);
    }
  }

  /** Top-level commands, in registration order. */
  all(): Command[] {
    return [...this.commands.values()];
  }

  /** Top-level commands and subcommands, for COMMAND LIST and INFO commandstats. */
  everything(): Command[] {
    return this.all().flatMap((c) => [c, ...c.subcommands.values()]);
  }

  /** Finds "client" or "client|list" style names, as COMMAND INFO/DOCS accept them. */
  byFullName(fullName: string): Command | undefined {
    const [top, sub] = fullName.toLowerCase().split('|', 2);
    const cmd = this.commands.get(top!);
    return sub === undefined ? cmd : cmd?.subcommands.get(sub);
  }

  /**
   * Resolves a request to its command, or throws the error Redis gives: unknown command, unknown
   * subcommand, wrong arity (counted as a rejected call).
   */
  resolve(args: Buffer[]): Command {
    const name = args[0]!;
    const cmd = this.index.find(name);
    if (!cmd) throw errors.unknownCommand(name, args.slice(1));
    if (cmd.subcommands.size === 0 || args.length < 2) return this.checkArity(cmd, args.length);
    const sub = cmd.subcommandIndex.find(args[1]!);
    if (!sub) throw errors.unknownSubcommand(args[1]!, cmd.spec.name);
    return this.checkArity(sub, args.length);
  }

  countError(err: CommandError): void {
    this.errorStats.set(err.code, (this.errorStats.get(err.code) ?? 0) + 1);
  }

  resetStats(): void {
    for (const cmd of this.everything()) Object.assign(cmd.stats, new CommandStats());
    this.errorStats.clear();
  }

  private checkArity(cmd: Command, argc: number): Command {
    if (cmd.arityOk(argc)) return cmd;
    cmd.stats.rejectedCalls++;
    throw errors.wrongArity(cmd.fullName);
  }
}
