// The status bar item's text and tooltip.

export interface StatusState {
  enabled: boolean;
  // 'starting' | 'running' | 'stopped' | 'error'
  server: string;
  transport: string;
  model?: string;
  lastLatencyMs?: number;
  error?: string;
  // times the server stopped and was restarted in this session
  restarts?: number;
  // the active editor's languageId, and whether mtpc.enable is off for it
  language?: string;
  languageOff?: boolean;
  // ms left of a rate-limit pause (-32012); 0 or absent: none
  pausedMs?: number;
}

export function statusText(s: StatusState): { text: string; tooltip: string } {
  let text: string;
  if (s.server === 'error') text = '$(error) mtpc';
  else if (!s.enabled) text = '$(circle-slash) mtpc off';
  else if (s.languageOff) text = `$(circle-slash) mtpc off (${s.language})`;
  else if (s.server !== 'running') text = `$(sync~spin) mtpc ${s.server}`;
  else text = s.lastLatencyMs === undefined ? '$(sparkle) mtpc' : `$(sparkle) mtpc ${s.lastLatencyMs} ms`;
  const lines = [
    `mtpc: completions ${s.enabled ? 'on' : 'off'} (click to toggle)`,
    `server: ${s.server} (${s.transport})`,
    `model: ${s.model && s.model !== '' ? s.model : "the server's default"}`,
  ];
  if (s.lastLatencyMs !== undefined) lines.push(`last completion: ${s.lastLatencyMs} ms`);
  if (s.restarts) lines.push(`server restarted ${s.restarts} time${s.restarts === 1 ? '' : 's'} after it stopped`);
  if (s.language) {
    lines.push(`${s.language}: ${s.languageOff ? 'off' : 'on'} (mtpc: Toggle Inline Completions for This Language)`);
  }
  if (s.pausedMs) lines.push(`rate limited by the server: no requests for ${Math.ceil(s.pausedMs / 1000)} s`);
  if (s.error) lines.push(`error: ${s.error}`);
  return { text, tooltip: lines.join('\n') };
}

// mtpc/stats's reply (lsp/README.md) as lines "name: value", nested objects
// (the team server's access counters) indented; anything else as JSON.
export function statsLines(result: unknown): string[] {
  if (typeof result !== 'object' || result === null || Array.isArray(result)) {
    return [`unexpected reply: ${JSON.stringify(result)}`];
  }
  const out: string[] = [];
  for (const [k, v] of Object.entries(result as Record<string, unknown>)) {
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      out.push(`${k}:`);
      for (const [k2, v2] of Object.entries(v as Record<string, unknown>)) out.push(`  ${k2}: ${JSON.stringify(v2)}`);
    } else {
      out.push(`${k}: ${JSON.stringify(v)}`);
    }
  }
  return out;
}

// One line for a message: "5 requests, 4 answered, ...".
export function statsSummary(result: unknown): string {
  if (typeof result !== 'object' || result === null || Array.isArray(result)) return 'no statistics in the reply';
  const r = result as Record<string, unknown>;
  const parts: string[] = [];
  const names: Array<[string, string]> = [
    ['requests', 'requests'], ['answered', 'answered'], ['fromTypeahead', 'from type-ahead'],
    ['cancelled', 'cancelled'], ['deadline', 'at the deadline'], ['errors', 'errors'],
  ];
  for (const [key, name] of names) if (typeof r[key] === 'number') parts.push(`${r[key]} ${name}`);
  return parts.length ? parts.join(', ') : 'no statistics in the reply';
}
