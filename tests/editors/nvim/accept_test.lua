-- Typing in a Python buffer shows ghost text from the real server; Tab puts
-- exactly that text into the buffer.
local H = require('harness')
local C = require('common')

H.run('accept', function()
  local bufnr, ghost = C.start_and_wait('    ')
  local line = vim.api.nvim_get_current_line()
  local expected = vim.list_slice(H.lines(bufnr), 1, #C.lines - 1)
  vim.list_extend(expected, vim.split(line .. ghost, '\n', true))
  H.input('<Tab>')
  H.eq(expected, H.lines(bufnr), 'buffer after accept')
  local last = expected[#expected]
  H.eq({ #expected, #last }, vim.api.nvim_win_get_cursor(0), 'cursor after the accepted text')
  H.eq('i', vim.api.nvim_get_mode().mode, 'still in insert mode')
  H.ok(require('mtpc').stats.accepted == 1, 'accept counted')
  H.log('accepted: ' .. vim.inspect(ghost))
end)
