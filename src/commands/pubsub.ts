import type { PubSubHub } from '../server/pubsub.js';
import type { Call, CommandSpec } from './table.js';

type Kind = 'subscribe' | 'unsubscribe' | 'psubscribe' | 'punsubscribe';

/** Confirmation frames: pushes in RESP3, arrays in RESP2, written after any pending reply. */
function confirm({ client, reply }: Call, kind: Kind, name: string | null): void {
  reply.push(3);
  reply.bulk(kind);
  if (name === null) reply.null();
  else reply.bulk(Buffer.from(name, 'latin1'));
  reply.integer(client.channels.size + client.patterns.size);
}

const names = (args: Buffer[]) => args.slice(1).map((a) => a.toString('latin1'));

const ctx = ['pubsub', 'pubsub-context', 'noscript', 'loading', 'stale'] as const;

export function pubsubCommands(hub: PubSubHub): CommandSpec[] {
  /** UNSUBSCRIBE and PUNSUBSCRIBE: listed names, or all; one reply even when there was nothing. */
  const unsubscribe = (call: Call, kind: 'unsubscribe' | 'punsubscribe'): void => {
    const own = kind === 'unsubscribe' ? call.client.channels : call.client.patterns;
    const drop = kind === 'unsubscribe' ? hub.unsubscribe.bind(hub) : hub.punsubscribe.bind(hub);
    const targets = call.args.length > 1 ? names(call.args) : [...own];
    if (targets.length === 0) return confirm(call, kind, null);
    for (const name of targets) {
      drop(call.client, name);
      confirm(call, kind, name);
    }
  };

  return [
    {
      name: 'subscribe',
      arity: -2,
      flags: [...ctx],
      group: 'pubsub',
      summary: 'Listens for messages published to channels.',
      since: '2.0.0',
      complexity: 'O(N) where N is the number of channels to subscribe to.',
      args: [{ name: 'channel', type: 'string', multiple: true }],
      handler(call) {
        for (const ch of names(call.args)) {
          if (!call.client.channels.has(ch)) hub.subscribe(call.client, ch);
          confirm(call, 'subscribe', ch);
        }
      },
    },
    {
      name: 'unsubscribe',
      arity: -1,
      flags: [...ctx],
      group: 'pubsub',
      summary: 'Stops listening to messages posted to channels.',
      since: '2.0.0',
      complexity: 'O(N) where N is the number of channels to unsubscribe.',
      args: [{ name: 'channel', type: 'string', optional: true, multiple: true }],
      handler: (call) => unsubscribe(call, 'unsubscribe'),
    },
    {
      name: 'psubscribe',
      arity: -2,
      flags: [...ctx],
      group: 'pubsub',
      summary: 'Listens for messages published to channels that match one or more patterns.',
      since: '2.0.0',
      complexity: 'O(N) where N is the number of patterns to subscribe to.',
      args: [{ name: 'pattern', type: 'pattern', multiple: true }],
      handler(call) {
        for (const pat of names(call.args)) {
          if (!call.client.patterns.has(pat)) hub.psubscribe(call.client, pat);
          confirm(call, 'psubscribe', pat);
        }
      },
    },
    {
      name: 'punsubscribe',
      arity: -1,
      flags: [...ctx],
      group: 'pubsub',
      summary: 'Stops listening to messages published to channels that match one or more patterns.',
      since: '2.0.0',
      complexity: 'O(N) where N is the number of patterns to unsubscribe.',
      args: [{ name: 'pattern', type: 'pattern', optional: true, multiple: true }],
      handler: (call) => unsubscribe(call, 'punsubscribe'),
    },
    {
      name: 'publish',
      arity: 3,
      flags: ['pubsub', 'loading', 'stale', 'fast'],
      group: 'pubsub',
      summary: 'Posts a message to a channel.',
      since: '2.0.0',
      complexity: 'O(N+M) where N is the number of clients subscribed to the receiving channel and M is the total number of subscribed patterns (by any client).',
      args: [
        { name: 'channel', type: 'string' },
        { name: 'message', type: 'string' },
      ],
      handler({ args, reply }) {
        reply.integer(hub.publish(args[1]!.toString('latin1'), args[2]!));
      },
    },
  ];
}
