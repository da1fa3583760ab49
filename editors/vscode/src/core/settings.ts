// VS Code settings (mtpc.*) -> what the client needs and what the server
// gets as initializationOptions / workspace/didChangeConfiguration. The
// server settings use the names the Neovim plugin uses too.

export interface ServerSettings {
  model?: string;
  maxLines?: number;
  maxTokens?: number;
  deadlineMs?: number;
  fim?: boolean;
  languages?: string[];
  draftLength?: number;
}

export interface ClientSettings {
  binaryPath: string;
  serverArgs: string[];
  serverAddress: string;
  // PEM file of the CA that signed a tls:// server's certificate; empty: the system's CAs
  caFile: string;
  autoTrigger: boolean;
  debounceMs: number;
}

export interface Settings {
  client: ClientSettings;
  server: ServerSettings;
  // One line per setting that was ignored, naming it and what it must be.
  errors: string[];
}

// Reads one setting by its name under "mtpc." (e.g. "server.maxLines").
export type Lookup = (key: string) => unknown;

export const DEFAULT_DEBOUNCE_MS = 75;

// Integer settings of the server and their smallest allowed value.
const SERVER_INTEGERS: ReadonlyArray<[keyof ServerSettings, number]> = [
  ['maxLines', 1],
  ['maxTokens', 1],
  ['deadlineMs', 1],
  ['draftLength', 0],
];

function isUnset(v: unknown): boolean {
  return v === undefined || v === null || v === '';
}

export function readSettings(get: Lookup): Settings {
  const errors: string[] = [];
  const server: ServerSettings = {};

  const model = get('server.model');
  if (!isUnset(model)) {
    if (typeof model === 'string') server.model = model;
    else errors.push(`mtpc.server.model must be a path, got ${JSON.stringify(model)}`);
  }
  for (const [key, min] of SERVER_INTEGERS) {
    const v = get(`server.${key}`);
    if (isUnset(v)) continue;
    if (typeof v === 'number' && Number.isInteger(v) && v >= min) {
      (server as Record<string, unknown>)[key] = v;
    } else {
      errors.push(`mtpc.server.${key} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    }
  }
  const fim = get('server.fim');
  if (!isUnset(fim)) {
    if (typeof fim === 'boolean') server.fim = fim;
    else errors.push(`mtpc.server.fim must be true or false, got ${JSON.stringify(fim)}`);
  }
  const languages = get('server.languages');
  if (!isUnset(languages)) {
    if (Array.isArray(languages) && languages.every((l) => typeof l === 'string')) server.languages = languages;
    else errors.push(`mtpc.server.languages must be a list of languageIds, got ${JSON.stringify(languages)}`);
  }

  const client: ClientSettings = {
    binaryPath: stringOr(get('binaryPath'), '', 'mtpc.binaryPath', errors),
    serverArgs: [],
    serverAddress: stringOr(get('serverAddress'), '', 'mtpc.serverAddress', errors).trim(),
    caFile: stringOr(get('caFile'), '', 'mtpc.caFile', errors).trim(),
    autoTrigger: get('autoTrigger') !== false,
    debounceMs: DEFAULT_DEBOUNCE_MS,
  };
  const args = get('serverArgs');
  if (Array.isArray(args) && args.every((a) => typeof a === 'string')) client.serverArgs = args;
  else if (!isUnset(args)) errors.push(`mtpc.serverArgs must be a list of strings, got ${JSON.stringify(args)}`);
  const debounce = get('debounceMs');
  if (typeof debounce === 'number' && Number.isInteger(debounce) && debounce >= 0) client.debounceMs = debounce;
  else if (!isUnset(debounce)) errors.push(`mtpc.debounceMs must be an integer >= 0, got ${JSON.stringify(debounce)}`);

  return { client, server, errors };
}

function stringOr(v: unknown, fallback: string, name: string, errors: string[]): string {
  if (typeof v === 'string') return v;
  if (!isUnset(v)) errors.push(`${name} must be a string, got ${JSON.stringify(v)}`);
  return fallback;
}

// The workspace/didChangeConfiguration params for these settings.
export function configurationChange(server: ServerSettings): { settings: { mtpc: ServerSettings } } {
  return { settings: { mtpc: server } };
}

// Settings whose change needs a new server process or connection; the rest
// go to the running server.
export function needsRestart(before: ClientSettings, after: ClientSettings): boolean {
  return before.binaryPath !== after.binaryPath ||
    before.serverAddress !== after.serverAddress ||
    before.caFile !== after.caFile ||
    before.serverArgs.join('\0') !== after.serverArgs.join('\0');
}
