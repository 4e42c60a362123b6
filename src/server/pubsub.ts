import { encode, type Protocol, type ReplyWriter } from '../resp/writer.js';
import { globMatch } from './glob.js';

/** What the hub needs from a subscribed connection. Channel names are latin1 strings (byte-exact). */
export interface Subscriber {
  readonly protocol: Protocol;
  readonly channels: Set<string>;
  readonly patterns: Set<string>;
  /** Queues an already encoded push frame to this subscriber. */
  deliver(frame: Buffer): void;
}

/** Channel and pattern subscriptions, and fan-out of published messages. */
export class PubSubHub {
  private readonly channels = new Map<string, Set<Subscriber>>();
  private readonly patterns = new Map<string, Set<Subscriber>>();

  subscribe(sub: Subscriber, channel: string): void {
    add(this.channels, channel, sub);
    sub.channels.add(channel);
  }

  unsubscribe(sub: Subscriber, channel: string): boolean {
    if (!sub.channels.delete(channel)) return false;
    remove(this.channels, channel, sub);
    return true;
  }

  psubscribe(sub: Subscriber, pattern: string): void {
    add(this.patterns, pattern, sub);
    sub.patterns.add(pattern);
  }

  punsubscribe(sub: Subscriber, pattern: string): boolean {
    if (!sub.patterns.delete(pattern)) return false;
    remove(this.patterns, pattern, sub);
    return true;
  }

  /** Drops every subscription of a connection that goes away or is RESET, without notifying it. */
  dropAll(sub: Subscriber): void {
    for (const ch of sub.channels) remove(this.channels, ch, sub);
    for (const pat of sub.patterns) remove(this.patterns, pat, sub);
    sub.channels.clear();
    sub.patterns.clear();
  }

  channelCount(): number {
    return this.channels.size;
  }

  patternCount(): number {
    return this.patterns.size;
  }

  /** Whether a message on the channel would reach anyone (so a publisher can skip building it). */
  hasReceivers(channel: string): boolean {
    if (this.channels.has(channel)) return true;
    for (const pattern of this.patterns.keys()) if (globMatch(pattern, channel)) return true;
    return false;
  }

  /** Delivers to every subscriber of the channel and of each matching pattern; returns how many. */
  publish(channel: string, message: Buffer | string): number {
    let receivers = 0;
    const direct = this.channels.get(channel);
    if (direct) {
      const frames = new FrameCache((w) => {
        w.push(3);
        w.bulk('message');
        w.bulk(Buffer.from(channel, 'latin1'));
        w.bulk(message);
      });
      for (const sub of direct) sub.deliver(frames.get(sub.protocol));
      receivers += direct.size;
    }
    for (const [pattern, subs] of this.patterns) {
      if (!globMatch(pattern, channel)) continue;
      const frames = new FrameCache((w) => {
        w.push(4);
        w.bulk('pmessage');
        w.bulk(Buffer.from(pattern, 'latin1'));
        w.bulk(Buffer.from(channel, 'latin1'));
        w.bulk(message);
      });
      for (const sub of subs) sub.deliver(frames.get(sub.protocol));
      receivers += subs.size;
    }
    return receivers;
  }
}

/** Encodes a frame at most once per protocol version, however many subscribers receive it. */
class FrameCache {
  private readonly frames: (Buffer | undefined)[] = [];
  constructor(private readonly write: (w: ReplyWriter) => void) {}
  get(protocol: Protocol): Buffer {
    return (this.frames[protocol] ??= encode(protocol, this.write));
  }
}

function add(index: Map<string, Set<Subscriber>>, key: string, sub: Subscriber): void {
  let set = index.get(key);
  if (!set) index.set(key, (set = new Set()));
  set.add(sub);
}

function remove(index: Map<string, Set<Subscriber>>, key: string, sub: Subscriber): void {
  const set = index.get(key);
  if (!set) return;
  set.delete(sub);
  if (set.size === 0) index.delete(key);
}
