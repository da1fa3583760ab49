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
}

export function statusText(s: StatusState): { text: string; tooltip: string } {
  let text: string;
  if (s.server === 'error') text = '$(error) mtpc';
  else if (!s.enabled) text = '$(circle-slash) mtpc off';
  else if (s.server !== 'running') text = `$(sync~spin) mtpc ${s.server}`;
  else text = s.lastLatencyMs === undefined ? '$(sparkle) mtpc' : `$(sparkle) mtpc ${s.lastLatencyMs} ms`;
  const lines = [
    `mtpc: completions ${s.enabled ? 'on' : 'off'} (click to toggle)`,
    `server: ${s.server} (${s.transport})`,
    `model: ${s.model && s.model !== '' ? s.model : "the server's default"}`,
  ];
  if (s.lastLatencyMs !== undefined) lines.push(`last completion: ${s.lastLatencyMs} ms`);
  if (s.restarts) lines.push(`server restarted ${s.restarts} time${s.restarts === 1 ? '' : 's'} after it stopped`);
  if (s.error) lines.push(`error: ${s.error}`);
  return { text, tooltip: lines.join('\n') };
}
