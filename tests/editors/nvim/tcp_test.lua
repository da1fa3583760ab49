-- The plugin connects to a running `mtpc serve --listen` and accepts its
-- suggestion as over stdio.
local H = require('harness')
local C = require('common')

H.run('tcp', function()
  local bin, model = H.require_serve()
  -- A port from the dynamic range; the server says when it listens.
  math.randomseed(vim.loop.hrtime() % 1000000)
  local port = math.random(20000, 60000)
  local address = '127.0.0.1:' .. port
  local out = {}
  local job = vim.fn.jobstart({ bin, 'serve', '--listen', address }, {
    on_stderr = function(_, data)
      vim.list_extend(out, data)
    end,
  })
  H.ok(job > 0, 'server started')
  H.wait_for(function()
    local tcp = vim.loop.new_tcp()
    local connected = nil
    tcp:connect('127.0.0.1', port, function(err)
      connected = err == nil
      tcp:close()
    end)
    vim.wait(200, function()
      return connected ~= nil
    end, 10)
    return connected
  end, 'the server to listen on ' .. address, 30000)
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
