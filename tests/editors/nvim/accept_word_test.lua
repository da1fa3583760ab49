-- Accept-word inserts the suggestion's next word and keeps the rest shown;
-- accept-line then takes the rest of that line.
local H = require('harness')
local C = require('common')
local suggestion = require('mtpc.suggestion')

H.run('accept_word', function()
  local bufnr, ghost = C.start_and_wait('    ')
  local line = vim.api.nvim_get_current_line()
  local row = vim.api.nvim_win_get_cursor(0)[1]
  local word = suggestion.next_word(ghost)
  H.input('<M-Right>')
  local expected = vim.split(line .. word, '\n', true)
  H.eq(expected, vim.api.nvim_buf_get_lines(bufnr, row - 1, row - 1 + #expected, false), 'lines after accept-word')
  local rest = ghost:sub(#word + 1)
  if rest == '' then
    H.eq(nil, H.ghost(bufnr), 'nothing left to show')
    return
  end
  H.eq(rest, H.ghost(bufnr), 'the rest still shown')
  local line2 = vim.api.nvim_get_current_line()
  local row2 = vim.api.nvim_win_get_cursor(0)[1]
  local part = suggestion.next_line(rest)
  H.input('<M-C-Right>')
  local expected2 = vim.split(line2 .. part, '\n', true)
  H.eq(expected2, vim.api.nvim_buf_get_lines(bufnr, row2 - 1, row2 - 1 + #expected2, false), 'lines after accept-line')
end)
