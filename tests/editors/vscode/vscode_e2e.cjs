// Drives code-server (real VS Code) in headless Chromium: the mtpc
// extension's ghost text, accept, typed-ahead, dismiss, status bar, restart.
// Started by run.sh, which sets MTPC_* (see there). Each wait is bounded;
// any failure leaves a screenshot in MTPC_OUT and exits 1.
'use strict';
const fs = require('fs');
const path = require('path');
const cp = require('child_process');
const { chromium } = require(process.env.MTPC_PLAYWRIGHT);

const env = (k) => {
  if (!process.env[k]) throw new Error(`${k} not set`);
  return process.env[k];
};
const url = env('MTPC_CS_URL');
const out = env('MTPC_OUT');
const ws = env('MTPC_WS');
const userData = env('MTPC_USER_DATA');
const csPid = Number(env('MTPC_CS_PID'));
const bin = process.env.MTPC_BINARY;
const shot = process.env.MTPC_SCREENSHOT || '';
const file = path.join(ws, 'sample.py');

let page;
let step = 'start';
const log = (m) => console.log(`[vscode-e2e] ${m}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls fn until it returns a truthy value; throws after ms.
async function waitFor(what, fn, ms = 30000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

// The ghost text on screen, line by line from the top: the inline part
// after the cursor (.ghost-text-decoration), then the lines VS Code shows
// below it (.ghost-text). A line may be several spans (syntax colours).
async function ghost() {
  return page.evaluate(() => {
    const ed = document.querySelector('.editor-instance .monaco-editor') || document;
    const lines = new Map();
    for (const e of ed.querySelectorAll('.ghost-text-decoration, .ghost-text-decoration-preview, .ghost-text')) {
      if (e.querySelector('.ghost-text, .ghost-text-decoration')) continue;
      const top = Math.round(e.getBoundingClientRect().top);
      lines.set(top, (lines.get(top) || '') + e.textContent);
    }
    return [...lines.keys()].sort((a, b) => a - b).map((k) => lines.get(k).replace(/\u00a0/g, ' ')).join('\n');
  });
}

// The mtpc status bar item: its text and whether it shows the running icon.
async function status() {
  return page.evaluate(() => {
    for (const item of document.querySelectorAll('.statusbar-item')) {
      const text = (item.textContent || '').trim();
      if (/^mtpc\b/.test(text)) {
        return { text, running: !!item.querySelector('.codicon-sparkle'), spinning: !!item.querySelector('.codicon-sync') };
      }
    }
    return undefined;
  });
}

// `mtpc serve` processes under code-server: pids whose ancestor is csPid.
function serverPids() {
  const rows = cp.execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' }).split('\n');
  const parent = new Map();
  const args = new Map();
  for (const r of rows) {
    const m = /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(r);
    if (m) { parent.set(Number(m[1]), Number(m[2])); args.set(Number(m[1]), m[3]); }
  }
  const under = (pid) => {
    for (let p = pid, n = 0; p > 1 && n < 64; p = parent.get(p) || 0, n++) if (p === csPid) return true;
    return false;
  };
  return [...args].filter(([pid, a]) => a.startsWith(`${bin} serve`) && under(pid)).map(([pid]) => pid);
}

function extensionLog() {
  const found = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/mtpc.*\.log$/.test(e.name)) found.push(fs.readFileSync(p, 'utf8'));
    }
  };
  walk(path.join(userData, 'logs'));
  return found.join('\n');
}

// Types one key at a time until the server proposes something (a model this
// small proposes nothing at some positions). Returns the ghost text.
async function typeUntilGhost(keys) {
  for (const k of keys) {
    await page.keyboard.type(k);
    const g = await waitFor(`a suggestion after typing '${k}'`, async () => (await ghost()) || undefined, 8000)
      .catch(() => '');
    if (g !== '') return g;
  }
  throw new Error(`no ghost text after typing ${JSON.stringify(keys.join(''))}`);
}

async function save() {
  await page.keyboard.press('Control+S');
  await sleep(300);
}

// Runs a command from the palette; `input`, when given, goes into the input
// box the command opens.
async function command(title, input) {
  await page.keyboard.press('Escape');
  await page.keyboard.press('Control+Shift+P');
  await page.waitForSelector('.quick-input-widget input', { timeout: 30000 });
  await page.keyboard.type(title);
  await page.waitForSelector(`.quick-input-list .monaco-list-row:has-text("${title}")`, { timeout: 30000 });
  await page.keyboard.press('Enter');
  if (input !== undefined) {
    await page.waitForSelector('.quick-input-widget input[type="password"]', { timeout: 30000 });
    await page.keyboard.type(input);
    await page.keyboard.press('Enter');
  }
}

// Changes user settings the way a user does: in the settings.json editor
// (code-server does not notice a settings file changed behind its back).
async function writeSettings(changes) {
  const f = path.join(userData, 'User', 'settings.json');
  const cur = JSON.parse(fs.readFileSync(f, 'utf8'));
  await command('Preferences: Open User Settings (JSON)');
  // (a tab, or in newer VS Code a floating editor)
  const editor = '.monaco-editor .view-lines:has-text("mtpc.binaryPath")';
  await page.waitForSelector(editor, { timeout: 30000 });
  await page.click(editor);
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(JSON.stringify({ ...cur, ...changes }, null, 1));
  await page.keyboard.press('Control+S');
  await waitFor('settings.json saved', () => {
    try {
      const now = JSON.parse(fs.readFileSync(f, 'utf8'));
      return Object.keys(changes).every((k) => JSON.stringify(now[k]) === JSON.stringify(changes[k]));
    } catch {
      return false;
    }
  }, 10000).catch(() => {
    throw new Error(`settings.json after editing: ${fs.readFileSync(f, 'utf8')}`);
  });
  await page.keyboard.press('Control+W');
  // The file on disk is checked above: a question about unsaved changes
  // (an edit VS Code made after the save) is answered without saving.
  const dontSave = page.locator('.monaco-dialog-box .monaco-button', { hasText: "Don't Save" });
  await waitFor('the settings editor to close', async () => {
    if (await dontSave.count()) await dontSave.first().click();
    return !(await page.locator(editor).count());
  }, 30000);
  return f;
}

// A team server: `mtpc serve --listen` behind team_proxy.cjs (TLS with a
// certificate made here, a token). The token goes in through mtpc: Set
// Server Token, the address and CA file through settings.json.
async function teamServer() {
  const dir = fs.mkdtempSync(path.join(require('os').tmpdir(), 'mtpc-team-'));
  const children = [];
  try {
    step = 'team: certificate';
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    cp.execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
      '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });

    step = 'team: server and proxy';
    const serve = cp.spawn(bin, ['serve', '--listen', '127.0.0.1:0', '--model', process.env.MTPC_TEST_MODEL], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(serve);
    let serveErr = '';
    serve.stderr.on('data', (d) => { serveErr += d; });
    const upstream = await waitFor('mtpc serve --listen to listen', () => {
      const m = /listening on \S*:(\d+)/.exec(serveErr);
      return m && m[1];
    }, 30000);
    const proxy = cp.spawn(process.execPath, [path.join(__dirname, '..', 'team_proxy.cjs'),
      '--upstream', upstream, '--token', 'team-secret', '--cert', cert, '--key', key], { stdio: ['pipe', 'pipe', 'inherit'] });
    children.push(proxy);
    let events = '';
    proxy.stdout.on('data', (d) => { events += d; });
    const count = (word) => events.split('\n').filter((l) => l.startsWith(word)).length;
    const proxyPort = await waitFor('the proxy to listen', () => (/listening (\d+)/.exec(events) || [])[1], 30000);

    step = 'team: connect with the token';
    await command('mtpc: Set Server Token', 'team-secret');
    const settingsFile = await writeSettings({ 'mtpc.serverAddress': `tls://127.0.0.1:${proxyPort}`, 'mtpc.caFile': cert });
    await waitFor('the proxy to accept a connection with the token', () => count('accepted') >= 1, 60000);
    await waitFor('the status bar to show the server running', async () => (await status() || {}).running, 60000);
    await waitFor('no local mtpc serve', () => serverPids().length === 0, 30000);
    if (fs.readFileSync(settingsFile, 'utf8').includes('team-secret')) throw new Error('the token is in settings.json');
    await page.click('.editor-instance .view-lines');
    await page.keyboard.press('Control+End');
    await page.keyboard.press('Enter');
    const g4 = await typeUntilGhost(['p', 'r', 'i', 'n', 't', '(', '"']);
    log(`team server over tls with the token: ghost text ${JSON.stringify(g4)}`);

    step = 'team: reconnect after a drop';
    proxy.stdin.write('drop\n');
    await waitFor('a message that the connection was lost', () =>
      page.locator('.notification-toast', { hasText: 'reconnecting' }).count(), 30000);
    await waitFor('a second accepted connection', () => count('accepted') >= 2, 60000);
    await waitFor('the status bar to show the server running again', async () => (await status() || {}).running, 60000);
    await page.keyboard.press('Escape');
    await page.click('.editor-instance .view-lines');
    await page.keyboard.press('Control+End');
    await page.keyboard.press('Enter');
    const g5 = await typeUntilGhost(['p', 'r', 'i', 'n', 't', '(', '"']);
    log(`reconnected: ghost text ${JSON.stringify(g5)}`);

    step = 'team: a wrong token';
    await command('mtpc: Set Server Token', 'wrong-token');
    await waitFor('the proxy to refuse the wrong token', () => count('refused') >= 1, 60000);
    await waitFor('one message that the server refused', () =>
      page.locator('.notification-toast', { hasText: 'refused the connection' }).count(), 30000);
    await waitFor('the status bar to show the error', async () => {
      const s = await status();
      return s && !s.running && !s.spinning;
    }, 30000);
    await sleep(5000);
    if (count('refused') !== 1) throw new Error(`the extension retried a refused token: ${count('refused')} attempts`);
    log('wrong token: one message, one attempt, no retries');
  } finally {
    for (const c of children) c.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  if (!bin) throw new Error('MTPC_BINARY not set');
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'], headless: true });
  try {
    page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    step = 'open VS Code';
    await page.goto(url, { timeout: 120000 });
    await page.waitForSelector('.monaco-workbench', { timeout: 120000 });
    step = 'the status bar item';
    const st0 = await waitFor('the mtpc status bar item', status, 120000);
    log(`status bar: '${st0.text}'`);

    step = 'open sample.py';
    await page.keyboard.press('Control+P');
    await page.waitForSelector('.quick-input-widget input', { timeout: 30000 });
    await page.keyboard.type('sample.py');
    await page.waitForSelector('.quick-input-list .monaco-list-row:has-text("sample.py")', { timeout: 30000 });
    await page.keyboard.press('Enter');
    await page.waitForSelector('.editor-instance .view-lines:has-text("def greet")', { timeout: 30000 });
    step = 'the server running';
    const st1 = await waitFor('the status bar to show the server running', async () => {
      const s = await status();
      return s && s.running ? s : undefined;
    }, 120000);
    log(`status bar: '${st1.text}' (running icon)`);
    const firstPids = serverPids();
    if (firstPids.length !== 1) throw new Error(`expected one 'mtpc serve' under code-server, found ${firstPids}`);

    step = 'ghost text';
    await page.click('.editor-instance .view-lines');
    await page.keyboard.press('Control+End');
    const prefix = '    ';
    const g1 = await typeUntilGhost([prefix, 'p', 'r', 'i', 'n', 't', '(']);
    log(`ghost text: ${JSON.stringify(g1)}`);
    const first = g1.split('\n')[0];
    // It came from the server: the trace of the extension's LSP traffic
    // (mtpc.trace.server) holds it in a reply.
    const escaped = JSON.stringify(g1).slice(1, -1);
    await waitFor('the ghost text in the extension log (a server reply)', () => extensionLog().includes(escaped), 10000);
    if (shot) {
      await page.screenshot({ path: shot });
      log(`wrote ${shot}`);
    }

    if (first.length >= 2) {
      step = 'typed-ahead';
      await page.keyboard.type(first[0]);
      await waitFor(`the rest '${first.slice(1)}' still shown after typing '${first[0]}'`,
        async () => (await ghost()).startsWith(first.slice(1)), 8000);
      log('typed-ahead: the rest stays shown');
    }

    step = 'escape dismisses';
    await page.keyboard.press('Escape');
    await waitFor('no ghost text after Escape', async () => (await ghost()) === '', 5000);
    await sleep(500);
    if ((await ghost()) !== '') throw new Error('ghost text came back after Escape without typing');
    log('Escape: dismissed');

    step = 'Tab accepts';
    // VS Code's Tab indents instead of accepting while the cursor is inside
    // the line's indentation and the suggestion starts with a tab's width of
    // whitespace (the tiny model proposes such text at times). A character
    // before the cursor takes the cursor out of the indentation.
    await page.keyboard.type('r');
    await page.keyboard.press('Alt+Backslash'); // mtpc: Suggest Here
    let g2 = await waitFor('ghost text after mtpc: Suggest Here', async () => (await ghost()) || undefined, 10000)
      .catch(() => '');
    if (g2 === '') g2 = await typeUntilGhost(['e', 't', 'u', 'r', 'n', ' ', 'n']);
    await save();
    const before = fs.readFileSync(file, 'utf8');
    await page.keyboard.press('Tab');
    // The cursor was at the end of the file: the suggestion is appended.
    // (The server may propose the next suggestion at once: ghost text after
    // Tab is expected, the file is what is checked.)
    let after = '';
    const ok = await waitFor('the file after Tab', async () => {
      await save();
      after = fs.readFileSync(file, 'utf8');
      return after === before + g2;
    }, 5000).catch(() => false);
    if (!ok) throw new Error(`after Tab the file is ${JSON.stringify(after)}, expected ${JSON.stringify(before + g2)}`);
    log(`Tab: accepted ${JSON.stringify(g2)}; the file is now ${JSON.stringify(after)}`);

    step = 'restart after the server dies';
    const [pid] = serverPids();
    process.kill(pid, 'SIGKILL');
    log(`killed mtpc serve ${pid}`);
    await waitFor('a message that the server is restarted', () => page.locator('.notification-toast', { hasText: 'restarting it' }).count(), 30000);
    const st2 = await waitFor('the server running again', async () => {
      const s = await status();
      const p = serverPids();
      return s && s.running && p.length === 1 && p[0] !== pid ? { s, p } : undefined;
    }, 120000);
    log(`restarted: 'mtpc serve' ${st2.p[0]}; status bar '${st2.s.text}'`);
    if (!extensionLog().includes('the server stopped; restarting it')) throw new Error('the log does not say the server was restarted');
    await page.keyboard.press('Escape');
    await page.click('.editor-instance .view-lines');
    await page.keyboard.press('Control+End');
    await page.keyboard.press('Enter');
    const g3 = await typeUntilGhost(['p', 'r', 'i', 'n', 't', '(', '"']);
    log(`after the restart: ghost text ${JSON.stringify(g3)}`);

    await teamServer();
    log('PASS');
  } catch (err) {
    console.error(`FAIL at '${step}': ${err && err.stack ? err.stack : err}`);
    try {
      const png = path.join(out, `failure-${step.replace(/\W+/g, '_')}.png`);
      if (page) await page.screenshot({ path: png });
      console.error(`screenshot: ${png}`);
    } catch (e) {
      console.error(`no screenshot: ${e}`);
    }
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

main().catch((err) => {
  console.error(`FAIL at '${step}': ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
