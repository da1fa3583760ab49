// A team server: its address (tcp://, tls:// or host:port), a TLS connection
// that trusts a private CA, the token in initializationOptions, and the
// backoff between reconnects.
import * as fs from 'fs';
import * as net from 'net';
import * as tls from 'tls';
import { DEFAULT_CONNECT_TIMEOUT_MS, settleConnection } from './tcp';

export interface ServerAddress {
  scheme: 'tcp' | 'tls';
  host: string;
  port: number;
}

// "tcp://host:port", "tls://host:port", "host:port" (tcp), "[v6]:port"
// -> the address, or undefined.
export function parseServerAddress(address: string): ServerAddress | undefined {
  const m = /^(?:(tcp|tls):\/\/)?\[?([^\]/]+?)\]?:(\d+)$/.exec(address.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { scheme: m[1] === 'tls' ? 'tls' : 'tcp', host: m[2], port };
}

export const DEFAULT_TLS_TIMEOUT_MS = DEFAULT_CONNECT_TIMEOUT_MS;

// A TLS connection that checks the server's certificate against the system's
// CAs, or only against the PEM file `caFile` when given.
export function connectTls(
  host: string, port: number, caFile = '', timeoutMs = DEFAULT_TLS_TIMEOUT_MS,
): Promise<tls.TLSSocket> {
  let ca: Buffer | undefined;
  if (caFile !== '') {
    try {
      ca = fs.readFileSync(caFile);
    } catch (err) {
      return Promise.reject(
        new Error(`cannot read mtpc.caFile '${caFile}': ${(err as NodeJS.ErrnoException).code ?? String(err)}`));
    }
  }
  const socket = tls.connect({ host, port, ca, servername: net.isIP(host) ? undefined : host });
  return settleConnection(socket, 'secureConnect', `tls://${host}:${port}`, timeoutMs);
}

// initializationOptions: the server settings, and the token (when there is
// one) as `mtpc.token`.
export function initializationOptions<T extends object>(server: T, token: string | undefined): T & { mtpc?: { token: string } } {
  if (token === undefined || token === '') return { ...server };
  return { ...server, mtpc: { token } };
}

// Delays between reconnects: initialMs, doubling up to maxMs; reset() after
// a connection that initialized.
export class Backoff {
  private nextMs: number;
  constructor(private readonly initialMs = 500, private readonly maxMs = 30000) {
    this.nextMs = initialMs;
  }
  next(): number {
    const d = this.nextMs;
    this.nextMs = Math.min(this.maxMs, this.nextMs * 2);
    return d;
  }
  reset(): void {
    this.nextMs = this.initialMs;
  }
}

// The team server's JSON-RPC errors (lsp/protocol.h).
export const UNAUTHORIZED = -32010;
export const TOO_MANY_CONNECTIONS = -32011;
export const RATE_LIMITED = -32012;

// The JSON-RPC error code of a failed request (a ResponseError), or undefined.
export function errorCode(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' && Number.isInteger(code) ? code : undefined;
}

// Used when a -32012 has no usable data.retryAfterMs, and the longest pause.
export const DEFAULT_RETRY_MS = 1000;
export const MAX_RETRY_MS = 10 * 60 * 1000;

// How long to send nothing after a -32012 reply: its data.retryAfterMs,
// within [1 ms, MAX_RETRY_MS]; DEFAULT_RETRY_MS when absent or not a number.
export function retryAfterMs(err: unknown): number {
  const data = typeof err === 'object' && err !== null ? (err as { data?: unknown }).data : undefined;
  const ms = typeof data === 'object' && data !== null ? (data as { retryAfterMs?: unknown }).retryAfterMs : undefined;
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0) return DEFAULT_RETRY_MS;
  return Math.min(Math.ceil(ms), MAX_RETRY_MS);
}

// True when `text` (bytes a tcp:// server sent before initialize finished)
// holds its over --max-connections notice: a JSON-RPC error with id null
// and code -32011, sent just before it closes the connection. The language
// client drops replies without an id, so the extension looks at the bytes.
export function isConnectionLimitNotice(text: string): boolean {
  return /"id"\s*:\s*null/.test(text) && new RegExp(`"code"\\s*:\\s*${TOO_MANY_CONNECTIONS}\\b`).test(text);
}

// Codes vscode-jsonrpc gives errors it makes itself (a connection disposed
// with the request pending, -32097; a closed stream, -32099..-32096), not
// replies from the server: a lost connection, not a refusal.
export function isClientSideCode(code: number): boolean {
  return code >= -32099 && code <= -32096;
}
