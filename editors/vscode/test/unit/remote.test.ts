import * as assert from 'assert';
import * as net from 'net';
import { describeLaunch, planLaunch } from '../../src/core/launch';
import {
  Backoff, DEFAULT_RETRY_MS, connectTls, MAX_RETRY_MS, RATE_LIMITED, errorCode, initializationOptions, parseServerAddress,
  retryAfterMs, isClientSideCode, isConnectionLimitNotice,
} from '../../src/core/remote';
import { needsRestart, readSettings } from '../../src/core/settings';

const client = (values: Record<string, unknown>) => readSettings((k) => values[k]).client;

describe('remote', () => {
  it('parses tcp://, tls:// and bare host:port, and refuses anything else', () => {
    assert.deepStrictEqual(parseServerAddress('tcp://10.0.0.5:7070'), { scheme: 'tcp', host: '10.0.0.5', port: 7070 });
    assert.deepStrictEqual(parseServerAddress('tls://mtpc.example.com:443'),
      { scheme: 'tls', host: 'mtpc.example.com', port: 443 });
    assert.deepStrictEqual(parseServerAddress(' host:1 '), { scheme: 'tcp', host: 'host', port: 1 });
    assert.deepStrictEqual(parseServerAddress('tls://[::1]:8443'), { scheme: 'tls', host: '::1', port: 8443 });
    for (const bad of ['http://h:80', 'tls://h', 'tls://:80', 'tcp://h:0', 'h:65536', 'tls//h:1', '', 'tls://h:1/x']) {
      assert.strictEqual(parseServerAddress(bad), undefined, bad);
    }
  });

  it('plans a tls connection with the CA file, a tcp one without', () => {
    const tls = planLaunch(client({ serverAddress: 'tls://team:9000', caFile: '/etc/ca.pem' }), '', () => false);
    assert.deepStrictEqual(tls, { kind: 'tls', host: 'team', port: 9000, caFile: '/etc/ca.pem' });
    assert.strictEqual(describeLaunch(tls), 'tls team:9000');
    assert.deepStrictEqual(planLaunch(client({ serverAddress: 'tcp://team:9000' }), '', () => false),
      { kind: 'tcp', host: 'team', port: 9000 });
    const bad = planLaunch(client({ serverAddress: 'ftp://team:9000' }), '', () => false);
    assert.strictEqual(bad.kind, 'error');
    assert.match(describeLaunch(bad), /tls:\/\/host:port/);
  });

  it('restarts the client when the CA file changes', () => {
    assert.ok(needsRestart(client({ caFile: '/a' }), client({ caFile: '/b' })));
    assert.ok(!needsRestart(client({ caFile: '/a' }), client({ caFile: '/a', debounceMs: 5 })));
  });

  it('sends the token as initializationOptions.mtpc.token, and nothing without one', () => {
    const server = { model: '/m', maxLines: 4 };
    assert.deepStrictEqual(initializationOptions(server, 's3cret'), { model: '/m', maxLines: 4, mtpc: { token: 's3cret' } });
    assert.deepStrictEqual(initializationOptions(server, undefined), server);
    assert.deepStrictEqual(initializationOptions(server, ''), server);
    assert.deepStrictEqual(server, { model: '/m', maxLines: 4 });
  });

  it('backs off from 0.5 s doubling to 30 s, and starts over after reset', () => {
    const b = new Backoff();
    const seen = Array.from({ length: 9 }, () => b.next());
    assert.deepStrictEqual(seen, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    b.reset();
    assert.strictEqual(b.next(), 500);
  });

  it('reads the error code and retryAfterMs of a refused request', () => {
    assert.strictEqual(errorCode({ code: RATE_LIMITED, message: 'rate limited' }), -32012);
    assert.strictEqual(errorCode(new Error('x')), undefined);
    assert.strictEqual(errorCode({ code: '1' }), undefined);
    assert.strictEqual(errorCode(null), undefined);
    assert.strictEqual(retryAfterMs({ code: RATE_LIMITED, data: { retryAfterMs: 2500 } }), 2500);
    assert.strictEqual(retryAfterMs({ data: { retryAfterMs: 0.2 } }), 1);
    assert.strictEqual(retryAfterMs({ data: { retryAfterMs: 1e12 } }), MAX_RETRY_MS);
    for (const bad of [{}, { data: null }, { data: { retryAfterMs: -5 } }, { data: { retryAfterMs: 'soon' } }, undefined]) {
      assert.strictEqual(retryAfterMs(bad), DEFAULT_RETRY_MS, JSON.stringify(bad));
    }
  });

  it("recognizes the server's over --max-connections notice (id null, -32011)", () => {
    const notice = 'Content-Length: 104\r\n\r\n{"jsonrpc":"2.0","id":null,"error":{"code":-32011,"message":"too many connections (--max-connections)"}}';
    assert.strictEqual(isConnectionLimitNotice(notice), true);
    assert.strictEqual(isConnectionLimitNotice(notice.replace('null', '1')), false);
    assert.strictEqual(isConnectionLimitNotice(notice.replace('-32011', '-32010')), false);
    assert.strictEqual(isConnectionLimitNotice(notice.replace('-32011', '-320111')), false);
    assert.strictEqual(isConnectionLimitNotice(''), false);
  });

  it("tells vscode-jsonrpc's own error codes from the server's", () => {
    for (const c of [-32099, -32098, -32097, -32096]) assert.strictEqual(isClientSideCode(c), true, String(c));
    for (const c of [-32010, -32011, -32012, -32600, -32603, -32095, -32100]) assert.strictEqual(isClientSideCode(c), false, String(c));
  });
});

// connectTls shares connectTcp's connection core (tcp.ts settleConnection):
// the same timeout and errors, naming the tls:// address.
describe('connectTls', () => {
  async function listen(onConnection: (s: net.Socket) => void): Promise<{ server: net.Server; port: number }> {
    const server = net.createServer(onConnection);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { server, port: (server.address() as net.AddressInfo).port };
  }

  it('refuses an unreadable CA file before connecting', async () => {
    await assert.rejects(connectTls('127.0.0.1', 1, '/nonexistent/ca.pem'),
      /cannot read mtpc.caFile '\/nonexistent\/ca.pem': ENOENT/);
  });

  it('gives up on a server that never answers the handshake, naming the address', async () => {
    const held: net.Socket[] = [];
    const { server, port } = await listen((s) => { held.push(s); });
    await assert.rejects(connectTls('127.0.0.1', port, '', 50),
      new RegExp(`cannot connect to tls://127.0.0.1:${port}: no answer in 50 ms`));
    held.forEach((s) => s.destroy());
    await new Promise((r) => server.close(r));
  });

  it('fails with the reason when the server is not TLS', async () => {
    const held: net.Socket[] = [];
    const { server, port } = await listen((s) => { held.push(s); s.end('Content-Length: 2\r\n\r\n{}'); });
    await assert.rejects(connectTls('127.0.0.1', port, '', 1000), new RegExp(`cannot connect to tls://127.0.0.1:${port}: ERR_SSL`));
    held.forEach((s) => s.destroy());
    await new Promise((r) => server.close(r));
  });

  it('fails with ECONNREFUSED when nothing listens', async () => {
    const { server, port } = await listen(() => undefined);
    await new Promise((r) => server.close(r));
    await assert.rejects(connectTls('127.0.0.1', port), new RegExp(`cannot connect to tls://127.0.0.1:${port}: ECONNREFUSED`));
  });
});
