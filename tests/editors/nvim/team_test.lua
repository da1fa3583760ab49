-- A team server: the real `mtpc serve --listen` with --tokens and
-- --tls-cert/--tls-key (a certificate made here by openssl, a token made by
-- `mtpc token add`). The plugin connects with address = 'tls://...', ca_file
-- and the token from token_file:
--   - a token file others may read is refused before connecting;
--   - a full server (-32011, --max-connections-per-user 1 while another
--     connection of the same user is open) is retried with the back-off, not
--     taken for a refusal, and connects once the slot is free;
--   - a server killed (SIGKILL) and started again on the same port is
--     reconnected, with a message;
--   - a wrong token ($MTPC_TOKEN) gives one message and no retries.
-- The server's log (--log) is the witness: "user alice" per accepted
-- connection, "refused: unknown token" per refused one.
local H = require('harness')
local C = require('common')

-- The LSP framing of one JSON-RPC message.
local function frame(msg)
  local body = vim.fn.json_encode(msg)
  return string.format('Content-Length: %d\r\n\r\n%s', #body, body)
end

H.run('team', function()
  local bin, model = H.require_serve()
  H.ok(vim.fn.executable('openssl') == 1, 'openssl is needed (scripts/setup installs it)')
  local dir = vim.fn.tempname()
  vim.fn.mkdir(dir, 'p')
  local cert, key = dir .. '/cert.pem', dir .. '/key.pem'
  vim.fn.system({ 'openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
    '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1' })
  H.eq(0, vim.v.shell_error, 'openssl req')
  local tokens = dir .. '/tokens'
  -- The token is the first line on stdout (a notice goes to stderr).
  local token = vim.trim(vim.split(vim.fn.system({ bin, 'token', 'add', 'alice', '--tokens', tokens }), '\n')[1])
  H.eq(0, vim.v.shell_error, 'mtpc token add')

  local log = dir .. '/serve.log'
  local function log_text()
    return table.concat(vim.fn.filereadable(log) == 1 and vim.fn.readfile(log) or {}, '\n')
  end
  -- Lines of the log that match `pattern`.
  local function count(pattern)
    local n = 0
    for _, line in ipairs(vim.fn.filereadable(log) == 1 and vim.fn.readfile(log) or {}) do
      if line:find(pattern) then n = n + 1 end
    end
    return n
  end
  local serve, holder = -1, -1
  local function start_server(listen)
    serve = vim.fn.jobstart({ bin, 'serve', '--listen', listen, '--model', model, '--tokens', tokens,
      '--tls-cert', cert, '--tls-key', key, '--max-connections-per-user', '1', '--log', log })
    H.ok(serve > 0, 'server started')
  end

  local ok, err = pcall(function()
    start_server('127.0.0.1:0')
    local port = H.wait_for(function()
      return log_text():match('listening on 127%.0%.0%.1:(%d+)')
    end, 'the server to listen', 30000)

    -- A token file that others may read: refused, nothing sent.
    local token_file = dir .. '/token'
    vim.fn.writefile({ token }, token_file)
    vim.loop.fs_chmod(token_file, tonumber('644', 8))
    local opts = { address = 'tls://127.0.0.1:' .. port, ca_file = cert, token_file = token_file,
      restart_initial_ms = 200, max_restarts = 12 }
    local mtpc = require('mtpc')
    H.ok(mtpc.setup(vim.tbl_deep_extend('force', { binary = bin, server = { model = model } }, opts)), 'setup')
    H.eq('token error', mtpc.status().server, 'status with a group/world-readable token file')
    H.ok(mtpc.status().last_error:find('chmod 600', 1, true), 'the message says what to do: ' .. mtpc.status().last_error)

    -- Another connection of alice holds her one slot: the plugin is told
    -- -32011 and tries again until the slot is free.
    holder = vim.fn.jobstart({ 'openssl', 's_client', '-quiet', '-connect', '127.0.0.1:' .. port, '-CAfile', cert })
    vim.fn.chansend(holder, frame({ jsonrpc = '2.0', id = 1, method = 'initialize',
      params = { capabilities = vim.empty_dict(), initializationOptions = { mtpc = { token = token } } } }))
    H.wait_for(function() return count(':%d+ user alice$') == 1 end, "the holder's connection", 30000)
    H.eq(0, count('refused'), 'connections refused before the plugin tried (the 644 token file sent nothing)')
    vim.loop.fs_chmod(token_file, tonumber('600', 8))
    local before = #H.messages
    vim.cmd('MtpcRestart')
    H.wait_for(function() return count('over %-%-max%-connections%-per%-user') >= 2 end,
      'two tries refused as over --max-connections-per-user', 30000)
    H.ok(mtpc.status().server ~= 'refused', 'a full server is not a refusal: ' .. mtpc.status().server)
    local full = 0
    for i = before + 1, #H.messages do
      if H.messages[i].msg:find('too many connections', 1, true) then full = full + 1 end
    end
    H.ok(full >= 1, 'a message that the server is full')
    vim.fn.jobstop(holder)
    holder = -1

    -- The slot is free: connected over TLS with the token, completes, Tab accepts.
    local bufnr, ghost = C.start_and_wait('    ', vim.tbl_deep_extend('force', { server = { model = model } }, opts))
    H.eq(2, count(':%d+ user alice$'), 'connections of alice accepted (the holder, the plugin)')
    local line = vim.api.nvim_get_current_line()
    H.input('<Tab>')
    local want = vim.split(line .. ghost, '\n', true)
    H.eq(want, vim.list_slice(H.lines(bufnr), #C.lines, #C.lines + #want - 1), 'accepted over TLS')
    H.eq('tls 127.0.0.1:' .. port, mtpc.status().transport, 'transport')

    -- The server dies (SIGKILL) and comes back on the same port: reconnected
    -- with a message, completions again.
    before = #H.messages
    vim.loop.kill(vim.fn.jobpid(serve), 'sigkill')
    H.wait_for(function() return mtpc.status().server ~= 'running' end, 'the plugin to notice the dead server', 30000)
    start_server('127.0.0.1:' .. port)
    H.wait_for(function() return count(':%d+ user alice$') >= 3 and mtpc.status().server == 'running' end,
      'a connection to the new server', 60000)
    local said = false
    for i = before + 1, #H.messages do
      if H.messages[i].msg:find('restarting in', 1, true) then said = true end
    end
    H.ok(said, 'a message that the connection is being restored')
    vim.cmd('stopinsert')
    H.sleep(H.settle_ms)
    vim.api.nvim_win_set_cursor(0, { #H.lines(bufnr), 0 })
    local replies = mtpc.stats.replies
    H.input('o')
    H.type('pr')
    H.wait_for(function() return mtpc.stats.replies > replies end, 'a completion from the new server', 60000)

    -- A wrong token ($MTPC_TOKEN wins over the file): one message, no retries.
    vim.env.MTPC_TOKEN = 'mtpc_wrong'
    before = #H.messages
    vim.cmd('MtpcRestart')
    H.wait_for(function() return mtpc.status().server == 'refused' end, 'the refusal', 30000)
    H.eq(1, count('refused: unknown token'), 'attempts with the wrong token')
    -- A retry loop would try again after restart_initial_ms (200 ms), then 400 ms.
    H.sleep(1500)
    H.eq(1, count('refused: unknown token'), 'attempts with the wrong token, a while later')
    H.eq('refused', mtpc.status().server, 'status after the refusal')
    local errors = 0
    for i = before + 1, #H.messages do
      if H.messages[i].msg:find('refused the connection', 1, true) then errors = errors + 1 end
    end
    H.eq(1, errors, 'messages about the refusal')
    H.ok(mtpc.status().last_error:find('refused the connection', 1, true), 'last_error: ' .. mtpc.status().last_error)
    H.ok(not log_text():find(token, 1, true), 'the token is not in the server log')
    vim.env.MTPC_TOKEN = nil
  end)
  if holder > 0 then vim.fn.jobstop(holder) end
  vim.fn.jobstop(serve)
  local text = log_text()
  vim.fn.delete(dir, 'rf')
  if not ok then
    error(tostring(err) .. '\nserver log:\n' .. text, 0)
  end
end)
