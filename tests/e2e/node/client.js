// A real LSP client on vscode-jsonrpc / vscode-languageserver-protocol: connects to
// `mtpc serve --listen` over TCP, opens a Python file, asks for an inline completion
// and fails (exit 1) unless it gets a non-empty item. Usage: node client.js HOST PORT
'use strict';
const net = require('net');
const rpc = require('vscode-jsonrpc/node');
const lsp = require('vscode-languageserver-protocol');

const [host, port] = [process.argv[2], Number(process.argv[3])];
const TIMEOUT_MS = 60000;  // a slow shared CI machine, not a latency bound

function fail(message) {
  console.error('node client: ' + message);
  process.exit(1);
}
setTimeout(() => fail('timed out'), TIMEOUT_MS).unref();

const socket = net.connect(port, host);
socket.on('error', (e) => fail('socket: ' + e.message));
socket.on('connect', async () => {
  const conn = rpc.createMessageConnection(new rpc.SocketMessageReader(socket), new rpc.SocketMessageWriter(socket));
  conn.listen();
  try {
    const init = await conn.sendRequest(lsp.InitializeRequest.type, {
      processId: process.pid, rootUri: null,
      capabilities: { general: { positionEncodings: ['utf-16'] } },
    });
    if (!init.capabilities.inlineCompletionProvider) fail('no inlineCompletionProvider');
    conn.sendNotification(lsp.InitializedNotification.type, {});
    const uri = 'file:///tmp/node_client_example.py';
    const text = 'import os\n\ndef add(a, b):\n    return ';
    conn.sendNotification(lsp.DidOpenTextDocumentNotification.type, {
      textDocument: { uri, languageId: 'python', version: 1, text },
    });
    // The 3.18 request by name: the 3.17 package has no type for it yet.
    const result = await conn.sendRequest('textDocument/inlineCompletion', {
      textDocument: { uri }, position: { line: 3, character: 11 }, context: { triggerKind: 2 },
    });
    const items = Array.isArray(result) ? result : result.items;
    if (!items || items.length === 0) fail('no inline completion item: ' + JSON.stringify(result));
    if (typeof items[0].insertText !== 'string' || items[0].insertText.length === 0)
      fail('empty insertText: ' + JSON.stringify(items[0]));
    const completion = await conn.sendRequest(lsp.CompletionRequest.type, {
      textDocument: { uri }, position: { line: 3, character: 11 },
    });
    console.log(JSON.stringify({ inline: items[0], completion }));
    await conn.sendRequest(lsp.ShutdownRequest.type);
    conn.sendNotification(lsp.ExitNotification.type);
    setTimeout(() => process.exit(0), 100);
  } catch (e) {
    fail(e.message || String(e));
  }
});
