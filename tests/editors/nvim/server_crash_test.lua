-- The server dies mid-session: a visible message, a restart after the
-- back-off delay, and completions again from the new process; the editor
-- keeps taking keys meanwhile.
local H = require('harness')
local C = require('common')

H.run('server_crash', function()
  local bufnr = C.start_and_wait('    ', { restart_initial_ms = 200 })
  local mtpc = require('mtpc')
  local client = vim.lsp.get_client_by_id(mtpc.server.state.client_id)
  local pid = client.rpc.pid
  H.ok(type(pid) == 'number' and pid > 0, 'server pid')
  H.input('<Esc>')
  vim.loop.kill(pid, 'sigkill')
  H.wait_for(function()
    return H.count_messages('restarting in', vim.log.levels.WARN) == 1
  end, 'the restart message')
  -- Typing while the server is down works and asks nothing of it.
  H.input('ox = 1<Esc>')
  local last = H.lines(bufnr)[#H.lines(bufnr)]
  H.ok(last:match('^%s*x = 1$'), 'typed while restarting: ' .. last)
  H.wait_for(function()
    return mtpc.status().server == 'running'
  end, 'the restarted server')
  H.ok(mtpc.server.state.client_id ~= client.id, 'a new client')
  H.ok(vim.lsp.buf_is_attached(bufnr, mtpc.server.state.client_id), 'buffer attached to the new client')
  H.input('o')
  local before = mtpc.stats.replies
  H.type('    ')
  H.wait_for(function()
    return mtpc.stats.replies > before
  end, 'a reply from the restarted server')
  H.eq(1, H.count_messages('restarting in'), 'one restart message for one crash')
end)
