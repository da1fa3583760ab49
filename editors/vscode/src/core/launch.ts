// How to reach the server: start `mtpc serve` over stdio, or connect to a
// running `mtpc serve --listen host:port`.
import * as path from 'path';
import { parseServerAddress } from './remote';
import type { ClientSettings } from './settings';

export type Launch =
  | { kind: 'stdio'; command: string; args: string[] }
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'tls'; host: string; port: number; caFile: string };

export type LaunchPlan = Launch | { kind: 'error'; message: string };

// "host:port" or "[v6]:port" -> host and port, or undefined.
export function parseAddress(address: string): { host: string; port: number } | undefined {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address.trim());
  if (!m) return undefined;
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { host: m[1], port };
}

// The first executable `name` in PATH (or `name` itself when it has a slash).
export function findBinary(
  name: string,
  envPath: string | undefined,
  isExecutable: (file: string) => boolean,
): string | undefined {
  if (name.includes('/') || name.includes('\\')) return isExecutable(name) ? name : undefined;
  for (const dir of (envPath ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export function planLaunch(
  client: ClientSettings,
  envPath: string | undefined,
  isExecutable: (file: string) => boolean,
): LaunchPlan {
  if (client.serverAddress !== '') {
    const a = parseServerAddress(client.serverAddress);
    if (!a) {
      return {
        kind: 'error',
        message: `mtpc.serverAddress must be tcp://host:port, tls://host:port or host:port, got '${client.serverAddress}'`,
      };
    }
    if (a.scheme === 'tls') return { kind: 'tls', host: a.host, port: a.port, caFile: client.caFile };
    return { kind: 'tcp', host: a.host, port: a.port };
  }
  const name = client.binaryPath !== '' ? client.binaryPath : 'mtpc';
  const command = findBinary(name, envPath, isExecutable);
  if (!command) {
    const where = client.binaryPath !== '' ? `mtpc.binaryPath '${name}' is not an executable file` :
      'mtpc is not in PATH';
    return { kind: 'error', message: `${where}: set mtpc.binaryPath, or mtpc.serverAddress for a running server` };
  }
  return { kind: 'stdio', command, args: ['serve', ...client.serverArgs] };
}

export function describeLaunch(plan: LaunchPlan): string {
  switch (plan.kind) {
    case 'stdio': return [plan.command, ...plan.args].join(' ');
    case 'tcp': return `tcp ${plan.host}:${plan.port}`;
    case 'tls': return `tls ${plan.host}:${plan.port}`;
    default: return plan.message;
  }
}
