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
  -- A running `mtpc serve --listen`: 'tcp://host:port' (or 'host:port'),
  -- 'tls://host:port' (through `openssl s_client`); empty: start the binary.
  address = '',
  -- PEM file of the CA that signed a tls:// server's certificate; empty: the
  -- system's CAs.
  ca_file = '',
  -- The team server's token: $MTPC_TOKEN, else this file (refused when
  -- group or others may read or write it); sent as
  -- initializationOptions.mtpc.token.
  token_file = '',
  -- File types completed; empty: every file type.
  filetypes = {},
  -- File types never completed (:MtpcToggle {filetype} adds or removes one).
  disabled_filetypes = {},
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
    syntaxRetries = nil,  -- alternatives sampled when greedy breaks the code (0: none)
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
    { 'ca_file', 'string' }, { 'token_file', 'string' },
    { 'restart_initial_ms', 'number' }, { 'restart_max_ms', 'number' },
    { 'max_restarts', 'number' }, { 'filetypes', 'table' }, { 'disabled_filetypes', 'table' }, { 'args', 'table' },
    { 'server', 'table' }, { 'keymaps', 'table' },
  }
  for _, c in ipairs(checks) do
    if type(cfg[c[1]]) ~= c[2] then
      return nil, string.format('option %s must be a %s, got %s', c[1], c[2], type(cfg[c[1]]))
    end
  end
  if cfg.address ~= '' and not M.parse_address(cfg.address) then
    return nil, string.format("option address must be 'host:port', 'tcp://host:port' or 'tls://host:port', got '%s'",
      cfg.address)
  end
  return cfg
end

-- "tcp://host:port", "tls://host:port", "host:port" -> host, port (number),
-- scheme ('tcp' or 'tls'), or nil.
function M.parse_address(address)
  local scheme, rest = address:match('^(%a+)://(.*)$')
  if scheme and scheme ~= 'tcp' and scheme ~= 'tls' then
    return nil
  end
  local host, port = (rest or address):match('^%[?([^%]/]+)%]?:(%d+)$')
  port = tonumber(port)
  if not host or host == '' or not port or port < 1 or port > 65535 then
    return nil
  end
  return host, port, scheme or 'tcp'
end

-- The token: $MTPC_TOKEN, else the first line of cfg.token_file. Returns
-- the token (nil when there is none), or nil and a message when the file
-- cannot be used (missing, or group/others may read or write it).
function M.token(cfg)
  local env = vim.env.MTPC_TOKEN
  if env and env ~= '' then
    return vim.trim(env)
  end
  if cfg.token_file == '' then
    return nil
  end
  local file = vim.fn.expand(cfg.token_file)
  local stat = vim.loop.fs_stat(file)
  if not stat or stat.type ~= 'file' then
    return nil, string.format("token_file '%s' is not a file", file)
  end
  if bit.band(stat.mode, tonumber('077', 8)) ~= 0 then
    return nil, string.format("token_file '%s' has mode %o: group and others must have no access (chmod 600)",
      file, bit.band(stat.mode, tonumber('777', 8)))
  end
  local ok, lines = pcall(vim.fn.readfile, file, '', 1)
  local token = ok and lines[1] and vim.trim(lines[1]) or ''
  if token == '' then
    return nil, string.format("token_file '%s' is empty or unreadable", file)
  end
  return token
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
