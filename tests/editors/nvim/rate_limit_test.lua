-- A server that rate-limits (-32012, --requests-per-minute): one message,
-- and no request goes out until data.retryAfterMs has passed, however much
-- the user types (the server's log counts what reached it).
local H = require('harness')
local C = require('common')

H.run('rate_limit', function()
  local bin, model = H.require_serve()
  -- Two requests a minute: the third within the minute is refused with a
  -- retryAfterMs of about half a minute, longer than this test types.
  local server = C.serve_with_log(bin, model, { '--requests-per-minute', '2' })
  local count = server.count
  local ok, err = pcall(function()
    local port = server.port()
    local mtpc = require('mtpc')
    H.ok(mtpc.setup({ binary = bin, address = '127.0.0.1:' .. port, debounce_ms = 30,
      server = { model = model, maxLines = 2, deadlineMs = 10000 } }), 'setup')
    local bufnr = H.edit('sample.py', C.lines)
    vim.api.nvim_win_set_cursor(0, { #C.lines, 0 })
    H.wait_for(function() return mtpc.status().server == 'running' end, 'the server to initialize')
    H.input('A')
    for _, key in ipairs({ 'p', 'r', 'i', 'n', 't' }) do
      local replies, limited = mtpc.stats.replies, mtpc.stats.rate_limited
      H.type(key)
      H.wait_for(function()
        return not mtpc.busy() and (mtpc.stats.replies > replies or mtpc.stats.rate_limited > limited)
      end, 'an answer after typing ' .. key)
      if mtpc.stats.rate_limited > 0 then
        break
      end
    end
    H.eq(1, mtpc.stats.rate_limited, 'replies -32012')
    H.eq(1, count('rate limited'), 'requests refused by the server')
    local sent = count('<%-%- textDocument/inlineCompletion')
    H.eq(3, sent, 'requests that reached the server')
    H.ok(mtpc.status().rate_limited_for_ms > 1000, 'paused for retryAfterMs: ' .. mtpc.status().rate_limited_for_ms)
    H.eq(1, H.count_messages('rate%-limits'), 'messages about the rate limit')

    -- Typing on: each pause in typing would ask, but nothing goes out.
    for _, key in ipairs({ '(', '"', 'x' }) do
      local held = mtpc.stats.held_back
      H.type(key)
      H.wait_for(function() return mtpc.stats.held_back > held end, 'the request after typing ' .. key .. ' held back')
    end
    H.eq(sent, count('<%-%- textDocument/inlineCompletion'), 'requests that reached the server while paused')
    H.eq(1, H.count_messages('rate%-limits'), 'messages about the rate limit, after typing on')
    H.eq(nil, H.ghost(bufnr), 'no ghost text while paused')
  end)
  local text = server.stop()
  if not ok then
    error(tostring(err) .. '\nserver log:\n' .. text, 0)
  end
end)
