-- What the accept tests share: a Python file in the style of the tiny
-- model's corpus, insert mode at its end, the first suggestion.
local H = require('harness')
local C = {}

C.lines = { 'def greet(name):', '    print("hello", name)', '' }

-- `mtpc serve --listen 127.0.0.1:0 --log LOG` plus `flags`, for the tests
-- that read what reached the server from its log. Returns a table: job,
-- dir (a temporary folder holding the log), text() (the log so far),
-- count(pattern) (its lines matching), port() (waits for the listening
-- port) and stop() (stops the server, removes dir, returns the last text).
function C.serve_with_log(bin, model, flags)
  local s = { dir = vim.fn.tempname() }
  vim.fn.mkdir(s.dir, 'p')
  local log = s.dir .. '/serve.log'
  local function lines() return vim.fn.filereadable(log) == 1 and vim.fn.readfile(log) or {} end
  function s.text() return table.concat(lines(), '\n') end
  function s.count(pattern)
    local n = 0
    for _, line in ipairs(lines()) do
      if line:find(pattern) then n = n + 1 end
    end
    return n
  end
  function s.port()
    return H.wait_for(function() return s.text():match('listening on 127%.0%.0%.1:(%d+)') end,
      'the server to listen', 30000)
  end
  function s.stop()
    vim.fn.jobstop(s.job)
    local text = s.text()
    vim.fn.delete(s.dir, 'rf')
    return text
  end
  s.job = vim.fn.jobstart(vim.list_extend({ bin, 'serve', '--listen', '127.0.0.1:0', '--model', model, '--log', log },
    flags))
  H.ok(s.job > 0, 'server started')
  return s
end

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
