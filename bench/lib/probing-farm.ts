/**
 * The origin farm of the probing bench, run as its own process (fork, IPC) so that its CPU is not
 * counted as Heck's: `ports` keep-alive HTTP servers on 127.0.0.1 answering 200 "ok" to any path,
 * counting requests in total and per path. Messages in: {cmd:'snapshot', prefix?} -> {total,
 * perPath (paths starting with prefix only; none without a prefix)}.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

const portCount = Number(process.argv[2] ?? '1');
let total = 0;
const perPath = new Map<string, number>();
const servers: Server[] = [];

function handler(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void {
  total++;
  const path = req.url ?? '/';
  perPath.set(path, (perPath.get(path) ?? 0) + 1);
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
  res.end('ok');
}

const ports: number[] = [];
for (let i = 0; i < portCount; i++) {
  const s = createServer({ keepAlive: true }, handler);
  s.keepAliveTimeout = 65_000;
  s.headersTimeout = 66_000;
  s.requestTimeout = 0;
  servers.push(s);
  ports.push(await new Promise<number>((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port))));
}

process.on('message', (m: { cmd: string; prefix?: string }) => {
  if (m.cmd === 'snapshot') {
    const paths: Record<string, number> = {};
    if (m.prefix) for (const [p, n] of perPath) if (p.startsWith(m.prefix)) paths[p] = n;
    process.send!({ total, perPath: paths });
  } else if (m.cmd === 'exit') {
    for (const s of servers) s.closeAllConnections();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
process.send!({ ports });
