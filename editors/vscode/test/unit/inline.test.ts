import * as assert from 'assert';
import {
  applySuggestion, completionSuggestions, hasInlineCompletion, inlineParams, inlineSuggestions, isStale, plainSnippet,
} from '../../src/core/inline';

const at = (line: number, character: number) => ({ line, character });

describe('inline completion replies', () => {
  it('reads an InlineCompletionList and a bare item array', () => {
    const range = { start: at(1, 0), end: at(1, 4) };
    assert.deepStrictEqual(inlineSuggestions({ items: [{ insertText: '    return x', range }] }),
      [{ insertText: '    return x', range }]);
    assert.deepStrictEqual(inlineSuggestions([{ insertText: 'a' }, { insertText: 'b' }]),
      [{ insertText: 'a' }, { insertText: 'b' }]);
  });

  it('takes a snippet StringValue as the text it inserts', () => {
    assert.deepStrictEqual(inlineSuggestions({ items: [{ insertText: { kind: 'snippet', value: 'f(${1:x}) \\$$0' } }] }),
      [{ insertText: 'f(x) $' }]);
    assert.strictEqual(plainSnippet('${1}a${2:b}$3'), 'ab');
  });

  it('drops malformed items and replies instead of throwing', () => {
    for (const bad of [null, undefined, 3, 'x', {}, { items: 'no' }]) assert.deepStrictEqual(inlineSuggestions(bad), []);
    assert.deepStrictEqual(inlineSuggestions({
      items: [
        null, 5, { insertText: '' }, { insertText: 7 }, { insertText: { kind: 'snippet' } },
        { insertText: 'x', range: { start: at(2, 0), end: at(1, 0) } },    // end before start
        { insertText: 'x', range: { start: at(-1, 0), end: at(1, 0) } },
        { insertText: 'x', range: { start: at(0, 1.5), end: at(1, 0) } },
        { insertText: 'kept' },
      ],
    }), [{ insertText: 'kept' }]);
  });

  it('reads the completion fallback: textEdit, insertText, label', () => {
    const range = { start: at(0, 2), end: at(0, 2) };
    assert.deepStrictEqual(completionSuggestions({
      isIncomplete: false,
      items: [
        { label: 'l', textEdit: { range, newText: 'edit' } },
        { label: 'l', textEdit: { insert: range, replace: range, newText: 'replace' } },
        { label: 'l', insertText: 'f($1)', insertTextFormat: 2 },
        { label: 'label' },
        { label: 3 },
      ],
    }), [
      { insertText: 'edit', range }, { insertText: 'replace', range }, { insertText: 'f()' }, { insertText: 'label' },
    ]);
  });

  it('knows whether the server offers inline completion', () => {
    assert.strictEqual(hasInlineCompletion({ inlineCompletionProvider: true }), true);
    assert.strictEqual(hasInlineCompletion({ inlineCompletionProvider: {} }), true);
    assert.strictEqual(hasInlineCompletion({ inlineCompletionProvider: false }), false);
    assert.strictEqual(hasInlineCompletion({ completionProvider: {} }), false);
    assert.strictEqual(hasInlineCompletion(undefined), false);
  });

  it('builds the 3.18 request params', () => {
    assert.deepStrictEqual(inlineParams('file:///a.py', at(3, 4), 2),
      { textDocument: { uri: 'file:///a.py' }, position: at(3, 4), context: { triggerKind: 2 } });
  });

  it('drops a reply for a changed document or a cancelled request', () => {
    assert.strictEqual(isStale(3, 3, false), false);
    assert.strictEqual(isStale(3, 4, false), true);
    assert.strictEqual(isStale(3, 3, true), true);
  });

  it('applies a suggestion over its range', () => {
    const lines = ['def f(x):', '    ret', ''];
    assert.deepStrictEqual(applySuggestion(lines, at(1, 7), { insertText: 'urn x' }),
      ['def f(x):', '    return x', '']);
    assert.deepStrictEqual(
      applySuggestion(lines, at(1, 7), { insertText: '    return x\n\ny = f(1)', range: { start: at(1, 0), end: at(1, 7) } }),
      ['def f(x):', '    return x', '', 'y = f(1)', '']);
  });
});
