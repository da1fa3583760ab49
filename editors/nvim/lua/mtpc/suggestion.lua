-- One suggestion: read from the server's reply, drawn as ghost text with
-- extmarks, accepted whole or in part. The reading functions take plain
-- tables, so tests call them without a server.
local M = {}

M.ns = vim.api.nvim_create_namespace('mtpc_ghost')

-- LSP 3.18 InlineCompletionList | InlineCompletionItem[] -> { {text, range} }.
-- insertText is a string or a StringValue ({kind = 'snippet', value}).
function M.items_from_inline(result)
  if type(result) ~= 'table' then
    return {}
  end
  local list = result.items or result
  local out = {}
  for _, item in ipairs(list) do
    local text = item.insertText
    if type(text) == 'table' then
      text = M.plain_snippet(text.value)
    end
    if type(text) == 'string' and text ~= '' then
      table.insert(out, { text = text, range = item.range })
    end
  end
  return out
end

-- textDocument/completion fallback: CompletionList | CompletionItem[].
function M.items_from_completion(result)
  if type(result) ~= 'table' then
    return {}
  end
  local list = result.items or result
  local out = {}
  for _, item in ipairs(list) do
    local text, range
    local edit = item.textEdit
    if type(edit) == 'table' then
      text = edit.newText
      range = edit.range or edit.replace
    else
      text = item.insertText or item.label
    end
    if item.insertTextFormat == 2 then
      text = M.plain_snippet(text)
    end
    if type(text) == 'string' and text ~= '' then
      table.insert(out, { text = text, range = range })
    end
  end
  return out
end

-- Snippet syntax to the text it inserts: ${1:x} -> x, $1 / ${1} -> '', \$ -> $.
function M.plain_snippet(s)
  if type(s) ~= 'string' then
    return nil
  end
  local out = s:gsub('%${%d+:([^}]*)}', '%1'):gsub('%${%d+}', ''):gsub('%$%d+', ''):gsub('\\([%$}\\])', '%1')
  return out
end

-- LSP character offset -> byte column of `line`, clamped to the line.
function M.byte_col(line, character, encoding)
  if encoding == 'utf-8' then
    return math.min(character, #line)
  end
  local ok, col = pcall(vim.str_byteindex, line, character, encoding ~= 'utf-32')
  if not ok then
    return #line
  end
  return col
end

-- Byte column -> LSP character offset.
function M.lsp_character(line, col, encoding)
  if encoding == 'utf-8' then
    return col
  end
  local ok, utf32, utf16 = pcall(vim.str_utfindex, line, col)
  if not ok then
    utf32, utf16 = vim.str_utfindex(line)
  end
  return encoding == 'utf-32' and utf32 or utf16
end

-- Builds what to draw and what to apply for `item` at the cursor (row 0-based,
-- col in bytes). `get_line(row)` returns a buffer line. Returns nil when the
-- item does not continue what is typed (then it cannot be ghost text).
function M.build(item, row, col, get_line, encoding)
  local line = get_line(row)
  local sr, sc, er, ec = row, col, row, col
  if item.range then
    sr = item.range.start.line
    er = item.range['end'].line
    sc = M.byte_col(get_line(sr) or '', item.range.start.character, encoding)
    ec = M.byte_col(get_line(er) or '', item.range['end'].character, encoding)
  end
  -- The range must start at or before the cursor on its line and end at or after it.
  if sr ~= row or sc > col or er < row or (er == row and ec < col) then
    return nil
  end
  local typed = line:sub(sc + 1, col)
  if item.text:sub(1, #typed) ~= typed then
    return nil
  end
  local ghost = item.text:sub(#typed + 1)
  if ghost == '' then
    return nil
  end
  return {
    row = row, col = col, ghost = ghost,
    -- The rest of the replaced range past the cursor.
    end_row = er, end_col = ec,
  }
end

-- How much of `ghost` one accept_word takes: a line break with the next
-- line's indent, or spaces and then one word or one run of punctuation.
function M.next_word(ghost)
  local nl = ghost:match('^\r?\n[ \t]*')
  if nl then
    return nl
  end
  return ghost:match('^[ \t]*[%w_]+') or ghost:match('^[ \t]*[^%w_%s]+') or ghost:match('^%s+') or ghost
end

-- The first line of `ghost`, with its line break.
function M.next_line(ghost)
  local nl = ghost:find('\n', 1, true)
  if nl == 1 then
    return ghost:match('^\n[ \t]*')
  end
  return nl and ghost:sub(1, nl - 1) or ghost
end

local inline_virt_text = vim.fn.has('nvim-0.10') == 1

function M.clear(bufnr)
  if vim.api.nvim_buf_is_valid(bufnr) then
    vim.api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
  end
end

-- Draws `s` (from M.build) in `bufnr`: the first line at the cursor, the
-- others as virtual lines below it.
function M.render(bufnr, s)
  M.clear(bufnr)
  local lines = vim.split(s.ghost, '\n', true)
  local line = vim.api.nvim_buf_get_lines(bufnr, s.row, s.row + 1, false)[1] or ''
  local opts = { hl_mode = 'combine', priority = 200 }
  if lines[1] ~= '' then
    opts.virt_text = { { lines[1], 'MtpcGhost' } }
    if s.col >= #line then
      opts.virt_text_pos = 'overlay'
    elseif inline_virt_text then
      opts.virt_text_pos = 'inline'
    else
      -- 0.7-0.9 cannot draw between characters: show it after the line.
      opts.virt_text_pos = 'eol'
    end
  end
  if #lines > 1 then
    opts.virt_lines = {}
    for i = 2, #lines do
      table.insert(opts.virt_lines, { { lines[i], 'MtpcGhost' } })
    end
  end
  vim.api.nvim_buf_set_extmark(bufnr, M.ns, s.row, s.col, opts)
end

-- Inserts `text` at the cursor of the current window (which shows bufnr) and
-- puts the cursor after it. With `whole`, also replaces the suggestion's
-- range past the cursor.
function M.insert(bufnr, s, text, whole)
  local er, ec = s.row, s.col
  if whole then
    er, ec = s.end_row, s.end_col
  end
  local lines = vim.split(text, '\n', true)
  vim.api.nvim_buf_set_text(bufnr, s.row, s.col, er, ec, lines)
  local row = s.row + #lines - 1
  local col = #lines == 1 and s.col + #lines[1] or #lines[#lines]
  vim.api.nvim_win_set_cursor(0, { row + 1, col })
  return row, col
end

return M
