-- A reply for a buffer that changed while the server worked is dropped
-- (changedtick differs); the same request without a change is shown.
local H = require('harness')
local C = require('common')

H.run('stale_reply', function()
  local bin, model = H.require_serve()
  local mtpc = require('mtpc')
  H.ok(mtpc.setup({ binary = bin, auto_trigger = false, server = { model = model, maxLines = 4, deadlineMs = 10000 } }), 'setup')
  local bufnr = H.edit('sample.py', C.lines)
  vim.api.nvim_win_set_cursor(0, { #C.lines, 0 })
  H.wait_for(function()
    return mtpc.status().server == 'running'
  end, 'the server to initialize')
  H.input('A    ')
  -- Control: without a change the reply is drawn. A model this small may
  -- propose nothing at one position: type on until it proposes something.
  local ghost
  for _, key in ipairs({ '', 'p', 'r', 'i', 'n', 't', '(' }) do
    H.type(key)
    local before = mtpc.stats.replies
    mtpc.request(1)
    H.wait_for(function()
      return mtpc.stats.replies > before
    end, 'a reply')
    ghost = H.ghost(bufnr)
    if ghost then
      break
    end
  end
  H.ok(ghost, 'ghost text for an unchanged buffer')
  mtpc.dismiss()
  -- Now change the buffer (another line, so the cursor stays) before the reply comes.
  mtpc.request(1)
  H.ok(mtpc.busy(), 'request out')
  vim.api.nvim_buf_set_lines(bufnr, 0, 1, false, { 'def greet(name, greeting):' })
  local row = vim.api.nvim_win_get_cursor(0)[1]
  -- The server may answer with items or with ContentModified: either way
  -- nothing is drawn.
  H.wait_for(function()
    return not mtpc.busy()
  end, 'the answer to the stale request')
  H.eq(nil, H.ghost(bufnr), 'no ghost text from a stale reply')
  H.eq(row, vim.api.nvim_win_get_cursor(0)[1], 'cursor untouched')
end)
