-- :MtpcToggle {filetype} turns completions off for one file type, :MtpcToggle
-- everywhere; :MtpcStats shows the server's mtpc/stats. While off, typing
-- sends the server nothing (its own request counter says so).
local H = require('harness')
local C = require('common')

H.run('toggle_stats', function()
  local mtpc = require('mtpc')
  local bufnr = C.start_and_wait('    ')

  -- :MtpcStats: one message with the server's counters.
  local function server_requests()
    local got
    H.ok(mtpc.server_stats(function(err, result) got = err and { err = err } or result end), 'stats request sent')
    got = H.wait_for(function() return got end, 'the mtpc/stats reply')
    H.eq(nil, got.err, 'mtpc/stats error')
    return got.requests
  end
  local before = #H.messages
  vim.cmd('MtpcStats')
  local shown = H.wait_for(function()
    for i = before + 1, #H.messages do
      if H.messages[i].msg:find('server statistics', 1, true) then return H.messages[i].msg end
    end
  end, 'the :MtpcStats message')
  local n = tonumber(shown:match('\n  requests: (%d+)'))
  H.ok(n and n >= 1, 'requests in :MtpcStats: ' .. shown)
  H.ok(shown:find('\n  answered: %d+'), 'answered in :MtpcStats: ' .. shown)
  H.ok(shown:find('this editor: %d+ shown'), "the editor's own counts: " .. shown)

  -- Off for python: the ghost text goes, typing asks nothing.
  vim.cmd('MtpcToggle python')
  H.eq(nil, H.ghost(bufnr), 'ghost text after :MtpcToggle python')
  H.eq(false, mtpc.status().enabled_here, 'enabled here (python off)')
  H.eq(true, mtpc.status().enabled, 'enabled globally')
  local asked = server_requests()
  H.type('x')
  -- Longer than the debounce: a request would have gone out by then.
  H.sleep(300)
  H.eq(nil, H.ghost(bufnr), 'ghost text while python is off')
  H.eq(asked, server_requests(), 'requests the server got while python was off')

  -- On again: the next key asks and shows.
  vim.cmd('MtpcToggle python')
  H.eq(true, mtpc.status().enabled_here, 'enabled here (python on)')
  H.input('<M-]>')
  H.wait_for(function() return H.ghost(bufnr) end, 'ghost text with python on again')

  -- Off everywhere.
  vim.cmd('MtpcToggle')
  H.eq(nil, H.ghost(bufnr), 'ghost text after :MtpcToggle')
  H.eq(false, mtpc.status().enabled, 'enabled after :MtpcToggle')
  asked = server_requests()
  H.type('y')
  H.sleep(300)
  H.eq(nil, H.ghost(bufnr), 'ghost text while off')
  H.eq(asked, server_requests(), 'requests the server got while off')
  vim.cmd('MtpcToggle')
  H.eq(true, mtpc.status().enabled, 'enabled after :MtpcToggle again')
end)
