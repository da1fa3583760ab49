import * as assert from 'assert';
import { statusText } from '../../src/core/status';

describe('statusText', () => {
  it('shows latency when running, off when toggled off, and the error', () => {
    const base = { enabled: true, server: 'running', transport: 'mtpc serve', model: '/m' };
    assert.strictEqual(statusText({ ...base, lastLatencyMs: 42 }).text, '$(sparkle) mtpc 42 ms');
    assert.match(statusText({ ...base, lastLatencyMs: 42 }).tooltip, /model: \/m\n.*last completion: 42 ms/s);
    assert.strictEqual(statusText({ ...base, enabled: false }).text, '$(circle-slash) mtpc off');
    assert.strictEqual(statusText({ ...base, server: 'starting' }).text, '$(sync~spin) mtpc starting');
    const err = statusText({ ...base, server: 'error', error: 'mtpc is not in PATH' });
    assert.strictEqual(err.text, '$(error) mtpc');
    assert.match(err.tooltip, /error: mtpc is not in PATH/);
    assert.match(statusText({ ...base, model: undefined }).tooltip, /model: the server's default/);
    assert.doesNotMatch(statusText(base).tooltip, /restarted/);
    assert.match(statusText({ ...base, restarts: 1 }).tooltip, /server restarted 1 time after it stopped/);
    assert.match(statusText({ ...base, restarts: 3 }).tooltip, /server restarted 3 times after it stopped/);
  });
});
