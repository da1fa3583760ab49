-- Options of the plugin and their defaults. The server settings (the
-- `server` table) use the same names as the VS Code extension's settings and
-- go to the server unchanged, as initializationOptions and with
-- workspace/didChangeConfiguration.
local M = {}

M.defaults = {
  enabled = true,
  -- Path or name (looked up in PATH) of the mtpc binary started as `mtpc serve`.
  binary = 'mtpc',
  -- Extra arguments after `serve`.
  args = {},
  -- "host:port" of a running `mtpc serve --listen`; empty: start the binary.
  address = '',
  -- File types completed; empty: every file type.
  filetypes = {},
  -- Request completions while typing; false: only on the `next` key.
  auto_trigger = true,
  -- Wait this long after the last keystroke before asking (ms): typing fast
  -- does not queue one request per key.
  debounce_ms = 75,
  -- Use Neovim's own inline completion (0.12+, vim.lsp.inline_completion)
  -- when it exists; false: always this plugin's ghost text.
  native = true,
  -- Restart a server that exited: first after restart_initial_ms, doubling
  -- up to restart_max_ms, at most max_restarts times in a row (a completion
  -- that arrives resets the count).
  restart_initial_ms = 500,
  restart_max_ms = 30000,
  max_restarts = 5,
  -- Insert-mode keys; false disables one.
  keymaps = {
    accept = '<Tab>',
    accept_word = '<M-Right>',
    accept_line = '<M-C-Right>',
    dismiss = '<C-]>',
    next = '<M-]>',
  },
  -- Sent to the server (lsp/ reads them; absent ones keep the server's default).
  server = {
    model = nil,        -- checkpoint directory
    maxLines = nil,     -- longest multi-line completion
    maxTokens = nil,    -- most tokens generated for one completion
    deadlineMs = nil,   -- the server answers with what it has by then
    fim = nil,          -- fill-in-the-middle when the model has it
    languages = nil,    -- languageIds the server completes
    draftLength = nil,  -- tokens drafted per pass (self-speculative decoding)
  },
}

local function is_list(t)
  return type(t) == 'table' and (#t > 0 or next(t) == nil)
end

-- Deep merge of user options over `base`; lists replace, tables merge.
function M.merge(base, user)
  local out = vim.deepcopy(base)
  for k, v in pairs(user or {}) do
    if type(v) == 'table' and type(out[k]) == 'table' and not is_list(v) and not is_list(out[k]) then
      out[k] = M.merge(out[k], v)
    else
      out[k] = v
    end
  end
  return out
end

-- Returns the validated config, or nil and a message naming the bad option.
function M.resolve(user)
  local cfg = M.merge(M.defaults, user)
  local checks = {
    { 'binary', 'string' }, { 'address', 'string' }, { 'debounce_ms', 'number' },
    { 'restart_initial_ms', 'number' }, { 'restart_max_ms', 'number' },
    { 'max_restarts', 'number' }, { 'filetypes', 'table' }, { 'args', 'table' },
    { 'server', 'table' }, { 'keymaps', 'table' },
  }
  for _, c in ipairs(checks) do
    if type(cfg[c[1]]) ~= c[2] then
      return nil, string.format('option %s must be a %s, got %s', c[1], c[2], type(cfg[c[1]]))
    end
  end
  if cfg.address ~= '' and not M.parse_address(cfg.address) then
    return nil, string.format("option address must be 'host:port', got '%s'", cfg.address)
  end
  return cfg
end

-- "host:port" -> host, port (number), or nil.
function M.parse_address(address)
  local host, port = address:match('^%[?([^%]]+)%]?:(%d+)$')
  port = tonumber(port)
  if not host or host == '' or not port or port < 1 or port > 65535 then
    return nil
  end
  return host, port
end

-- The settings object sent to the server: only the keys the user set.
function M.server_settings(cfg)
  local out = vim.empty_dict()
  for k, v in pairs(cfg.server or {}) do
    out[k] = v
  end
  return out
end

return M
