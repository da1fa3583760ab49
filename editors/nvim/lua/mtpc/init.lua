-- mtpc for Neovim: inline completions (ghost text) from `mtpc serve`.
-- require('mtpc').setup({...}); options in lua/mtpc/config.lua, help in
-- doc/mtpc.txt. Every request is asynchronous: the editor never waits on the
-- server, and a reply for a buffer that changed meanwhile is dropped.
local config = require('mtpc.config')
local server = require('mtpc.server')
local suggestion = require('mtpc.suggestion')

local M = {}

-- Not nil while a suggestion is shown: { bufnr, tick, row, col, items, index, s }.
local current = nil
local pending = nil          -- { client_id, request_id }
local debounce_timer = nil
local stats = { last_latency_ms = nil, replies = 0, shown = 0, accepted = 0, last_error = nil,
  rate_limited = 0, held_back = 0 }
-- The team server's JSON-RPC error when a user is over --requests-per-minute
-- (lsp/protocol.h); its data.retryAfterMs says when to ask again.
local RATE_LIMITED = -32012
-- Used when a -32012 has no usable retryAfterMs, and the longest pause.
local DEFAULT_RETRY_MS = 1000
local MAX_RETRY_MS = 10 * 60 * 1000
local paused_until = 0       -- vim.loop.now() before which no request goes out (rate limited)
local cfg = nil
local native = false         -- Neovim 0.12+ draws and accepts by itself

M.stats = stats
M.server = server

local function notify(msg, level)
  server.state.notify('mtpc: ' .. msg, level)
end

local function filetype_enabled(bufnr)
  if vim.tbl_contains(cfg.disabled_filetypes, vim.bo[bufnr].filetype) then
    return false
  end
  if #cfg.filetypes == 0 then
    return vim.bo[bufnr].buftype == ''
  end
  return vim.tbl_contains(cfg.filetypes, vim.bo[bufnr].filetype)
end

-- A -32012 reply: no request goes out for retryAfterMs (typing on does not
-- hammer the server), and one message per pause.
local function rate_limited(err)
  local wait = type(err.data) == 'table' and tonumber(err.data.retryAfterMs) or nil
  if not wait or wait <= 0 then
    wait = DEFAULT_RETRY_MS
  end
  wait = math.min(wait, MAX_RETRY_MS)
  local now = vim.loop.now()
  local was_paused = now < paused_until
  paused_until = math.max(paused_until, now + wait)
  stats.rate_limited = stats.rate_limited + 1
  stats.last_error = err.message or 'rate limited'
  if not was_paused then
    notify(string.format('the server rate-limits this user (--requests-per-minute); no completions for %.1f s',
      wait / 1000), vim.log.levels.WARN)
  end
end

local function cancel_pending()
  if pending then
    local client = vim.lsp.get_client_by_id(pending.client_id)
    if client then
      client.cancel_request(pending.request_id)
    end
    pending = nil
  end
end

-- True while a request is out.
function M.busy()
  return pending ~= nil
end

function M.dismiss()
  cancel_pending()
  if current then
    suggestion.clear(current.bufnr)
    current = nil
  end
end

local function show(bufnr, tick, row, col, items, index, encoding)
  local get_line = function(r)
    return vim.api.nvim_buf_get_lines(bufnr, r, r + 1, false)[1] or ''
  end
  for i = 0, #items - 1 do
    local k = (index - 1 + i) % #items + 1
    local s = suggestion.build(items[k], row, col, get_line, encoding)
    if s then
      current = { bufnr = bufnr, tick = tick, row = row, col = col, items = items, index = k, s = s,
        encoding = encoding }
      suggestion.render(bufnr, s)
      stats.shown = stats.shown + 1
      return true
    end
  end
  return false
end

-- Asks the server for a suggestion at the cursor. trigger_kind: 1 Invoked
-- (a key), 2 Automatic (typing).
function M.request(trigger_kind)
  local client = server.client()
  local bufnr = vim.api.nvim_get_current_buf()
  if not client or not cfg.enabled or native or not filetype_enabled(bufnr) then
    return
  end
  if vim.loop.now() < paused_until then
    stats.held_back = stats.held_back + 1
    return
  end
  server.attach(bufnr)
  cancel_pending()
  local cursor = vim.api.nvim_win_get_cursor(0)
  local row, col = cursor[1] - 1, cursor[2]
  local tick = vim.api.nvim_buf_get_changedtick(bufnr)
  local encoding = client.offset_encoding or 'utf-16'
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
  local position = { line = row, character = suggestion.lsp_character(line, col, encoding) }
  local caps = client.server_capabilities or {}
  local inline = caps.inlineCompletionProvider ~= nil and caps.inlineCompletionProvider ~= false
  local method = inline and 'textDocument/inlineCompletion' or 'textDocument/completion'
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    position = position,
    context = inline and { triggerKind = trigger_kind } or { triggerKind = trigger_kind == 1 and 1 or 3 },
  }
  local started = vim.loop.hrtime()
  local ok, request_id
  ok, request_id = client.request(method, params, function(err, result)
    if pending and pending.request_id == request_id then
      pending = nil
    end
    stats.last_latency_ms = math.floor((vim.loop.hrtime() - started) / 1e6)
    if err then
      -- -32800 RequestCancelled and -32801 ContentModified are expected while typing.
      if err.code == RATE_LIMITED then
        rate_limited(err)
      elseif err.code ~= -32800 and err.code ~= -32801 then
        stats.last_error = err.message or vim.inspect(err)
      end
      return
    end
    server.healthy()
    stats.replies = stats.replies + 1
    local items = inline and suggestion.items_from_inline(result) or suggestion.items_from_completion(result)
    -- Stale: the buffer, the cursor or the mode changed while the server worked.
    if #items == 0 or not vim.api.nvim_buf_is_valid(bufnr) or vim.api.nvim_get_current_buf() ~= bufnr
      or vim.api.nvim_buf_get_changedtick(bufnr) ~= tick or vim.api.nvim_get_mode().mode:sub(1, 1) ~= 'i' then
      return
    end
    local now = vim.api.nvim_win_get_cursor(0)
    if now[1] - 1 ~= row or now[2] ~= col then
      return
    end
    show(bufnr, tick, row, col, items, 1, encoding)
  end, bufnr)
  if ok then
    pending = { client_id = client.id, request_id = request_id }
  end
end

-- After a keystroke: keep a suggestion that still fits (our own partial
-- accept), else drop it and ask again once typing pauses.
local function on_change()
  local bufnr = vim.api.nvim_get_current_buf()
  if current then
    local cursor = vim.api.nvim_win_get_cursor(0)
    if current.bufnr == bufnr and current.tick == vim.api.nvim_buf_get_changedtick(bufnr)
      and current.row == cursor[1] - 1 and current.col == cursor[2] then
      return
    end
    M.dismiss()
  end
  if not cfg.auto_trigger or not cfg.enabled then
    return
  end
  if debounce_timer then
    debounce_timer:stop()
  else
    debounce_timer = vim.loop.new_timer()
  end
  debounce_timer:start(cfg.debounce_ms, 0, vim.schedule_wrap(function()
    if vim.api.nvim_get_mode().mode:sub(1, 1) == 'i' and vim.api.nvim_get_current_buf() == bufnr then
      M.request(2)
    end
  end))
end

local function take(part)
  if not current or current.bufnr ~= vim.api.nvim_get_current_buf() then
    return false
  end
  local c = current
  local s = c.s
  local text = part == 'all' and s.ghost or part == 'word' and suggestion.next_word(s.ghost)
    or suggestion.next_line(s.ghost)
  local whole = #text == #s.ghost
  suggestion.clear(c.bufnr)
  current = nil
  local row, col = suggestion.insert(c.bufnr, s, text, whole)
  stats.accepted = stats.accepted + 1
  if not whole then
    -- Keep showing the rest; the range end moves with the inserted text.
    local rest = s.ghost:sub(#text + 1)
    local end_row, end_col = s.end_row, s.end_col
    if end_row == s.row then
      end_row, end_col = row, col + (s.end_col - s.col)
    else
      end_row = end_row + (row - s.row)
    end
    local ns = { row = row, col = col, ghost = rest, end_row = end_row, end_col = end_col }
    current = { bufnr = c.bufnr, tick = vim.api.nvim_buf_get_changedtick(c.bufnr), row = row, col = col,
      items = c.items, index = c.index, s = ns, encoding = c.encoding }
    suggestion.render(c.bufnr, ns)
  end
  return true
end

function M.accept()
  if native then
    return vim.lsp.inline_completion.get()
  end
  return take('all')
end

function M.accept_word()
  return take('word')
end

function M.accept_line()
  return take('line')
end

-- Another suggestion: the server's next item when it sent several, else a
-- fresh request.
function M.next()
  if native then
    return pcall(vim.lsp.inline_completion.select, { count = 1 })
  end
  if current and #current.items > 1 then
    local c = current
    suggestion.clear(c.bufnr)
    current = nil
    return show(c.bufnr, c.tick, c.row, c.col, c.items, c.index + 1, c.encoding)
  end
  M.request(1)
  return true
end

-- Completions on/off: everywhere, or (with a file type) for that file type
-- only, by adding it to or removing it from disabled_filetypes.
function M.toggle(filetype)
  if filetype and filetype ~= '' then
    local i = nil
    for k, ft in ipairs(cfg.disabled_filetypes) do
      if ft == filetype then
        i = k
      end
    end
    if i then
      table.remove(cfg.disabled_filetypes, i)
    else
      table.insert(cfg.disabled_filetypes, filetype)
      M.dismiss()
    end
    notify(string.format('%s for %s', i and 'on' or 'off', filetype), vim.log.levels.INFO)
    return
  end
  cfg.enabled = not cfg.enabled
  if not cfg.enabled then
    M.dismiss()
  end
  if native then
    pcall(vim.lsp.inline_completion.enable, cfg.enabled)
  end
  notify(cfg.enabled and 'on' or 'off', vim.log.levels.INFO)
end

-- Asks the server for mtpc/stats; callback(err, result). Returns false when
-- there is no running server.
function M.server_stats(callback)
  local client = server.client()
  if not client then
    return false
  end
  return client.request('mtpc/stats', vim.empty_dict(), function(err, result)
    callback(err, result)
  end) and true or false
end

-- :MtpcStats: the server's counters and this editor's, in one message.
local function show_stats()
  local ok = M.server_stats(function(err, result)
    if err then
      notify('mtpc/stats failed: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return
    end
    local lines = { 'server statistics (mtpc/stats):' }
    local keys = vim.tbl_keys(result or {})
    table.sort(keys)
    for _, k in ipairs(keys) do
      local v = result[k]
      table.insert(lines, string.format('  %s: %s', k, type(v) == 'table' and vim.inspect(v, { newline = ' ', indent = '' }) or tostring(v)))
    end
    table.insert(lines, string.format('this editor: %d shown, %d accepted, last latency %s ms',
      stats.shown, stats.accepted, tostring(stats.last_latency_ms or '-')))
    notify(table.concat(lines, '\n'), vim.log.levels.INFO)
  end)
  if not ok then
    notify('no running server (:MtpcStatus says why)', vim.log.levels.WARN)
  end
end

function M.status()
  local st = server.state
  local info = st.server_info
  return {
    enabled = cfg and cfg.enabled or false,
    enabled_here = cfg and cfg.enabled and filetype_enabled(vim.api.nvim_get_current_buf()) or false,
    rate_limited_for_ms = math.max(0, paused_until - vim.loop.now()),
    server = st.status,
    transport = server.describe(),
    server_name = info and ((info.name or '') .. ' ' .. (info.version or '')) or nil,
    model = cfg and cfg.server.model or nil,
    last_latency_ms = stats.last_latency_ms,
    shown = stats.shown,
    accepted = stats.accepted,
    last_error = stats.last_error or st.last_error,
    native = native,
    showing = current ~= nil and current.s.ghost or nil,
  }
end

-- Keys: when nothing is shown, the key does what it did before (Tab inserts
-- a tab).
local function map(lhs, fn)
  if not lhs then
    return
  end
  vim.keymap.set('i', lhs, function()
    if not fn() then
      vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes(lhs, true, false, true), 'n', false)
    end
  end, { desc = 'mtpc' })
end

local function use_native()
  return cfg.native and vim.lsp.inline_completion ~= nil and type(vim.lsp.inline_completion.enable) == 'function'
end

-- Changing options later: call setup() again; server settings go out as
-- workspace/didChangeConfiguration.
function M.setup(user)
  local resolved, err = config.resolve(user)
  if not resolved then
    notify('setup: ' .. err, vim.log.levels.ERROR)
    return false
  end
  local first = cfg == nil
  cfg = resolved
  native = use_native()
  vim.cmd('highlight default link MtpcGhost Comment')
  local keys = cfg.keymaps
  map(keys.accept, M.accept)
  map(keys.accept_word, M.accept_word)
  map(keys.accept_line, M.accept_line)
  map(keys.dismiss, function()
    local had = current ~= nil
    M.dismiss()
    return had
  end)
  map(keys.next, M.next)
  local group = vim.api.nvim_create_augroup('mtpc', { clear = true })
  vim.api.nvim_create_autocmd({ 'TextChangedI', 'CursorMovedI' }, { group = group, callback = on_change })
  vim.api.nvim_create_autocmd({ 'InsertLeave', 'BufLeave' }, { group = group, callback = M.dismiss })
  vim.api.nvim_create_autocmd({ 'BufEnter', 'InsertEnter' }, {
    group = group,
    callback = function(ev)
      if cfg.enabled and filetype_enabled(ev.buf) then
        server.attach(ev.buf)
      end
    end,
  })
  vim.api.nvim_create_autocmd('VimLeavePre', { group = group, callback = server.stop })
  vim.api.nvim_create_user_command('MtpcToggle', function(o)
    M.toggle(o.args)
  end, { nargs = '?', complete = 'filetype', desc = 'mtpc: completions on/off (everywhere, or for a file type)' })
  vim.api.nvim_create_user_command('MtpcStats', show_stats, { desc = "mtpc: the server's statistics (mtpc/stats)" })
  vim.api.nvim_create_user_command('MtpcStatus', function()
    print(vim.inspect(M.status()))
  end, { desc = 'mtpc: server state, latency, model' })
  vim.api.nvim_create_user_command('MtpcRestart', function()
    server.restart()
  end, { desc = 'mtpc: restart the server' })
  vim.api.nvim_create_user_command('MtpcLog', function()
    print(table.concat(require('mtpc.log').lines, '\n'))
  end, { desc = 'mtpc: the server log' })
  if first or server.state.status == 'stopped' then
    if server.start(cfg) and native then
      pcall(vim.lsp.inline_completion.enable, cfg.enabled, { client_id = server.state.client_id })
    end
  else
    server.notify_settings(cfg)
  end
  local bufnr = vim.api.nvim_get_current_buf()
  if filetype_enabled(bufnr) then
    server.attach(bufnr)
  end
  return true
end

return M
