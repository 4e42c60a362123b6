import { isIP } from 'node:net';
import type { Member } from '../membership/membership.js';
import { NODE_ID_PATTERN } from '../runtime/bytes.js';
import { parseIntArg } from '../resp/integer.js';
import type { Address } from '../transport/transport.js';
import { CommandError } from './errors.js';
import { helpSubcommand } from './help.js';
import type { CommandSpec } from './table.js';

/** What the CLUSTER commands need from membership. */
export interface ClusterDeps {
  myId: string;
  members(): Member[];
  digest(): string;
  /** Starts joining through a peer's bus address; does not wait. */
  meet(bus: Address): void;
  /** False if the id is not a known member. */
  forget(id: string): boolean;
  wallNow(): number;
  /** Extra `key:value` lines for CLUSTER INFO from other subsystems (origins, later). */
  infoLines(): [string, string | number][];
}

const FLAGS: Record<Member['state'], string> = { alive: 'master', suspect: 'master,fail?', dead: 'master,fail', left: 'master,fail' };

/** Redis' CLUSTER NODES line: id ip:port@cport flags master ping-sent pong-recv epoch link-state. */
function nodeLine(m: Member, myId: string, now: number): string {
  const self = m.id === myId;
  const flags = self ? `myself,${FLAGS[m.state]}` : FLAGS[m.state];
  const pong = self ? Math.floor(now / 1000) * 1000 : m.ackReceivedAt;
  const link = self || m.state === 'alive' || m.state === 'suspect' ? 'connected' : 'disconnected';
  return `${m.id} ${m.host}:${m.port}@${m.busPort} ${flags} - ${m.pingSentAt} ${pong} ${m.incarnation} ${link}\n`;
}

export function clusterCommands(deps: ClusterDeps): CommandSpec[] {
  /** Members that are part of the cluster: those that left gracefully are not listed. */
  const current = () => deps.members().filter((m) => m.state !== 'left');

  return [
    {
      name: 'cluster',
      arity: -2,
      flags: [],
      group: 'cluster',
      summary: 'A container for cluster membership commands.',
      since: '3.0.0',
      complexity: 'Depends on subcommand.',
      subcommands: [
        {
          name: 'meet',
          arity: -4,
          flags: ['admin', 'stale'],
          group: 'cluster',
          summary: 'Joins the cluster of the node at ip:port (its bus port defaults to port + 10000).',
          since: '3.0.0',
          complexity: 'O(1)',
          args: [
            { name: 'ip', type: 'string' },
            { name: 'port', type: 'integer' },
            { name: 'cluster-bus-port', type: 'integer', optional: true },
          ],
          handler({ args, reply }) {
            if (args.length > 5) {
              throw new CommandError(`ERR unknown subcommand or wrong number of arguments for '${args[1]!.toString('latin1')}'. Try CLUSTER HELP.`);
            }
            const ip = args[2]!.toString();
            const port = parseIntArg(args[3]!);
            if (port === null) throw new CommandError(`ERR Invalid TCP base port specified: ${args[3]!.toString('latin1')}`);
            let busPort = port + 10000;
            if (args.length === 5) {
              const given = parseIntArg(args[4]!);
              if (given === null) throw new CommandError(`ERR Invalid TCP bus port specified: ${args[4]!.toString('latin1')}`);
              busPort = given;
            }
            const valid = (p: number) => p > 0 && p <= 65535;
            if (isIP(ip) === 0 || !valid(port) || !valid(busPort)) {
              throw new CommandError(`ERR Invalid node address specified: ${ip}:${args[3]!.toString('latin1')}`);
            }
            deps.meet({ host: ip, port: busPort });
            reply.simple('OK');
          },
        },
        {
          name: 'forget',
          arity: 3,
          flags: ['admin', 'stale'],
          group: 'cluster',
          summary: 'Removes a node from the cluster everywhere and bans it for 60 seconds.',
          since: '3.0.0',
          complexity: 'O(1)',
          args: [{ name: 'node-id', type: 'string' }],
          handler({ args, reply }) {
            const id = args[2]!.toString('latin1');
            if (id === deps.myId) throw new CommandError("ERR I tried hard but I can't forget myself...");
            if (!NODE_ID_PATTERN.test(id) || !deps.forget(id)) throw new CommandError(`ERR Unknown node ${id}`);
            reply.simple('OK');
          },
        },
        {
          name: 'nodes',
          arity: 2,
          flags: ['stale'],
          group: 'cluster',
          summary: 'Returns the cluster configuration for a node.',
          since: '3.0.0',
          complexity: 'O(N) where N is the total number of Cluster nodes',
          handler({ reply }) {
            const now = deps.wallNow();
            reply.verbatim(current().map((m) => nodeLine(m, deps.myId, now)).join(''));
          },
        },
        {
          name: 'info',
          arity: 2,
          flags: ['stale'],
          group: 'cluster',
          summary: 'Returns information about the state of a node.',
          since: '3.0.0',
          complexity: 'O(1)',
          handler({ reply }) {
            const members = current();
            const count = (state: Member['state']) => members.filter((m) => m.state === state).length;
            const self = members.find((m) => m.id === deps.myId);
            const lines: [string, string | number][] = [
              ['cluster_state', self ? 'ok' : 'fail'],
              ['cluster_known_nodes', members.length],
              ['cluster_alive_nodes', count('alive')],
              ['cluster_suspect_nodes', count('suspect')],
              ['cluster_failed_nodes', count('dead')],
              ['cluster_membership_digest', deps.digest()],
              ['cluster_my_incarnation', self?.incarnation ?? 0],
              ...deps.infoLines(),
            ];
            reply.verbatim(lines.map(([k, v]) => `${k}:${v}\r\n`).join(''));
          },
        },
        {
          name: 'myid',
          arity: 2,
          flags: ['stale'],
          group: 'cluster',
          summary: "Returns the ID of a node.",
          since: '3.0.0',
          complexity: 'O(1)',
          handler: ({ reply }) => reply.bulk(deps.myId),
        },
        helpSubcommand('cluster', [
          'MEET <ip> <port> [<bus-port>]',
          '    Join the cluster of the node at <ip>:<port>.',
          'FORGET <node-id>',
          '    Remove a node from the cluster, everywhere, and ban it for 60 seconds.',
          'NODES',
          '    Return the members, one per line, in Redis\' format.',
          'INFO',
          '    Return information about the cluster.',
          'MYID',
          '    Return the node ID.',
        ], 'cluster'),
      ],
    },
  ];
}
