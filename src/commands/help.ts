import type { CommandSpec } from './table.js';

/**
 * The HELP subcommand of a container (CLIENT HELP, CONFIG HELP, ...), framed as Redis' addReplyHelp
 * frames it: a header naming the container, the given lines, then HELP itself.
 */
export function helpSubcommand(container: string, lines: string[], group: CommandSpec['group']): CommandSpec {
  const all = [
    `${container.toUpperCase()} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:`,
    ...lines,
    'HELP',
    '    Print this help.',
  ];
  return {
    name: 'help',
    arity: 2,
    flags: ['loading', 'stale'],
    group,
    summary: 'Returns helpful text about the different subcommands.',
    since: '5.0.0',
    complexity: 'O(1)',
    handler({ reply }) {
      reply.array(all.length);
      for (const l of all) reply.simple(l);
    },
  };
}
