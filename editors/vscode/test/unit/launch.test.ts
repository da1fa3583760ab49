import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { describeLaunch, findBinary, parseAddress, planLaunch } from '../../src/core/launch';
import { readSettings } from '../../src/core/settings';

const client = (values: Record<string, unknown>) => readSettings((k) => values[k]).client;

describe('launch', () => {
  let dir: string;
  let bin: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mtpc-launch-'));
    bin = path.join(dir, 'mtpc');
    fs.writeFileSync(bin, '#!/bin/sh\n', { mode: 0o755 });
    fs.writeFileSync(path.join(dir, 'notexec'), '', { mode: 0o644 });
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const isExecutable = (f: string) => {
    try {
      fs.accessSync(f, fs.constants.X_OK);
      return fs.statSync(f).isFile();
    } catch {
      return false;
    }
  };

  it('parses host:port and refuses anything else', () => {
    assert.deepStrictEqual(parseAddress('127.0.0.1:7070'), { host: '127.0.0.1', port: 7070 });
    assert.deepStrictEqual(parseAddress('[::1]:80'), { host: '::1', port: 80 });
    for (const bad of ['localhost', ':80', 'h:0', 'h:65536', 'h:x', '']) assert.strictEqual(parseAddress(bad), undefined, bad);
  });

  it('finds mtpc in PATH and starts it as `mtpc serve ARGS`', () => {
    const p = planLaunch(client({ serverArgs: ['--threads', '1'] }), `/nonexistent${path.delimiter}${dir}`, isExecutable);
    assert.deepStrictEqual(p, { kind: 'stdio', command: bin, args: ['serve', '--threads', '1'] });
    assert.strictEqual(describeLaunch(p), `${bin} serve --threads 1`);
  });

  it('uses binaryPath and says when it is not an executable', () => {
    assert.strictEqual(findBinary(path.join(dir, 'notexec'), '', isExecutable), undefined);
    const p = planLaunch(client({ binaryPath: path.join(dir, 'notexec') }), dir, isExecutable);
    assert.strictEqual(p.kind, 'error');
    assert.match(describeLaunch(p), /mtpc.binaryPath .*notexec' is not an executable file/);
    const q = planLaunch(client({}), '/nonexistent', isExecutable);
    assert.strictEqual(q.kind, 'error');
    assert.match(describeLaunch(q), /mtpc is not in PATH/);
  });

  it('connects over TCP when an address is set, and refuses a bad one', () => {
    assert.deepStrictEqual(planLaunch(client({ serverAddress: ' 127.0.0.1:7070 ' }), '', isExecutable),
      { kind: 'tcp', host: '127.0.0.1', port: 7070 });
    const p = planLaunch(client({ serverAddress: 'localhost' }), '', isExecutable);
    assert.strictEqual(p.kind, 'error');
    assert.match(describeLaunch(p), /must be tcp:\/\/host:port, tls:\/\/host:port or host:port, got 'localhost'/);
  });
});
