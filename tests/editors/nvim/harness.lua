-- Drives a headless Neovim like a user: keys go through nvim_input and are
-- processed by Neovim's own loop, so a test runs as a coroutine that yields
-- back to that loop while it waits. Exit status: 0 pass, 1 fail.
local H = {}

-- -u NONE skips filetype detection: turn it on so a .py buffer is opened
-- with languageId "python", as in a user's editor.
vim.cmd('filetype on')

H.timeout_ms = tonumber(os.getenv('MTPC_TEST_TIMEOUT_MS') or '') or 120000
H.poll_ms = 20
-- Time for Neovim to process typed keys before the test looks again.
H.settle_ms = 50
H.messages = {}   -- every vim.notify: { msg, level }

local function log(...)
  io.stderr:write(table.concat(vim.tbl_map(tostring, { ... }), ' ') .. '\n')
end
H.log = log

local function finish(code)
  io.stderr:flush()
  vim.schedule(function()
    vim.cmd((code == 0 and 'qall!') or ('cquit ' .. code))
  end)
end

function H.fail(msg)
  error(msg, 2)
end

function H.eq(expected, actual, what)
  if not vim.deep_equal(expected, actual) then
    error(string.format('%s: expected %s, got %s', what or 'value', vim.inspect(expected), vim.inspect(actual)), 2)
  end
end

function H.ok(cond, what)
  if not cond then
    error(what or 'assertion failed', 2)
  end
end

-- Yields to the event loop for ms milliseconds.
function H.sleep(ms)
  local co = coroutine.running()
  vim.defer_fn(function()
    coroutine.resume(co)
  end, ms)
  coroutine.yield()
end

-- Waits until pred() is truthy; fails with `what` after timeout_ms.
function H.wait_for(pred, what, timeout_ms)
  local deadline = vim.loop.now() + (timeout_ms or H.timeout_ms)
  while true do
    local v = pred()
    if v then
      return v
    end
    if vim.loop.now() > deadline then
      error('timed out waiting for ' .. what, 2)
    end
    H.sleep(H.poll_ms)
  end
end

-- Sends keys as typed and lets Neovim process them.
function H.input(keys)
  vim.api.nvim_input(keys)
  H.sleep(H.settle_ms)
end

-- Types text one key at a time, as a user would.
function H.type(text)
  for ch in text:gmatch('.') do
    vim.api.nvim_input(ch == '<' and '<lt>' or ch)
  end
  H.sleep(H.settle_ms)
end

-- The ghost text drawn in bufnr: the virtual text at the cursor and the
-- virtual lines below it, joined with newlines; nil when none.
function H.ghost(bufnr)
  local ns = require('mtpc.suggestion').ns
  local marks = vim.api.nvim_buf_get_extmarks(bufnr or 0, ns, 0, -1, { details = true })
  if #marks == 0 then
    return nil
  end
  local d = marks[1][4]
  local parts = {}
  local first = {}
  for _, chunk in ipairs(d.virt_text or {}) do
    table.insert(first, chunk[1])
  end
  table.insert(parts, table.concat(first))
  for _, vl in ipairs(d.virt_lines or {}) do
    local line = {}
    for _, chunk in ipairs(vl) do
      table.insert(line, chunk[1])
    end
    table.insert(parts, table.concat(line))
  end
  return table.concat(parts, '\n')
end

function H.lines(bufnr)
  return vim.api.nvim_buf_get_lines(bufnr or 0, 0, -1, false)
end

-- The mtpc binary under test and a checkpoint, from the environment ctest sets.
function H.binary()
  return os.getenv('MTPC_BINARY') or 'mtpc'
end

-- The binary and checkpoint the test serves with. Every build of mtpc has
-- `serve`: a missing binary or a failing `serve --help` is a broken build,
-- and fails the test.
function H.require_serve()
  local bin = H.binary()
  if vim.fn.executable(bin) ~= 1 then
    H.fail('mtpc binary not found: ' .. bin)
  end
  -- CLI11 answers `--help` after an unknown subcommand with the main help
  -- and status 0, so look for serve's own option.
  local help = vim.fn.system({ bin, 'serve', '--help' })
  if vim.v.shell_error ~= 0 or not help:find('--listen', 1, true) then
    H.fail('`' .. bin .. ' serve --help` failed (status ' .. vim.v.shell_error .. ', no --listen option): ' .. help)
  end
  local model = os.getenv('MTPC_TEST_MODEL')
  if not model or vim.fn.isdirectory(model) ~= 1 then
    H.fail('MTPC_TEST_MODEL is not a checkpoint directory: ' .. tostring(model))
  end
  return bin, model
end

-- Opens a new file named `name` in a fresh temporary directory with `lines`.
function H.edit(name, lines)
  local dir = vim.fn.tempname()
  vim.fn.mkdir(dir, 'p')
  local path = dir .. '/' .. name
  vim.fn.writefile(lines, path)
  vim.cmd('edit ' .. vim.fn.fnameescape(path))
  return vim.api.nvim_get_current_buf(), path
end

-- Runs fn as the test; records vim.notify messages into H.messages.
function H.run(name, fn)
  vim.notify = function(msg, level)
    table.insert(H.messages, { msg = msg, level = level })
    log('notify[' .. tostring(level) .. ']: ' .. msg)
  end
  local co = coroutine.create(function()
    local ok, err = xpcall(fn, debug.traceback)
    if ok then
      log('PASS: ' .. name)
      finish(0)
    else
      log('FAIL: ' .. name .. ': ' .. tostring(err))
      finish(1)
    end
  end)
  vim.defer_fn(function()
    local ok, err = coroutine.resume(co)
    if not ok then
      log('FAIL: ' .. name .. ': ' .. tostring(err))
      finish(1)
    end
  end, 0)
  -- A test that hangs fails instead of holding ctest until its timeout.
  vim.defer_fn(function()
    log('FAIL: ' .. name .. ': whole-test watchdog fired')
    finish(1)
  end, 3 * H.timeout_ms)
end

function H.count_messages(pattern, level)
  local n = 0
  for _, m in ipairs(H.messages) do
    if m.msg:find(pattern) and (level == nil or m.level == level) then
      n = n + 1
    end
  end
  return n
end

return H
