import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../runtime/logger.js';
import { NodeMetrics, type MetricsSources } from './node-metrics.js';
import { CONTENT_TYPE, encode } from './prometheus.js';

/**
 * Bounds on what a client can hold: a scrape is one small GET, so anything slower or bigger is
 * cut off. Memory held by clients is at most MAX_CONNECTIONS x MAX_HEADER_BYTES plus sockets.
 */
const MAX_HEADER_BYTES = 8 * 1024;
const MAX_CONNECTIONS = 32;
const HEADERS_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;
/** A socket with no traffic either way for this long is destroyed (keep-alive or not). */
const IDLE_TIMEOUT_MS = 10_000;

export interface MetricsServerOptions {
  bind: string;
  /** 0: any free port. */
  port: number;
  logger: Logger;
  sources: MetricsSources;
}

export interface MetricsServer {
  /** The port bound. */
  readonly port: number;
  /** Stops listening and drops every connection. */
  close(): Promise<void>;
}

/** Serves `GET /metrics` in the Prometheus text format; any other request is a 404. */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { logger } = options;
  const metrics = new NodeMetrics(options.sources);
  const server = createServer(
    { maxHeaderSize: MAX_HEADER_BYTES, headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, keepAliveTimeout: IDLE_TIMEOUT_MS },
    (req, res) => {
      // Prometheus may add query parameters (`params` in a scrape config): they are ignored.
      if (req.method !== 'GET' || (req.url ?? '').split('?', 1)[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: try GET /metrics\n');
        return;
      }
      let body: string;
      try {
        body = encode(metrics.collect());
      } catch (e) {
        logger.error('metrics_failed', { error: String((e as Error)?.stack ?? e) });
        res.writeHead(500).end();
        return;
      }
      res.writeHead(200, { 'content-type': CONTENT_TYPE, 'content-length': Buffer.byteLength(body) }).end(body);
    },
  );
  server.maxConnections = MAX_CONNECTIONS;
  server.setTimeout(IDLE_TIMEOUT_MS); // without a 'timeout' listener, Node destroys the socket
  server.listen(options.port, options.bind);
  try {
    await once(server, 'listening');
  } catch (e) {
    metrics.stop();
    throw new Error(`metrics endpoint: ${(e as Error).message}`);
  }
  return {
    port: (server.address() as AddressInfo).port,
    close() {
      metrics.stop();
      const closed = once(server, 'close').then(() => {});
      server.close();
      server.closeAllConnections();
      return closed;
    },
  };
}
