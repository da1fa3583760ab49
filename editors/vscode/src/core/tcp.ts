// A TCP connection to `mtpc serve --listen`, with a connect timeout and an
// error that names the address; settleConnection is the part TCP and TLS
// (remote.ts) share.
import * as net from 'net';

export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

// Resolves with `socket` once it emits `ready` ('connect' for TCP,
// 'secureConnect' for TLS), with Nagle's delay off. Rejects with "cannot
// connect to ADDRESS: REASON" on the socket's first error or when `ready`
// has not come within timeoutMs; the socket is destroyed then.
export function settleConnection<S extends net.Socket>(
  socket: S, ready: 'connect' | 'secureConnect', address: string, timeoutMs: number,
): Promise<S> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`cannot connect to ${address}: no answer in ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once(ready, () => {
      clearTimeout(timer);
      socket.setNoDelay(true);
      resolve(socket);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new Error(`cannot connect to ${address}: ${err.code ?? err.message}`));
    });
  });
}

export function connectTcp(host: string, port: number, timeoutMs = DEFAULT_CONNECT_TIMEOUT_MS): Promise<net.Socket> {
  return settleConnection(net.connect({ host, port }), 'connect', `${host}:${port}`, timeoutMs);
}
