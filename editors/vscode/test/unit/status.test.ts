import * as assert from 'assert';
import { statsLines, statsSummary, statusText } from '../../src/core/status';

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

  it('shows off for a language whose mtpc.enable is false, and the rate-limit pause', () => {
    const base = { enabled: true, server: 'running', transport: 'mtpc serve', language: 'python' };
    assert.strictEqual(statusText({ ...base, languageOff: true }).text, '$(circle-slash) mtpc off (python)');
    assert.match(statusText({ ...base, languageOff: true }).tooltip, /python: off/);
    assert.strictEqual(statusText({ ...base, languageOff: false }).text, '$(sparkle) mtpc');
    assert.match(statusText(base).tooltip, /python: on/);
    // the global switch wins
    assert.strictEqual(statusText({ ...base, enabled: false, languageOff: true }).text, '$(circle-slash) mtpc off');
    assert.match(statusText({ ...base, pausedMs: 2500 }).tooltip, /no requests for 3 s/);
    assert.doesNotMatch(statusText({ ...base, pausedMs: 0 }).tooltip, /rate limited/);
  });
});

describe('stats', () => {
  const reply = { requests: 5, answered: 4, fromTypeahead: 1, cancelled: 1, deadline: 0, errors: 0,
    access: { authFailures: 2, rateLimited: 3 } };
  it('formats mtpc/stats as lines, the access counters indented', () => {
    assert.deepStrictEqual(statsLines(reply), ['requests: 5', 'answered: 4', 'fromTypeahead: 1', 'cancelled: 1',
      'deadline: 0', 'errors: 0', 'access:', '  authFailures: 2', '  rateLimited: 3']);
    assert.deepStrictEqual(statsLines(null), ['unexpected reply: null']);
    assert.deepStrictEqual(statsLines([1]), ['unexpected reply: [1]']);
  });
  it('summarizes it in one line', () => {
    assert.strictEqual(statsSummary(reply),
      '5 requests, 4 answered, 1 from type-ahead, 1 cancelled, 0 at the deadline, 0 errors');
    assert.strictEqual(statsSummary({}), 'no statistics in the reply');
    assert.strictEqual(statsSummary('x'), 'no statistics in the reply');
  });
});
