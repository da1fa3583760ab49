-- The server process or connection, as a vim.lsp client: start, attach
-- buffers, restart with back-off after an exit, stop. vim.lsp does the
-- document sync (didOpen/didChange) for attached buffers.
local config = require('mtpc.config')

local M = {}

-- state.status is what :MtpcStatus shows: 'stopped', 'starting', 'running',
-- 'restarting', 'binary missing', 'gave up'.
local state = {
  cfg = nil,
  client_id = nil,
  status = 'stopped',
  stopping = false,       -- an exit we asked for: no restart
  refused = false,        -- the server answered initialize with an error (a wrong token)
  full = nil,             -- the server said -32011 (too many connections): why, until the close
  generation = 0,         -- bumped by every start: a decision about an older one is dropped
  failures = 0,           -- exits in a row since the last good completion
  restart_timer = nil,
  buffers = {},           -- bufnr -> true: buffers to attach to every client
  last_error = nil,
  server_info = nil,
  notify = function(msg, level)
    vim.notify(msg, level)
  end,
}
M.state = state

local function message(msg, level)
  state.notify('mtpc: ' .. msg, level or vim.log.levels.INFO)
end

-- The command vim.lsp spawns. Over TCP, Neovim 0.8+ connects itself
-- (vim.lsp.rpc.connect); 0.7 can only spawn, so a bash process bridges
-- stdio to the socket through /dev/tcp and exits when either side closes.
local bridge_connect_failed = 2  -- the bridge's exit status when connect() fails
-- The team server's JSON-RPC error for a full server (--max-connections,
-- --max-connections-per-user); lsp/protocol.h.
local TOO_MANY_CONNECTIONS = -32011

local function command(cfg)
  if cfg.address == '' then
    local cmd = { cfg.binary, 'serve' }
    vim.list_extend(cmd, cfg.args)
    return cmd
  end
  local host, port, scheme = config.parse_address(cfg.address)
  if scheme == 'tls' then
    -- No TLS in vim.lsp: `openssl s_client` carries stdio over TLS and
    -- checks the certificate (and the name or address in it).
    local target = (host:find(':', 1, true) and ('[' .. host .. ']') or host) .. ':' .. port
    local cmd = { 'openssl', 's_client', '-quiet', '-verify_return_error', '-connect', target }
    if host:match('^[%d.]+$') or host:find(':', 1, true) then
      vim.list_extend(cmd, { '-verify_ip', host })
    else
      vim.list_extend(cmd, { '-verify_hostname', host, '-servername', host })
    end
    if cfg.ca_file ~= '' then
      vim.list_extend(cmd, { '-CAfile', vim.fn.expand(cfg.ca_file) })
    end
    return cmd
  end
  if vim.lsp.rpc and vim.lsp.rpc.connect then
    return vim.lsp.rpc.connect(host, port)
  end
  local bridge = 'exec 3<>"/dev/tcp/$0/$1" || exit ' .. bridge_connect_failed .. '; exec 4<&0; cat <&3 & r=$!; cat <&4 >&3 & w=$!; '
    .. 'wait -n; kill $r $w 2>/dev/null; exit 0'
  return { 'bash', '-c', bridge, host, tostring(port) }
end

local function where(cfg)
  if cfg.address ~= '' then
    local host, port, scheme = config.parse_address(cfg.address)
    return string.format('%s %s:%s', scheme, host, port)
  end
  return cfg.binary .. ' serve'
end

function M.client()
  if not state.client_id then
    return nil
  end
  local client = vim.lsp.get_client_by_id(state.client_id)
  if client and client.initialized then
    return client
  end
  return nil
end

local schedule_restart

-- The server turned the connection away during initialize: one message,
-- status 'refused', no restarts until :MtpcRestart.
local function refuse(why)
  if state.refused then
    return
  end
  state.refused = true
  state.stopping = true
  state.status = 'refused'
  state.last_error = 'the server refused the connection: ' .. why
  message(state.last_error .. '; check the token ($MTPC_TOKEN or token_file), then :MtpcRestart',
    vim.log.levels.ERROR)
end

-- The JSON-RPC error code and message in what vim.lsp hands on_error: the
-- reply's error table (0.8+), the whole message (a reply with id null: no
-- callback found), or the text of an error raised with it (0.7).
function M.error_of(err)
  if type(err) == 'table' then
    local e = type(err.error) == 'table' and err.error or err
    return tonumber(e.code), tostring(e.message or vim.inspect(err))
  end
  local text = tostring(err)
  return tonumber(text:match('code = (%-?%d+)')), text:match('message = "([^"]*)"') or text
end

-- A remote connection that ends during initialize: the server's last words
-- (an error reply) may still be in the pipe when the exit is seen, so the
-- decision waits this long for them.
local EXIT_SETTLE_MS = 100

local function on_exit(code, signal, client_id)
  vim.schedule(function()
    if client_id ~= state.client_id then
      return
    end
    state.client_id = nil
    local generation = state.generation
    local function decide()
      if generation ~= state.generation then
        return  -- started again meanwhile
      end
      -- A refusal (an error reply to initialize, initialize_failed) has
      -- set stopping by now; a connection that closed during initialize
      -- without one (a full server whose notice was lost, a server going
      -- down) is tried again with the back-off.
      if state.stopping then
        state.status = state.refused and 'refused' or 'stopped'
        return
      end
      if state.full then
        state.last_error = state.full
        state.full = nil
      elseif state.cfg.address ~= '' and state.status == 'starting' and code == 0 then
        state.last_error = 'the connection closed during initialize'
      elseif state.cfg.address ~= '' and code == bridge_connect_failed then
        state.last_error = 'cannot connect'
      else
        state.last_error = string.format('server exited (code %s, signal %s)', code, signal)
      end
      schedule_restart()
    end
    if state.cfg.address ~= '' and state.status == 'starting' and not state.stopping then
      vim.defer_fn(decide, EXIT_SETTLE_MS)
    else
      decide()
    end
  end)
end

-- The server answered initialize with an error: -32011 (too many
-- connections) is tried again with the back-off once the server closes the
-- connection; anything else (a wrong token) is a refusal.
local function initialize_failed(err)
  local rpc_code, text = M.error_of(err)
  if state.status ~= 'starting' then
    return
  end
  if rpc_code == TOO_MANY_CONNECTIONS then
    state.full = 'the server has too many connections: ' .. text
    return
  end
  refuse(text)
  if state.client_id then
    vim.lsp.stop_client(state.client_id, true)
  end
end

-- The rpc client vim.lsp made, with a request() that hands an error reply
-- to initialize to initialize_failed instead of to vim.lsp, which raises it
-- in a scheduled callback (0.7 and the TCP connections of 0.8+; never
-- on_error).
local function watch_initialize(client)
  if type(client) ~= 'table' or type(client.request) ~= 'function' then
    return client
  end
  local request = client.request
  client.request = function(method, params, callback, ...)
    if method == 'initialize' and type(callback) == 'function' then
      local inner = callback
      callback = function(err, result)
        if err then
          vim.schedule(function()
            initialize_failed(err)
          end)
          return
        end
        return inner(err, result)
      end
    end
    return request(method, params, callback, ...)
  end
  return client
end

-- vim.lsp.start_client with watch_initialize on its rpc client: a spawned
-- command goes through vim.lsp.rpc.start (replaced for the call), a TCP
-- connection of 0.8+ is a function that returns the client.
local function start_client(config_)
  local rpc = vim.lsp.rpc
  local original = rpc.start
  rpc.start = function(...)
    return watch_initialize(original(...))
  end
  if type(config_.cmd) == 'function' then
    local connect = config_.cmd
    config_.cmd = function(...)
      return watch_initialize(connect(...))
    end
  end
  local ok, id = pcall(vim.lsp.start_client, config_)
  rpc.start = original
  return ok, id
end

local function start_now()
  local cfg = state.cfg
  if cfg.address == '' and vim.fn.executable(cfg.binary) ~= 1 then
    state.status = 'binary missing'
    state.last_error = string.format("server binary '%s' not found", cfg.binary)
    message(state.last_error .. ': install mtpc or set binary in setup(); completions are off',
      vim.log.levels.ERROR)
    return false
  end
  local token, token_error = config.token(cfg)
  if token_error then
    state.status = 'token error'
    state.last_error = token_error
    message(token_error .. '; not connecting', vim.log.levels.ERROR)
    return false
  end
  if cfg.address ~= '' and select(3, config.parse_address(cfg.address)) == 'tls' and vim.fn.executable('openssl') ~= 1 then
    state.status = 'binary missing'
    state.last_error = 'tls:// addresses need the openssl command, which is not in PATH'
    message(state.last_error, vim.log.levels.ERROR)
    return false
  end
  state.stopping = false
  state.refused = false
  state.full = nil
  state.generation = state.generation + 1
  state.status = 'starting'
  local settings = config.server_settings(cfg)
  local init_options = vim.deepcopy(settings)
  if token then
    init_options.mtpc = { token = token }
  end
  local ok, id = start_client({
    name = 'mtpc',
    cmd = command(cfg),
    root_dir = vim.loop.cwd(),
    init_options = init_options,
    settings = { mtpc = settings },
    flags = { debounce_text_changes = 0 },
    on_init = function(client, result)
      state.status = 'running'
      state.server_info = result and result.serverInfo
    end,
    on_exit = on_exit,
    -- An error before initialize finished is the server refusing us (a
    -- wrong token, say): one message, stop, no restarts. (0.7 raises the
    -- error reply instead of calling on_error: on_exit catches that case.)
    -- An error before initialize finished (Neovim 0.8+ with a TCP
    -- connection of its own; a reply with id null, as -32011 over plain TCP).
    on_error = function(_, err)
      vim.schedule(function()
        initialize_failed(err)
      end)
    end,
    handlers = {
      ['window/logMessage'] = function(_, params)
        require('mtpc.log').add(params and params.message or '')
      end,
    },
  })
  if not ok or not id then
    state.status = 'stopped'
    state.last_error = 'could not start ' .. where(cfg) .. ': ' .. tostring(id)
    message(state.last_error, vim.log.levels.ERROR)
    schedule_restart()
    return false
  end
  state.client_id = id
  for bufnr in pairs(state.buffers) do
    if vim.api.nvim_buf_is_valid(bufnr) then
      vim.lsp.buf_attach_client(bufnr, id)
    else
      state.buffers[bufnr] = nil
    end
  end
  return true
end

schedule_restart = function()
  local cfg = state.cfg
  state.failures = state.failures + 1
  if state.failures > cfg.max_restarts then
    state.status = 'gave up'
    message(string.format('%s failed %d times in a row (%s); :MtpcRestart to try again',
      where(cfg), state.failures, state.last_error or '?'), vim.log.levels.ERROR)
    return
  end
  local delay = math.min(cfg.restart_initial_ms * 2 ^ (state.failures - 1), cfg.restart_max_ms)
  state.status = 'restarting'
  message(string.format('%s: %s; restarting in %.1f s', where(cfg), state.last_error or 'exited',
    delay / 1000), vim.log.levels.WARN)
  if state.restart_timer then
    state.restart_timer:stop()
    state.restart_timer:close()
  end
  state.restart_timer = vim.loop.new_timer()
  state.restart_timer:start(delay, 0, vim.schedule_wrap(function()
    if state.restart_timer then
      state.restart_timer:close()
      state.restart_timer = nil
    end
    if state.status == 'restarting' then
      start_now()
    end
  end))
end

function M.start(cfg)
  state.cfg = cfg
  if state.client_id then
    return true
  end
  state.failures = 0
  return start_now()
end

function M.stop()
  state.stopping = true
  if state.restart_timer then
    state.restart_timer:stop()
    state.restart_timer:close()
    state.restart_timer = nil
  end
  if state.client_id then
    vim.lsp.stop_client(state.client_id)
    state.client_id = nil
  end
  state.status = 'stopped'
end

function M.restart()
  M.stop()
  state.failures = 0
  return start_now()
end

-- A completion came back: the server works, so later exits start a fresh
-- back-off.
function M.healthy()
  state.failures = 0
end

function M.attach(bufnr)
  state.buffers[bufnr] = true
  if state.client_id and not vim.lsp.buf_is_attached(bufnr, state.client_id) then
    vim.lsp.buf_attach_client(bufnr, state.client_id)
  end
end

function M.notify_settings(cfg)
  state.cfg = cfg
  local client = M.client()
  if client then
    client.notify('workspace/didChangeConfiguration', { settings = { mtpc = config.server_settings(cfg) } })
  end
end

function M.describe()
  local cfg = state.cfg
  return cfg and where(cfg) or '?'
end

return M
