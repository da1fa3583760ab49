-- A team server: `mtpc serve --listen` behind ../team_proxy.cjs (TLS with a
-- certificate made here by openssl, a token check on initialize; it stands
-- in for the server's own --tokens/--tls-cert). The plugin connects with
-- address = 'tls://...', ca_file and the token from token_file; a token file
-- others may read is refused before connecting; a dropped connection is
-- reconnected; a wrong token ($MTPC_TOKEN) gives one message, no retries.
local H = require('harness')
local C = require('common')

local here = vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h')

H.run('team', function()
  local bin, model = H.require_serve()
  local node = vim.fn.exepath('node')
  H.ok(node ~= '', 'node is needed for the TLS/token proxy (scripts/setup installs it)')
  H.ok(vim.fn.executable('openssl') == 1, 'openssl is needed (scripts/setup installs it)')
  local dir = vim.fn.tempname()
  vim.fn.mkdir(dir, 'p')
  local cert, key = dir .. '/cert.pem', dir .. '/key.pem'
  vim.fn.system({ 'openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert,
    '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1' })
  H.eq(0, vim.v.shell_error, 'openssl req')

  local serve_err = {}
  local serve = vim.fn.jobstart({ bin, 'serve', '--listen', '127.0.0.1:0', '--model', model }, {
    on_stderr = function(_, data) vim.list_extend(serve_err, data) end,
  })
  local events = {}
  local proxy = -1
  local ok, err = pcall(function()
    local upstream = H.wait_for(function()
      return table.concat(serve_err, '\n'):match('listening on [^\n]*:(%d+)')
    end, 'the server to listen', 30000)
    proxy = vim.fn.jobstart({ node, here .. '/../team_proxy.cjs', '--upstream', upstream, '--token', 'team-secret',
      '--cert', cert, '--key', key }, { on_stdout = function(_, data) vim.list_extend(events, data) end })
    local function count(word)
      local n = 0
      for _, l in ipairs(events) do
        if vim.startswith(l, word) then n = n + 1 end
      end
      return n
    end
    local port = H.wait_for(function()
      return table.concat(events, '\n'):match('listening (%d+)')
    end, 'the proxy to listen', 30000)

    -- A token file that others may read: refused, nothing sent.
    local token_file = dir .. '/token'
    vim.fn.writefile({ 'team-secret' }, token_file)
    vim.loop.fs_chmod(token_file, tonumber('644', 8))
    local opts = { address = 'tls://127.0.0.1:' .. port, ca_file = cert, token_file = token_file }
    local mtpc = require('mtpc')
    H.ok(mtpc.setup(vim.tbl_deep_extend('force', { binary = bin, server = { model = model } }, opts)), 'setup')
    H.eq('token error', mtpc.status().server, 'status with a group/world-readable token file')
    H.ok(mtpc.status().last_error:find('chmod 600', 1, true), 'the message says what to do: ' .. mtpc.status().last_error)
    H.sleep(500)
    H.eq(0, count('accepted') + count('refused'), 'connections to the proxy with a refused token file')

    -- chmod 600: connects over TLS with the token, completes, Tab accepts.
    vim.loop.fs_chmod(token_file, tonumber('600', 8))
    vim.cmd('MtpcRestart')
    local bufnr, ghost = C.start_and_wait('    ', vim.tbl_deep_extend('force', { server = { model = model } }, opts))
    H.eq(1, count('accepted'), 'connections accepted by the proxy')
    local line = vim.api.nvim_get_current_line()
    H.input('<Tab>')
    local want = vim.split(line .. ghost, '\n', true)
    H.eq(want, vim.list_slice(H.lines(bufnr), #C.lines, #C.lines + #want - 1), 'accepted over TLS')
    H.eq('tls 127.0.0.1:' .. port, mtpc.status().transport, 'transport')

    -- The connection drops: reconnected with a message, completions again.
    local before = #H.messages
    vim.fn.chansend(proxy, 'drop\n')
    H.wait_for(function() return count('accepted') >= 2 and mtpc.status().server == 'running' end,
      'a second connection', 60000)
    local said = false
    for i = before + 1, #H.messages do
      if H.messages[i].msg:find('restarting in', 1, true) then said = true end
    end
    H.ok(said, 'a message that the connection is being restored')

    -- A wrong token ($MTPC_TOKEN wins over the file): one message, no retries.
    vim.env.MTPC_TOKEN = 'wrong-token'
    before = #H.messages
    vim.cmd('MtpcRestart')
    H.wait_for(function() return mtpc.status().server == 'refused' end, 'the refusal', 30000)
    H.sleep(4000)
    H.eq(1, count('refused'), 'attempts with the wrong token')
    H.eq('refused', mtpc.status().server, 'status after the refusal')
    local errors = 0
    for i = before + 1, #H.messages do
      if H.messages[i].msg:find('refused the connection', 1, true) then errors = errors + 1 end
    end
    H.eq(1, errors, 'messages about the refusal')
    H.ok(mtpc.status().last_error:find('refused the connection', 1, true), 'last_error: ' .. mtpc.status().last_error)
    vim.env.MTPC_TOKEN = nil
  end)
  vim.fn.jobstop(proxy)
  vim.fn.jobstop(serve)
  vim.fn.delete(dir, 'rf')
  if not ok then
    error(tostring(err) .. '\nserver stderr:\n' .. table.concat(serve_err, '\n') .. '\nproxy:\n' ..
      table.concat(events, '\n'), 0)
  end
end)
