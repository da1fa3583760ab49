-- A full server over plain TCP (--max-connections 1, another client holds
-- the one connection): the server sends an error with id null (-32011) and
-- closes. The plugin says so and tries again with the back-off instead of
-- taking it for a refused token; once the other client leaves, it connects.
local H = require('harness')
local C = require('common')

H.run('full', function()
  local bin, model = H.require_serve()
  local server = C.serve_with_log(bin, model, { '--max-connections', '1' })
  local count = server.count
  local holder = vim.loop.new_tcp()
  local ok, err = pcall(function()
    local port = server.port()
    holder:connect('127.0.0.1', tonumber(port), function() end)
    H.wait_for(function() return count(' connected') == 1 end, "the holder's connection", 30000)

    local mtpc = require('mtpc')
    H.ok(mtpc.setup({ binary = bin, address = '127.0.0.1:' .. port, debounce_ms = 30, restart_initial_ms = 200,
      max_restarts = 12, server = { model = model, maxLines = 4, deadlineMs = 10000 } }), 'setup')
    H.wait_for(function() return count('refused: over %-%-max%-connections') >= 2 end, 'two tries refused as full', 30000)
    H.ok(mtpc.status().server ~= 'refused', 'a full server is not a refusal: ' .. mtpc.status().server)
    H.ok(H.count_messages('too many connections') >= 1, 'a message that the server is full')
    H.eq(0, H.count_messages('refused the connection'), 'messages about a refusal')
    holder:close()

    local bufnr, ghost = C.start_and_wait('    ', { address = '127.0.0.1:' .. port, restart_initial_ms = 200,
      max_restarts = 12 })
    H.ok(bufnr and ghost ~= '', 'ghost text once the server has room')
  end)
  if not holder:is_closing() then holder:close() end
  local text = server.stop()
  if not ok then
    error(tostring(err) .. '\nserver log:\n' .. text, 0)
  end
end)
