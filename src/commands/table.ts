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
  readonly flags: ReadonlySet<CommandFlag>;

  constructor(
    readonly spec: CommandSpec,
    readonly parent: Command | null,
  ) {
    this.fullName = parent ? `${parent.spec.name}|${spec.name}` : spec.name;
    this.flags = new Set(spec.flags);
    for (const sub of spec.subcommands ?? []) this.subcommands.set(sub.name, new Command(sub, this));
    if (!spec.handler && this.subcommands.size === 0) throw new Error(`command ${this.fullName} has no handler`);
  }

  arityOk(argc: number): boolean {
    const a = this.spec.arity;
    return a > 0 ? argc === a : argc >= -a;
  }
}

export class CommandTable {
  private readonly commands = new Map<string, Command>();
  /** Counts per error code, for INFO errorstats. */
  readonly errorStats = new Map<string, number>();

  /** Adds a family of commands; the table is complete once the node has registered every family. */
  register(specs: CommandSpec[]): void {
    for (const spec of specs) {
      if (this.commands.has(spec.name)) throw new Error(`duplicate command ${spec.name}`);
      this.commands.set(spec.name, new Command(spec, null));
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

  get(name: string): Command | undefined {
    return this.commands.get(name) ?? this.commands.get(name.toLowerCase());
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
    const cmd = this.get(name.toString('latin1'));
    if (!cmd) throw errors.unknownCommand(name, args.slice(1));
    if (cmd.subcommands.size === 0 || args.length < 2) return this.checkArity(cmd, args.length);
    const sub = cmd.subcommands.get(args[1]!.toString('latin1').toLowerCase());
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
