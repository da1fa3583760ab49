import * as assert from 'assert';
import { DEFAULT_DEBOUNCE_MS, configurationChange, needsRestart, readSettings } from '../../src/core/settings';

const from = (values: Record<string, unknown>) => (key: string) => values[key];

describe('readSettings', () => {
  it('leaves unset server settings out, so the server keeps its defaults', () => {
    const s = readSettings(from({ 'server.model': '', 'server.maxLines': null }));
    assert.deepStrictEqual(s.server, {});
    assert.deepStrictEqual(s.errors, []);
    assert.strictEqual(s.client.debounceMs, DEFAULT_DEBOUNCE_MS);
    assert.strictEqual(s.client.autoTrigger, true);
  });

  it('maps every server setting to its initializationOptions name', () => {
    const s = readSettings(from({
      'server.model': '/m', 'server.maxLines': 4, 'server.maxTokens': 64, 'server.deadlineMs': 300,
      'server.fim': false, 'server.languages': ['python', 'cpp'], 'server.draftLength': 0,
    }));
    assert.deepStrictEqual(s.server, {
      model: '/m', maxLines: 4, maxTokens: 64, deadlineMs: 300, fim: false, languages: ['python', 'cpp'], draftLength: 0,
    });
    assert.deepStrictEqual(configurationChange(s.server), { settings: { mtpc: s.server } });
  });

  it('drops a bad value with a message naming the setting', () => {
    const s = readSettings(from({
      'server.maxLines': 0, 'server.maxTokens': 2.5, 'server.fim': 'yes', 'server.languages': [1],
      debounceMs: -1, serverArgs: 'x', binaryPath: 7,
    }));
    assert.deepStrictEqual(s.server, {});
    assert.strictEqual(s.client.debounceMs, DEFAULT_DEBOUNCE_MS);
    assert.deepStrictEqual(s.client.serverArgs, []);
    assert.strictEqual(s.client.binaryPath, '');
    for (const name of ['server.maxLines', 'server.maxTokens', 'server.fim', 'server.languages', 'debounceMs',
      'serverArgs', 'binaryPath']) {
      assert.ok(s.errors.some((e) => e.startsWith(`mtpc.${name} must be`)), `message for ${name}: ${s.errors}`);
    }
  });

  it('restarts the server only for launch settings', () => {
    const a = readSettings(from({ debounceMs: 10 })).client;
    assert.strictEqual(needsRestart(a, readSettings(from({ debounceMs: 500 })).client), false);
    assert.strictEqual(needsRestart(a, readSettings(from({ serverAddress: 'h:1' })).client), true);
    assert.strictEqual(needsRestart(a, readSettings(from({ binaryPath: '/x' })).client), true);
    assert.strictEqual(needsRestart(a, readSettings(from({ serverArgs: ['--threads', '1'] })).client), true);
  });
});
