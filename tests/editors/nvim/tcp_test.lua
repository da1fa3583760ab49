-- The plugin connects to a running `mtpc serve --listen` and accepts its
-- suggestion as over stdio.
local H = require('harness')
local C = require('common')

H.run('tcp', function()
  local bin, model = H.require_serve()
  -- Port 0: the server takes a free port and logs "listening on HOST:PORT".
  local out = {}
  local job = vim.fn.jobstart({ bin, 'serve', '--listen', '127.0.0.1:0' }, {
    on_stderr = function(_, data)
      vim.list_extend(out, data)
    end,
  })
  H.ok(job > 0, 'server started')
  local port = H.wait_for(function()
    return table.concat(out, '\n'):match('listening on [^\n]*:(%d+)')
  end, 'the server to listen', 30000)
  local address = '127.0.0.1:' .. port
  local ok, err = pcall(function()
    local bufnr, ghost = C.start_and_wait('    ', { address = address, server = { model = model } })
    local line = vim.api.nvim_get_current_line()
    H.input('<Tab>')
    local want = vim.split(line .. ghost, '\n', true)
    local got = vim.list_slice(H.lines(bufnr), #C.lines, #C.lines + #want - 1)
    H.eq(want, got, 'accepted over TCP')
  end)
  vim.fn.jobstop(job)
  if not ok then
    error(tostring(err) .. '\nserver stderr:\n' .. table.concat(out, '\n'), 0)
  end
end)
