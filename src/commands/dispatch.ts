import type { ReplyWriter } from '../resp/writer.js';
import type { Clock } from '../runtime/clock.js';
import type { Logger } from '../runtime/logger.js';
import { CommandError, errors } from './errors.js';
import type { Client, Command, CommandTable } from './table.js';

/**
 * Where the last command of a batch ended, so the next one's timing starts there: one clock read
 * per command instead of two (performance.now() is a large share of a PING's cost in Node).
 */
export interface CommandTimer {
  mark: number;
}

/**
 * Runs one request against the command table: resolution, the gates Redis applies in the same
 * order (arity, then authentication, then the RESP2 subscribed context), the handler, and the
 * per-command statistics. Errors a handler throws as CommandError become error replies; anything
 * else is a bug, logged, answered with a generic error, and the server keeps going.
 */
export class Dispatcher {
  totalCommands = 0;

  constructor(
    private readonly table: CommandTable,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** Starts timing a batch of commands read together. */
  startBatch(timer: CommandTimer): void {
    timer.mark = this.clock.now();
  }

  /** Returns a promise only for commands that complete asynchronously. */
  execute(client: Client, args: Buffer[], reply: ReplyWriter, timer: CommandTimer): void | Promise<void> {
    let cmd: Command;
    try {
      cmd = this.table.resolve(args);
    } catch (e) {
      return this.fail(reply, e);
    }
    if (!client.authenticated && !cmd.flags.has('noauth')) return this.reject(cmd, reply, errors.noAuth());
    if (
      client.protocol === 2 &&
      client.channels.size + client.patterns.size > 0 &&
      !cmd.flags.has('pubsub-context')
    ) {
      return this.reject(cmd, reply, errors.subscribedContext(cmd.fullName));
    }

    this.totalCommands++;
    client.lastCommand = cmd.fullName;
    const start = timer.mark;
    let result: void | Promise<void> = undefined;
    try {
      result = cmd.spec.handler!({ client, args, reply });
    } catch (e) {
      this.fail(reply, e, cmd);
    }
    if (!result) return this.record(cmd, start, timer);
    return result.then(
      () => this.record(cmd, start, timer),
      (e: unknown) => {
        this.fail(reply, e, cmd);
        this.record(cmd, start, timer);
      },
    );
  }

  private record(cmd: Command, start: number, timer: CommandTimer): void {
    const end = this.clock.now();
    cmd.stats.calls++;
    cmd.stats.usec += (end - start) * 1000;
    timer.mark = end;
  }

  private reject(cmd: Command, reply: ReplyWriter, err: CommandError): void {
    cmd.stats.rejectedCalls++;
    this.fail(reply, err);
  }

  private fail(reply: ReplyWriter, e: unknown, cmd?: Command): void {
    let err: CommandError;
    if (e instanceof CommandError) {
      err = e;
    } else {
      this.logger.error('command_crashed', { command: cmd?.fullName, error: String((e as Error)?.stack ?? e) });
      err = new CommandError('ERR internal error');
    }
    if (cmd) cmd.stats.failedCalls++;
    this.table.countError(err);
    reply.error(err.reply);
  }
}
