// Requests and replies of textDocument/inlineCompletion (LSP 3.18) and the
// textDocument/completion fallback, as plain data. Replies come from outside:
// every field is checked, and what does not fit is dropped, never thrown.

export interface LspPosition { line: number; character: number }
export interface LspRange { start: LspPosition; end: LspPosition }

// One suggestion: the text to insert and the range it replaces (absent: at
// the cursor).
export interface Suggestion { insertText: string; range?: LspRange }

export const INLINE_COMPLETION = 'textDocument/inlineCompletion';
export const COMPLETION = 'textDocument/completion';

// InlineCompletionTriggerKind (3.18): 1 Invoked, 2 Automatic.
export const enum InlineTrigger { Invoked = 1, Automatic = 2 }

export interface InlineCompletionParams {
  textDocument: { uri: string };
  position: LspPosition;
  context: { triggerKind: InlineTrigger };
}

export function inlineParams(uri: string, position: LspPosition, trigger: InlineTrigger): InlineCompletionParams {
  return { textDocument: { uri }, position, context: { triggerKind: trigger } };
}

// CompletionParams for the fallback (CompletionTriggerKind 1 Invoked).
export function completionParams(uri: string, position: LspPosition): object {
  return { textDocument: { uri }, position, context: { triggerKind: 1 } };
}

// True when the server's initialize result offers inline completions.
export function hasInlineCompletion(capabilities: unknown): boolean {
  if (typeof capabilities !== 'object' || capabilities === null) return false;
  const p = (capabilities as Record<string, unknown>).inlineCompletionProvider;
  return p === true || (typeof p === 'object' && p !== null);
}

function isPosition(v: unknown): v is LspPosition {
  if (typeof v !== 'object' || v === null) return false;
  const p = v as Record<string, unknown>;
  return Number.isInteger(p.line) && Number.isInteger(p.character) &&
    (p.line as number) >= 0 && (p.character as number) >= 0;
}

export function isRange(v: unknown): v is LspRange {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  if (!isPosition(r.start) || !isPosition(r.end)) return false;
  const s = r.start, e = r.end;
  return s.line < e.line || (s.line === e.line && s.character <= e.character);
}

function itemList(result: unknown): unknown[] {
  if (Array.isArray(result)) return result;
  if (typeof result === 'object' && result !== null && Array.isArray((result as { items?: unknown }).items)) {
    return (result as { items: unknown[] }).items;
  }
  return [];
}

// Snippet syntax to the text it inserts: ${1:x} -> x, $1 and ${1} -> '', \$ -> $.
export function plainSnippet(s: string): string {
  return s.replace(/\$\{\d+:([^}]*)\}/g, '$1').replace(/\$\{\d+\}/g, '').replace(/\$\d+/g, '')
    .replace(/\\([$}\\])/g, '$1');
}

// InlineCompletionList | InlineCompletionItem[] | null -> suggestions.
// insertText is a string or a StringValue { kind: 'snippet', value }.
export function inlineSuggestions(result: unknown): Suggestion[] {
  const out: Suggestion[] = [];
  for (const raw of itemList(result)) {
    if (typeof raw !== 'object' || raw === null) continue;
    const item = raw as Record<string, unknown>;
    let text: string | undefined;
    if (typeof item.insertText === 'string') text = item.insertText;
    else if (typeof item.insertText === 'object' && item.insertText !== null) {
      const value = (item.insertText as Record<string, unknown>).value;
      if (typeof value === 'string') text = plainSnippet(value);
    }
    if (text === undefined || text === '') continue;
    if (item.range !== undefined && !isRange(item.range)) continue;
    out.push(item.range !== undefined ? { insertText: text, range: item.range as LspRange } : { insertText: text });
  }
  return out;
}

// CompletionList | CompletionItem[] | null -> suggestions (the fallback for
// servers without inline completion).
export function completionSuggestions(result: unknown): Suggestion[] {
  const out: Suggestion[] = [];
  for (const raw of itemList(result)) {
    if (typeof raw !== 'object' || raw === null) continue;
    const item = raw as Record<string, unknown>;
    let text: unknown = item.insertText ?? item.label;
    let range: unknown;
    const edit = item.textEdit as Record<string, unknown> | undefined;
    if (typeof edit === 'object' && edit !== null) {
      text = edit.newText;
      range = edit.range ?? edit.replace;
    }
    if (typeof text !== 'string' || text === '') continue;
    if (item.insertTextFormat === 2) text = plainSnippet(text as string);
    if (range !== undefined && !isRange(range)) continue;
    out.push(range !== undefined ? { insertText: text as string, range: range as LspRange } : { insertText: text as string });
  }
  return out;
}

// A reply is stale when the document changed (its version) or the request
// was cancelled while the server worked: it is dropped.
export function isStale(requestedVersion: number, currentVersion: number, cancelled: boolean): boolean {
  return cancelled || requestedVersion !== currentVersion;
}

// The document after accepting `s` at `cursor`, for line-array documents:
// what the editor will show. Used to check replies end to end.
export function applySuggestion(lines: string[], cursor: LspPosition, s: Suggestion): string[] {
  const range = s.range ?? { start: cursor, end: cursor };
  const before = lines.slice(0, range.start.line);
  const head = (lines[range.start.line] ?? '').slice(0, range.start.character);
  const tail = (lines[range.end.line] ?? '').slice(range.end.character);
  const middle = (head + s.insertText + tail).split('\n');
  return [...before, ...middle, ...lines.slice(range.end.line + 1)];
}
