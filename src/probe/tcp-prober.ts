import net from 'node:net';

/**
 * Connects to `tcp://host:port` and hangs up at once: the origin is up when it accepts. Resolves on
 * connect, rejects with the socket's error, or with the signal's reason once it aborts.
 */
export function probeTcp(url: URL, signal: AbortSignal, lookup?: net.LookupFunction): Promise<void> {
  return new Promise((resolve, reject) => {
    // URL keeps IPv6 literals bracketed; net wants them bare.
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const socket = net.connect({ host, port: Number(url.port), ...(lookup ? { lookup } : {}) });
    const onAbort = () => {
      socket.destroy();
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve();
    });
    socket.once('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(err);
    });
  });
}
