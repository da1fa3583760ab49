import * as assert from 'assert';
import * as net from 'net';
import { waitUnlessCancelled } from '../../src/core/debounce';
import { connectTcp } from '../../src/core/tcp';

// A cancellation source like VS Code's.
function source() {
  const listeners: Array<() => void> = [];
  const token = {
    isCancellationRequested: false,
    onCancellationRequested(l: () => void) {
      listeners.push(l);
      return { dispose: () => listeners.splice(listeners.indexOf(l), 1) };
    },
  };
  return { token, cancel: () => { token.isCancellationRequested = true; [...listeners].forEach((l) => l()); } };
}

describe('connectTcp', () => {
  it('connects to a listening server and carries bytes both ways', async () => {
    const server = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const socket = await connectTcp('127.0.0.1', port);
    const echoed = new Promise<string>((r) => socket.once('data', (d) => r(d.toString())));
    socket.write('Content-Length: 2\r\n\r\n{}');
    assert.strictEqual(await echoed, 'Content-Length: 2\r\n\r\n{}');
    socket.destroy();
    await new Promise((r) => server.close(r));
  });

  it('fails with the address and the reason when nothing listens', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise((r) => server.close(r));
    await assert.rejects(connectTcp('127.0.0.1', port), new RegExp(`cannot connect to 127.0.0.1:${port}: ECONNREFUSED`));
  });
});

describe('waitUnlessCancelled', () => {
  it('resolves true when not cancelled', async () => {
    assert.strictEqual(await waitUnlessCancelled(5, source().token), true);
  });

  it('resolves false as soon as the user types again', async () => {
    const s = source();
    const waiting = waitUnlessCancelled(60000, s.token);
    setTimeout(s.cancel, 5);
    assert.strictEqual(await waiting, false);
  });

  it('resolves false at once for a token already cancelled', async () => {
    const s = source();
    s.cancel();
    assert.strictEqual(await waitUnlessCancelled(60000, s.token), false);
  });
});
