// The extension's message handling against the real `mtpc serve` with a tiny
// model: the same settings mapping, request params and reply reading the
// extension uses, over stdio and over TCP. MTPC_BINARY and MTPC_TEST_MODEL
// come from ctest (tests/editors/CMakeLists.txt); scripts/check.sh fails
// before this suite runs when the binary cannot answer `serve --help`.
import * as assert from 'assert';
import { ChildProcess, spawn } from 'child_process';
import * as net from 'net';
import {
  CancellationTokenSource, MessageConnection, ResponseError, StreamMessageReader, StreamMessageWriter,
  createMessageConnection,
} from 'vscode-jsonrpc/node';
import {
  INLINE_COMPLETION, InlineTrigger, Suggestion, applySuggestion, completionParams, completionSuggestions,
  hasInlineCompletion, inlineParams, inlineSuggestions, COMPLETION,
} from '../../src/core/inline';
import { configurationChange, readSettings } from '../../src/core/settings';
import { connectTcp } from '../../src/core/tcp';

const binary = process.env.MTPC_BINARY ?? '';
const model = process.env.MTPC_TEST_MODEL ?? '';
// How long the server gets to bind its port.
const LISTEN_WAIT_MS = 30000;

const uri = 'file:///tmp/mtpc-vscode-test/sample.py';
const lines = ['def greet(name):', '    print("hello", name)', '    '];
const cursor = { line: 2, character: 4 };

interface Session {
  connection: MessageConnection;
  capabilities: Record<string, unknown>;
  process?: ChildProcess;
  stderr: string[];
}

// initializationOptions exactly as the extension builds them from settings.
function initOptions(extra: Record<string, unknown> = {}) {
  const values: Record<string, unknown> = { 'server.model': model, 'server.maxLines': 4, ...extra };
  return readSettings((k) => values[k]).server;
}

async function initialize(connection: MessageConnection, options: object): Promise<Record<string, unknown>> {
  connection.listen();
  const result = await connection.sendRequest('initialize', {
    processId: process.pid,
    rootUri: null,
    capabilities: { general: { positionEncodings: ['utf-16'] }, textDocument: { inlineCompletion: {} } },
    initializationOptions: options,
  }) as { capabilities: Record<string, unknown> };
  await connection.sendNotification('initialized', {});
  await connection.sendNotification('textDocument/didOpen', {
    textDocument: { uri, languageId: 'python', version: 1, text: lines.join('\n') },
  });
  return result.capabilities;
}

async function startStdio(options = initOptions()): Promise<Session> {
  const proc = spawn(binary, ['serve'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const stderr: string[] = [];
  proc.stderr.on('data', (d) => stderr.push(d.toString()));
  const connection = createMessageConnection(new StreamMessageReader(proc.stdout), new StreamMessageWriter(proc.stdin));
  const capabilities = await initialize(connection, options);
  return { connection, capabilities, process: proc, stderr };
}

// Asks for a suggestion at the cursor the way the extension's provider does
// (inline completion, or the completion fallback) and checks each raw item
// survives the reply reader: the server sends nothing the extension drops.
async function suggest(s: Session, token?: CancellationTokenSource): Promise<Suggestion[]> {
  if (hasInlineCompletion(s.capabilities)) {
    // vscode-jsonrpc takes a trailing undefined for a second parameter: pass
    // the token only when there is one.
    const params = inlineParams(uri, cursor, InlineTrigger.Invoked);
    const raw = token ? await s.connection.sendRequest(INLINE_COMPLETION, params, token.token) :
      await s.connection.sendRequest(INLINE_COMPLETION, params);
    const items = raw === null ? [] : Array.isArray(raw) ? raw : (raw as { items: unknown[] }).items;
    assert.ok(Array.isArray(items), `reply is null, an item array or a list: ${JSON.stringify(raw)}`);
    const read = inlineSuggestions(raw);
    assert.strictEqual(read.length, items.filter((i) => (i as { insertText?: unknown }).insertText !== '').length,
      `every item well-formed: ${JSON.stringify(raw)}`);
    return read;
  }
  const raw = token ? await s.connection.sendRequest(COMPLETION, completionParams(uri, cursor), token.token) :
    await s.connection.sendRequest(COMPLETION, completionParams(uri, cursor));
  return completionSuggestions(raw);
}

// maxLines counts written lines: a completion may start with the line
// break that ends the cursor's (blank) line.
function nonBlankLines(text: string): number {
  return text.split('\n').filter((l) => l.trim() !== '').length;
}

async function shutdown(s: Session): Promise<number | null> {
  await s.connection.sendRequest('shutdown');
  await s.connection.sendNotification('exit');
  if (!s.process) return 0;
  const proc = s.process;
  return proc.exitCode ?? await new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
}

describe('mtpc serve (stdio)', function () {
  let s: Session;
  before(async () => {
    assert.ok(binary !== '' && model !== '', 'MTPC_BINARY and MTPC_TEST_MODEL are set');
    s = await startStdio();
  });
  after(() => s?.process?.kill());

  it('offers inline completion in utf-16', () => {
    assert.ok(hasInlineCompletion(s.capabilities) || s.capabilities.completionProvider !== undefined,
      `capabilities: ${JSON.stringify(s.capabilities)}`);
    assert.ok([undefined, 'utf-16'].includes(s.capabilities.positionEncoding as string | undefined));
  });

  it('answers with suggestions that apply cleanly at the cursor', async () => {
    for (const sg of await suggest(s)) {
      const after = applySuggestion(lines, cursor, sg);
      assert.deepStrictEqual(after.slice(0, 2), lines.slice(0, 2), `lines before the cursor kept: ${JSON.stringify(sg)}`);
      assert.ok(nonBlankLines(sg.insertText) <= 4, `maxLines 4 respected: ${JSON.stringify(sg)}`);
    }
  });

  it('takes settings changes: maxLines 1 gives single-line suggestions', async () => {
    await s.connection.sendNotification('workspace/didChangeConfiguration',
      configurationChange(initOptions({ 'server.maxLines': 1 })));
    for (const sg of await suggest(s)) {
      assert.ok(nonBlankLines(sg.insertText) <= 1, `one line: ${JSON.stringify(sg.insertText)}`);
    }
  });

  it('answers a cancelled request with RequestCancelled or a result, and keeps serving', async () => {
    const cts = new CancellationTokenSource();
    const pending = suggest(s, cts);
    cts.cancel();
    try {
      await pending;
    } catch (err) {
      assert.ok(err instanceof ResponseError && err.code === -32800, `cancelled: ${String(err)}`);
    }
    assert.ok(Array.isArray(await suggest(s)));
  });

  it('shuts down cleanly', async () => {
    assert.strictEqual(await shutdown(s), 0, s.stderr.join(''));
  });
});

describe('mtpc serve --listen (TCP)', function () {
  let proc: ChildProcess;
  let socket: net.Socket;
  const stderr: string[] = [];

  before(async () => {
    // Port 0: the server takes a free port and logs "listening on HOST:PORT".
    proc = spawn(binary, ['serve', '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "listening on" line: ${stderr.join('')}`)), LISTEN_WAIT_MS);
      proc.stderr?.on('data', (d) => {
        stderr.push(d.toString());
        const m = /listening on \S*:(\d+)/.exec(stderr.join(''));
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      proc.once('exit', (code) => reject(new Error(`server exited (${code}): ${stderr.join('')}`)));
    });
    socket = await connectTcp('127.0.0.1', port);
  });
  after(() => {
    socket?.destroy();
    proc?.kill();
  });

  it('initializes and answers over the socket', async () => {
    const connection = createMessageConnection(new StreamMessageReader(socket), new StreamMessageWriter(socket));
    const capabilities = await initialize(connection, initOptions());
    const session: Session = { connection, capabilities, stderr };
    for (const sg of await suggest(session)) {
      assert.deepStrictEqual(applySuggestion(lines, cursor, sg).slice(0, 2), lines.slice(0, 2));
    }
    await connection.sendRequest('shutdown');
    connection.dispose();
  });
});
