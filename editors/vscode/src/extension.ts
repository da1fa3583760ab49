// The VS Code side: a LanguageClient for `mtpc serve`, an inline completion
// provider, a status bar item, commands. Everything that can be decided
// without VS Code lives in ./core and is unit-tested there.
import * as fs from 'fs';
import * as vscode from 'vscode';
import {
  CloseAction, CloseHandlerResult, ErrorAction, ErrorHandler, LanguageClient, LanguageClientOptions, ServerOptions,
  State, StreamInfo,
} from 'vscode-languageclient/node';
import { waitUnlessCancelled } from './core/debounce';
import {
  COMPLETION, INLINE_COMPLETION, InlineTrigger, Suggestion, completionParams, completionSuggestions,
  hasInlineCompletion, inlineParams, inlineSuggestions, isStale,
} from './core/inline';
import { LaunchPlan, describeLaunch, planLaunch } from './core/launch';
import { Settings, configurationChange, needsRestart, readSettings } from './core/settings';
import {
  Backoff, RATE_LIMITED, TOO_MANY_CONNECTIONS, connectTls, isClientSideCode, errorCode, initializationOptions, isConnectionLimitNotice,
  retryAfterMs,
} from './core/remote';
import { statsLines, statsSummary, statusText } from './core/status';
import { connectTcp } from './core/tcp';

let client: LanguageClient | undefined;
let settings: Settings;
let plan: LaunchPlan;
let output: vscode.OutputChannel;
let statusItem: vscode.StatusBarItem;
let enabled = true;
let lastLatencyMs: number | undefined;
let lastError: string | undefined;
let restarts = 0;
let recentCloses: number[] = [];
let secrets: vscode.SecretStorage;
// Set when the server answered initialize with an error (a wrong token):
// no reconnects until the settings or the token change.
let refused = false;
// Whether the current client reached Running since it was started: a
// connection that closes before that is not reconnected.
let ranSinceStart = false;
// Reconnects to a tcp:// or tls:// server wait this backoff; a connection
// that initializes resets it.
const backoff = new Backoff();
let reconnecting = false;
// Bumped by stopClient: a connect loop of a stopped client gives up.
let generation = 0;
// Set when a team server answered initialize with -32011 (too many
// connections): not a refusal; a new client starts after the backoff, and
// the user is told once per run of such answers.
let full = false;
let fullNotified = false;
// Set when a tcp:// server sent its over --max-connections notice (an error
// with id null) on the current connection before initialize finished.
let limitNotice = false;
let stopSniffing: (() => void) | undefined;
let reconnectTimer: NodeJS.Timeout | undefined;
// After a -32012 (rate limited): no request goes out before this time
// (Date.now() ms); one message per pause.
let pausedUntil = 0;

const TOKEN_KEY = 'mtpc.token';
// Connect attempts in a row before a remote client gives up (with the
// backoff's 30 s cap, about a quarter of an hour).
const MAX_CONNECT_ATTEMPTS = 30;

// At most this many restarts in RESTART_WINDOW_MS, then the server stays
// stopped until `mtpc: Restart Server`.
const MAX_RESTARTS = 4;
const RESTART_WINDOW_MS = 3 * 60 * 1000;

// A server that stops is restarted, and the user is told so (a message,
// the log, the status bar's tooltip), unless it keeps stopping.
const errorHandler: ErrorHandler = {
  error: () => ({ action: ErrorAction.Continue }),
  closed: (): CloseHandlerResult => {
    if (refused || full) return { action: CloseAction.DoNotRestart, handled: true };
    if ((plan.kind === 'tcp' || plan.kind === 'tls') && !ranSinceStart) {
      // Closed during initialize: the server turned the connection away.
      // No retry loop (unless it said it was full).
      remoteInitializeFailed('the server closed the connection during initialize');
      return { action: CloseAction.DoNotRestart, handled: true };
    }
    if (plan.kind === 'tcp' || plan.kind === 'tls') {
      if (!reconnecting) {
        const message = `the connection to ${describeLaunch(plan)} was lost; reconnecting`;
        output.appendLine(message);
        void vscode.window.showWarningMessage(`mtpc: ${message}`);
      }
      reconnecting = true;
      refreshStatus();
      return { action: CloseAction.Restart, handled: true };
    }
    const now = Date.now();
    recentCloses = recentCloses.filter((t) => now - t < RESTART_WINDOW_MS);
    recentCloses.push(now);
    if (recentCloses.length > MAX_RESTARTS) {
      lastError = `the server stopped ${recentCloses.length} times in 3 minutes; not restarting (run mtpc: Restart Server)`;
      output.appendLine(lastError);
      void vscode.window.showErrorMessage(`mtpc: ${lastError}`);
      refreshStatus();
      return { action: CloseAction.DoNotRestart, handled: true };
    }
    restarts += 1;
    const message = `the server stopped; restarting it (restart ${restarts})`;
    output.appendLine(message);
    void vscode.window.showWarningMessage(`mtpc: ${message}`);
    refreshStatus();
    return { action: CloseAction.Restart, handled: true };
  },
};

function read(): Settings {
  const cfg = vscode.workspace.getConfiguration('mtpc');
  return readSettings((key) => cfg.get(key));
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function serverState(): string {
  if (plan.kind === 'error' || refused) return 'error';
  if (!client) return 'stopped';
  if (reconnecting && client.state !== State.Running) return 'reconnecting';
  switch (client.state) {
    case State.Running: return 'running';
    case State.Starting: return 'starting';
    default: return 'stopped';
  }
}

// mtpc.enable, which may be set per language ("[python]": {...}).
function enabledFor(document: vscode.TextDocument | undefined): boolean {
  return vscode.workspace.getConfiguration('mtpc', document).get<boolean>('enable', true);
}

function refreshStatus(): void {
  const doc = vscode.window.activeTextEditor?.document;
  const { text, tooltip } = statusText({
    enabled, server: serverState(), transport: describeLaunch(plan), model: settings.server.model,
    lastLatencyMs, error: lastError, restarts,
    language: doc?.languageId, languageOff: doc !== undefined && !enabledFor(doc),
    pausedMs: Math.max(0, pausedUntil - Date.now()),
  });
  statusItem.text = text;
  statusItem.tooltip = tooltip;
}

// The server refused initialize (a wrong or missing token): one message,
// whichever of the error reply and the closed connection comes first.
function refuse(why: string): void {
  if (refused) {
    output.appendLine(`(refused: ${why})`);
    return;
  }
  refused = true;
  lastError = `the server refused the connection: ${why}`;
  output.appendLine(lastError);
  const hint = plan.kind === 'tcp' || plan.kind === 'tls' ? ' Check the token (mtpc: Set Server Token).' : '';
  void vscode.window.showErrorMessage(`mtpc: ${lastError}.${hint} Then mtpc: Restart Server.`);
  refreshStatus();
}

// A team server answered initialize with -32011: a message (once until a
// connection succeeds), then a new client after the backoff.
// A remote connection whose initialize failed. An error reply from the
// server is final: -32011 (full) is tried again, anything else (-32010, a
// wrong token) is a refusal. Without a reply (the connection closed, a
// write failed: -32011 over --max-connections comes as a notice with id
// null, and the close may come first) the decision waits INIT_SETTLE_MS
// for bytes still in flight, then tries again with the backoff. The
// initialize failure and the close handler both come here; one decides.
const INIT_SETTLE_MS = 150;
let pendingDecision: NodeJS.Timeout | undefined;
let pendingWhy: string | undefined;
function remoteInitializeFailed(why: string, code?: number): void {
  if (refused || full) return;
  if (code === TOO_MANY_CONNECTIONS) {
    serverFull(why);
    return;
  }
  if (code !== undefined && !isClientSideCode(code)) {
    refuse(why);
    return;
  }
  pendingWhy = pendingWhy ?? why;
  if (pendingDecision) return;
  pendingDecision = setTimeout(() => {
    pendingDecision = undefined;
    const reason = pendingWhy ?? why;
    pendingWhy = undefined;
    if (refused || full) return;
    if (limitNotice) {
      limitNotice = false;
      serverFull('over its --max-connections');
    } else {
      retryInitialize(`the connection to ${describeLaunch(plan)} closed during initialize (${reason})`);
    }
  }, INIT_SETTLE_MS);
}

function serverFull(why: string): void {
  retryInitialize(`the server has too many connections (${why})`);
}

// Initialize of a remote connection did not finish and the server did not
// refuse the token (full, or the connection closed): a message (once until
// a connection succeeds), then a new client after the backoff; after
// MAX_CONNECT_ATTEMPTS in a row, an error and no more tries.
let initRetries = 0;
function retryInitialize(why: string): void {
  full = true;
  initRetries += 1;
  lastError = why;
  if (initRetries > MAX_CONNECT_ATTEMPTS) {
    lastError = `${why}; gave up after ${MAX_CONNECT_ATTEMPTS} tries (run mtpc: Restart Server)`;
    output.appendLine(lastError);
    void vscode.window.showErrorMessage(`mtpc: ${lastError}`);
    refreshStatus();
    return;
  }
  const delay = backoff.next();
  output.appendLine(`${why}; trying again in ${(delay / 1000).toFixed(1)} s`);
  if (!fullNotified) {
    fullNotified = true;
    void vscode.window.showWarningMessage(`mtpc: ${why}; trying again with a growing delay`);
  }
  refreshStatus();
  if (reconnectTimer) clearTimeout(reconnectTimer);
  reconnectTimer = setTimeout(() => {
    reconnectTimer = undefined;
    void (async () => {
      await stopClient(false);
      await startClient();
    })();
  }, delay);
}

// A -32012 reply: nothing is sent for retryAfterMs, one message per pause.
function rateLimited(err: unknown): void {
  const wait = retryAfterMs(err);
  const now = Date.now();
  const wasPaused = now < pausedUntil;
  pausedUntil = Math.max(pausedUntil, now + wait);
  output.appendLine(`rate limited by the server: no requests for ${wait} ms`);
  if (!wasPaused) {
    void vscode.window.showWarningMessage(
      `mtpc: the server rate-limits this user (--requests-per-minute); no completions for ${(wait / 1000).toFixed(1)} s`);
  }
  refreshStatus();
  setTimeout(refreshStatus, wait + 50);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// A tcp:// or tls:// connection; after a lost connection or a failed
// attempt, waits the backoff first. Gives up after MAX_CONNECT_ATTEMPTS or
// when the client was stopped meanwhile.
async function connectRemote(p: LaunchPlan & { kind: 'tcp' | 'tls' }): Promise<StreamInfo> {
  const mine = generation;
  for (let attempt = 1; ; attempt++) {
    if (reconnecting) await sleep(backoff.next());
    if (mine !== generation) throw new Error('client stopped');
    try {
      const socket = p.kind === 'tls' ? await connectTls(p.host, p.port, p.caFile) : await connectTcp(p.host, p.port);
      limitNotice = false;
      let seen = '';
      const sniff = (d: Buffer): void => {
        seen = (seen + d.toString('utf8')).slice(-4096);
        if (isConnectionLimitNotice(seen)) limitNotice = true;
      };
      // (The server says nothing before the client's initialize, by which
      // time the client reads the socket too: no bytes are lost to it.)
      socket.on('data', sniff);
      stopSniffing = () => socket.off('data', sniff);
      return { reader: socket, writer: socket };
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
      output.appendLine(`${lastError} (attempt ${attempt})`);
      if (attempt >= MAX_CONNECT_ATTEMPTS) throw err;
      reconnecting = true;
      refreshStatus();
    }
  }
}

function serverOptions(p: LaunchPlan): ServerOptions {
  if (p.kind === 'tcp' || p.kind === 'tls') return () => connectRemote(p);
  if (p.kind !== 'stdio') throw new Error(p.message);
  // No `transport`: with TransportKind.stdio the client appends `--stdio` to
  // the arguments, which `mtpc serve` rejects. Without it the client talks
  // over the child's stdin/stdout all the same.
  return { command: p.command, args: p.args };
}

async function startClient(): Promise<void> {
  settings = read();
  for (const e of settings.errors) output.appendLine(`settings: ${e}`);
  plan = planLaunch(settings.client, process.env.PATH, isExecutable);
  lastError = plan.kind === 'error' ? plan.message : undefined;
  if (plan.kind === 'error') {
    refreshStatus();
    void vscode.window.showErrorMessage(`mtpc: ${plan.message}`);
    return;
  }
  refused = false;
  full = false;
  ranSinceStart = false;
  const token = await secrets.get(TOKEN_KEY);
  const options: LanguageClientOptions = {
    documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
    initializationOptions: initializationOptions(settings.server, token),
    outputChannel: output,
    errorHandler,
    // The server refused initialize (a wrong or missing token): one message,
    // no retries.
    initializationFailedHandler: (err) => {
      const why = err instanceof Error ? err.message : String(err);
      if (plan.kind === 'tcp' || plan.kind === 'tls') remoteInitializeFailed(why, errorCode(err));
      else refuse(why);
      return false;
    },
  };
  client = new LanguageClient('mtpc', 'mtpc', serverOptions(plan), options);
  client.onDidChangeState((e) => {
    if (e.newState === State.Running) {
      ranSinceStart = true;
      // Only the bytes before initialize's reply matter.
      stopSniffing?.();
      stopSniffing = undefined;
      if (reconnecting) output.appendLine(`connected again to ${describeLaunch(plan)}`);
      reconnecting = false;
      fullNotified = false;
      initRetries = 0;
      backoff.reset();
      lastError = undefined;
    }
    refreshStatus();
  });
  refreshStatus();
  try {
    await client.start();
  } catch (err) {
    const why = String(err instanceof Error ? err.message : err);
    if (!refused) lastError = why;
    output.appendLine(`start failed: ${why}`);
  }
  refreshStatus();
}

// resetBackoff false: a reconnect after -32011, which keeps the backoff growing.
async function stopClient(resetBackoff = true): Promise<void> {
  const c = client;
  client = undefined;
  generation += 1;
  reconnecting = false;
  // A decision about the old client's initialize is moot.
  if (pendingDecision) clearTimeout(pendingDecision);
  pendingDecision = undefined;
  pendingWhy = undefined;
  if (resetBackoff) {
    backoff.reset();
    if (reconnectTimer) clearTimeout(reconnectTimer);
    reconnectTimer = undefined;
  }
  if (c) {
    try {
      await c.stop();
    } catch (err) {
      output.appendLine(`stop: ${String(err)}`);
    }
  }
}

// The server's items -> VS Code's, after checking the reply is still wanted.
async function provide(
  document: vscode.TextDocument, position: vscode.Position,
  context: vscode.InlineCompletionContext, token: vscode.CancellationToken,
): Promise<vscode.InlineCompletionItem[] | undefined> {
  const c = client;
  if (!enabled || !c || c.state !== State.Running) return undefined;
  if (!enabledFor(document)) return undefined;
  if (Date.now() < pausedUntil) return undefined;
  const automatic = context.triggerKind === vscode.InlineCompletionTriggerKind.Automatic;
  if (automatic && !settings.client.autoTrigger) return undefined;
  if (automatic && !(await waitUnlessCancelled(settings.client.debounceMs, token))) return undefined;

  const version = document.version;
  const uri = c.code2ProtocolConverter.asUri(document.uri);
  const pos = c.code2ProtocolConverter.asPosition(position);
  const inline = hasInlineCompletion(c.initializeResult?.capabilities);
  const started = Date.now();
  let suggestions: Suggestion[];
  try {
    if (inline) {
      const trigger = automatic ? InlineTrigger.Automatic : InlineTrigger.Invoked;
      suggestions = inlineSuggestions(await c.sendRequest(INLINE_COMPLETION, inlineParams(uri, pos, trigger), token));
    } else {
      suggestions = completionSuggestions(await c.sendRequest(COMPLETION, completionParams(uri, pos), token));
    }
  } catch (err) {
    if (errorCode(err) === RATE_LIMITED) rateLimited(err);
    else if (!token.isCancellationRequested) output.appendLine(`completion failed: ${String(err)}`);
    return undefined;
  }
  lastLatencyMs = Date.now() - started;
  refreshStatus();
  if (isStale(version, document.version, token.isCancellationRequested)) return undefined;
  return suggestions.map((s) => new vscode.InlineCompletionItem(
    s.insertText,
    s.range ? c.protocol2CodeConverter.asRange(s.range) : new vscode.Range(position, position),
  ));
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel('mtpc');
  secrets = context.secrets;
  statusItem = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
  statusItem.command = 'mtpc.toggle';
  statusItem.show();
  context.subscriptions.push(output, statusItem);

  context.subscriptions.push(
    vscode.languages.registerInlineCompletionItemProvider({ pattern: '**' }, { provideInlineCompletionItems: provide }),
    vscode.commands.registerCommand('mtpc.toggle', () => {
      enabled = !enabled;
      refreshStatus();
    }),
    vscode.commands.registerCommand('mtpc.trigger', () => vscode.commands.executeCommand('editor.action.inlineSuggest.trigger')),
    vscode.commands.registerCommand('mtpc.acceptWord',
      () => vscode.commands.executeCommand('editor.action.inlineSuggest.acceptNextWord')),
    vscode.commands.registerCommand('mtpc.acceptLine',
      () => vscode.commands.executeCommand('editor.action.inlineSuggest.acceptNextLine')),
    vscode.commands.registerCommand('mtpc.restart', async () => {
      recentCloses = [];
      await stopClient();
      await startClient();
    }),
    vscode.commands.registerCommand('mtpc.showLog', () => output.show()),
    // mtpc.enable for the active editor's language, in the user settings.
    vscode.commands.registerCommand('mtpc.toggleLanguage', async () => {
      const doc = vscode.window.activeTextEditor?.document;
      if (!doc) {
        void vscode.window.showInformationMessage('mtpc: no active editor to take the language from');
        return;
      }
      const on = !enabledFor(doc);
      await vscode.workspace.getConfiguration('mtpc', { languageId: doc.languageId })
        .update('enable', on, vscode.ConfigurationTarget.Global, true);
      output.appendLine(`completions ${on ? 'on' : 'off'} for ${doc.languageId}`);
      refreshStatus();
    }),
    vscode.commands.registerCommand('mtpc.showStats', async () => {
      const c = client;
      if (!c || c.state !== State.Running) {
        void vscode.window.showWarningMessage(`mtpc: no running server (${serverState()})`);
        return;
      }
      try {
        const result: unknown = await c.sendRequest('mtpc/stats', {});
        output.appendLine('server statistics (mtpc/stats):');
        for (const line of statsLines(result)) output.appendLine(`  ${line}`);
        void vscode.window.showInformationMessage(`mtpc server: ${statsSummary(result)}`);
      } catch (err) {
        void vscode.window.showErrorMessage(`mtpc: mtpc/stats failed: ${String(err)}`);
      }
    }),
    vscode.window.onDidChangeActiveTextEditor(() => refreshStatus()),
    // The token lives in VS Code's SecretStorage, never in settings.json.
    vscode.commands.registerCommand('mtpc.setToken', async () => {
      const value = await vscode.window.showInputBox({
        title: 'mtpc: server token',
        prompt: 'The token of the team server (sent as initializationOptions.mtpc.token); empty: remove it',
        password: true,
        ignoreFocusOut: true,
      });
      if (value === undefined) return;
      if (value.trim() === '') await secrets.delete(TOKEN_KEY);
      else await secrets.store(TOKEN_KEY, value.trim());
      output.appendLine(value.trim() === '' ? 'token removed' : 'token set; reconnecting');
      await stopClient();
      await startClient();
    }),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (!e.affectsConfiguration('mtpc')) return;
      const before = settings.client;
      const after = read();
      if (needsRestart(before, after.client) || !client) {
        await stopClient();
        await startClient();
        return;
      }
      settings = after;
      for (const err of settings.errors) output.appendLine(`settings: ${err}`);
      await client.sendNotification('workspace/didChangeConfiguration', configurationChange(settings.server));
      refreshStatus();
    }),
  );
  await startClient();
}

export async function deactivate(): Promise<void> {
  await stopClient();
}
