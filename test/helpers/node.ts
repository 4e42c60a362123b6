import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig, type Config } from '../../src/config.js';
import { startNode, type RunningNode } from '../../src/node.js';
import type { Clock } from '../../src/runtime/clock.js';
import { silentLogger, type Logger } from '../../src/runtime/logger.js';
import { RespClient } from './resp-client.js';

export interface TestNode extends RunningNode {
  config: Config;
  client(): Promise<RespClient>;
  /** Stops the node and removes its data directory. */
  close(): Promise<void>;
}

/**
 * Starts a node in this process on a free loopback port, with a throwaway data directory. Pass a
 * VirtualClock to drive its timers (idle timeout, output-limit grace) from the test.
 */
export async function startTestNode(
  overrides: Partial<Config> = {},
  options: { logger?: Logger; clock?: Clock } = {},
): Promise<TestNode> {
  const dir = mkdtempSync(join(tmpdir(), 'heck-test-'));
  const config: Config = { ...defaultConfig(), port: 0, busPort: 0, dir, ...overrides };
  const node = await startNode(config, { logger: options.logger ?? silentLogger, ...(options.clock ? { clock: options.clock } : {}) });
  const clients: RespClient[] = [];
  return {
    ...node,
    config,
    async client() {
      const c = await RespClient.open(node.port);
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) c.close();
      await node.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
