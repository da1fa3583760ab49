-- The dismiss key removes the ghost text and leaves the buffer as typed;
-- leaving insert mode clears a suggestion too.
local H = require('harness')
local C = require('common')

H.run('dismiss', function()
  local bufnr = C.start_and_wait('    ')
  local before = H.lines(bufnr)
  H.input('<C-]>')
  H.eq(nil, H.ghost(bufnr), 'ghost text after dismiss')
  H.eq(before, H.lines(bufnr), 'buffer after dismiss')
  H.eq('i', vim.api.nvim_get_mode().mode, 'still in insert mode')
  -- Ask again (the next key), then leave insert mode.
  H.input('<M-]>')
  H.wait_for(function()
    return H.ghost(bufnr)
  end, 'ghost text after the next key')
  H.input('<Esc>')
  H.eq(nil, H.ghost(bufnr), 'ghost text after <Esc>')
  H.eq(before, H.lines(bufnr), 'buffer after <Esc>')
end)
