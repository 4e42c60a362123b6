import { isIP } from 'node:net';
import { parseIntArg } from '../resp/integer.js';
import type { Faults } from '../runtime/faults.js';
import type { Address } from '../transport/transport.js';
import { CommandError } from './errors.js';
import { helpSubcommand } from './help.js';
import type { CommandSpec } from './table.js';

/** Clock skew HECK.FAULT SKEW accepts, either way: a day. */
const MAX_SKEW_MS = 86_400_000;

/**
 * HECK.FAULT: the chaos harness's hands inside a node. Registered only with
 * `--fault-injection yes`; on any other node the command does not exist.
 */
export function faultCommands(faults: Faults): CommandSpec[] {
  const sub = (name: string, arity: number, summary: string, handler: CommandSpec['handler']): CommandSpec => ({
    name,
    arity,
    flags: ['admin', 'stale'],
    group: 'heck',
    summary,
    since: '0.1.0',
    complexity: 'O(N) for N addresses',
    handler,
  });
  return [
    {
      name: 'heck.fault',
      arity: -2,
      flags: [],
      group: 'heck',
      summary: 'Fault injection for chaos tests (only with --fault-injection yes).',
      since: '0.1.0',
      complexity: 'Depends on subcommand.',
      subcommands: [
        sub('partition', -3, 'Drops this node’s bus traffic to the given bus addresses (ip:port ...).', ({ args, reply }) => {
          faults.partition(args.slice(2).map((a) => parseAddress(a.toString('latin1'))));
          reply.simple('OK');
        }),
        sub('heal', 2, 'Ends every partition this node was told of.', ({ reply }) => {
          faults.heal();
          reply.simple('OK');
        }),
        sub('skew', 3, 'Shifts this node’s wall clock by ms (negative: behind); 0 ends the skew.', ({ args, reply }) => {
          const ms = parseIntArg(args[2]!);
          if (ms === null || Math.abs(ms) > MAX_SKEW_MS) throw new CommandError(`ERR skew must be an integer of ms between -${MAX_SKEW_MS} and ${MAX_SKEW_MS}`);
          faults.skew(ms);
          reply.simple('OK');
        }),
        helpSubcommand(
          'heck.fault',
          [
            'PARTITION <ip:busport> [<ip:busport> ...]',
            "    Drop this node's bus traffic to these peers.",
            'HEAL',
            '    End every partition.',
            'SKEW <ms>',
            "    Shift this node's wall clock by ms.",
          ],
          'heck',
        ),
      ],
    },
  ];
}

function parseAddress(text: string): Address {
  const colon = text.lastIndexOf(':');
  const host = text.slice(0, colon);
  const port = Number(text.slice(colon + 1));
  if (colon < 0 || isIP(host) === 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new CommandError(`ERR Invalid bus address '${text.slice(0, 128)}': expected ip:port`);
  }
  return { host, port };
}
