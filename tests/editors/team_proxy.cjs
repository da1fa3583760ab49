// A stand-in for a team server's front door, for the editor tests while
// `mtpc serve --listen` has no --tokens/--tls-cert on main: it listens on
// 127.0.0.1 (TLS with --cert/--key, else plain TCP), reads the client's first
// LSP message (initialize), and
//   - when params.initializationOptions.mtpc.token is the expected token,
//     forwards that message and everything after it to the real server at
//     127.0.0.1:UPSTREAM, both ways;
//   - otherwise answers the initialize with a JSON-RPC error (-32001,
//     "invalid token") and closes the connection.
// usage: node team_proxy.cjs --upstream PORT --token TOKEN [--cert PEM --key PEM]
// Prints "listening PORT" on stdout, then one line per event: "accepted",
// "refused", "dropped N". A line "drop" on stdin closes every connection
// (a dropped network); stdin closed ends the proxy.
'use strict';
const fs = require('fs');
const net = require('net');
const tls = require('tls');

const args = {};
for (let i = 2; i + 1 < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const upstream = Number(args.upstream);
if (!Number.isInteger(upstream) || !args.token) {
  console.error('usage: team_proxy.cjs --upstream PORT --token TOKEN [--cert PEM --key PEM]');
  process.exit(2);
}
const MAX_HEADER = 64 * 1024;
const MAX_BODY = 16 * 1024 * 1024;
const sockets = new Set();

// The first complete message in buf: { body, rest } or undefined (need more);
// throws on a malformed header or one that is too large.
function firstMessage(buf) {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) {
    if (buf.length > MAX_HEADER) throw new Error('header too large');
    return undefined;
  }
  const m = /Content-Length:\s*(\d+)/i.exec(buf.subarray(0, end).toString('ascii'));
  if (!m) throw new Error('no Content-Length');
  const len = Number(m[1]);
  if (len > MAX_BODY) throw new Error('message too large');
  if (buf.length < end + 4 + len) return undefined;
  return { body: buf.subarray(end + 4, end + 4 + len), whole: buf.subarray(0, end + 4 + len), rest: buf.subarray(end + 4 + len) };
}

function frame(obj) {
  const body = Buffer.from(JSON.stringify(obj), 'utf8');
  return Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, 'ascii'), body]);
}

function handle(client) {
  sockets.add(client);
  client.on('close', () => sockets.delete(client));
  client.on('error', () => client.destroy());
  let buf = Buffer.alloc(0);
  const onData = (d) => {
    buf = Buffer.concat([buf, d]);
    let msg;
    try {
      msg = firstMessage(buf);
    } catch (e) {
      console.log(`refused ${e.message}`);
      client.destroy();
      return;
    }
    if (!msg) return;
    client.removeListener('data', onData);
    client.pause();
    let req;
    try {
      req = JSON.parse(msg.body.toString('utf8'));
    } catch {
      req = {};
    }
    const token = req && req.params && req.params.initializationOptions && req.params.initializationOptions.mtpc &&
      req.params.initializationOptions.mtpc.token;
    if (req.method !== 'initialize' || token !== args.token) {
      console.log('refused');
      // The error reply, then the connection stays open a moment for the
      // client to read it before it is closed.
      client.write(frame({ jsonrpc: '2.0', id: req.id ?? null, error: { code: -32001, message: 'invalid token' } }));
      setTimeout(() => client.end(), 2000);
      return;
    }
    const up = net.connect({ host: '127.0.0.1', port: upstream }, () => {
      console.log('accepted');
      up.write(msg.whole);
      if (msg.rest.length) up.write(msg.rest);
      client.pipe(up);
      up.pipe(client);
      client.resume();
    });
    sockets.add(up);
    up.on('close', () => { sockets.delete(up); client.destroy(); });
    up.on('error', () => client.destroy());
    client.on('close', () => up.destroy());
  };
  client.on('data', onData);
}

const server = args.cert
  ? tls.createServer({ cert: fs.readFileSync(args.cert), key: fs.readFileSync(args.key) }, handle)
  : net.createServer(handle);
server.on('tlsClientError', () => {});
server.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));

process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  if (d.split('\n').includes('drop')) {
    const n = sockets.size;
    for (const s of sockets) s.destroy();
    console.log(`dropped ${n}`);
  }
});
process.stdin.on('end', () => process.exit(0));
