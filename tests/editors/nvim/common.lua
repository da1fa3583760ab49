-- What the accept tests share: a Python file in the style of the tiny
-- model's corpus, insert mode at its end, the first suggestion.
local H = require('harness')
local C = {}

C.lines = { 'def greet(name):', '    print("hello", name)', '' }

-- Starts the plugin against the real server (stdio unless `address`),
-- opens the file, types `typed` on its last line and waits for ghost text.
-- Returns bufnr and the ghost text.
function C.start_and_wait(typed, extra)
  local bin, model = H.require_serve()
  local opts = vim.tbl_deep_extend('force', {
    binary = bin,
    debounce_ms = 30,
    server = { model = model, maxLines = 4, deadlineMs = 10000 },
  }, extra or {})
  H.ok(require('mtpc').setup(opts), 'setup')
  local bufnr = H.edit('sample.py', C.lines)
  vim.api.nvim_win_set_cursor(0, { #C.lines, 0 })
  H.wait_for(function()
    return require('mtpc').status().server == 'running'
  end, 'the server to initialize')
  H.input('A')
  -- A model this small may propose nothing at some positions: type on
  -- until it proposes something.
  local more = { '', 'p', 'r', 'i', 'n', 't', '(' }
  local mtpc = require('mtpc')
  local ghost
  for i, key in ipairs(more) do
    local before = mtpc.stats.replies
    H.type(i == 1 and typed or key)
    ghost = H.wait_for(function()
      return H.ghost(bufnr) or (mtpc.stats.replies > before and not mtpc.busy() and 'none')
    end, 'a reply after typing')
    if ghost ~= 'none' then
      break
    end
  end
  H.ok(ghost ~= 'none' and ghost ~= '', 'ghost text shown')
  return bufnr, ghost
end

return C
