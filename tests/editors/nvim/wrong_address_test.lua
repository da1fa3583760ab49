-- Nothing listens at the address: a few restarts with growing delays and
-- visible messages, then one message that it gave up; the editor keeps working.
local H = require('harness')

H.run('wrong_address', function()
  -- Port 1 (tcpmux) is closed on test machines; connecting fails at once.
  H.ok(require('mtpc').setup({ address = '127.0.0.1:1', restart_initial_ms = 50, max_restarts = 2 }), 'setup')
  local bufnr = H.edit('sample.py', { '' })
  H.input('ix = 1')
  H.wait_for(function()
    return require('mtpc').status().server == 'gave up'
  end, 'the plugin to give up', 20000)
  H.eq({ 'x = 1' }, H.lines(bufnr), 'buffer as typed')
  H.eq(2, H.count_messages('restarting in', vim.log.levels.WARN), 'one message per restart')
  H.eq(1, H.count_messages('MtpcRestart', vim.log.levels.ERROR), 'one message when giving up')
  H.ok(H.count_messages('127.0.0.1:1') >= 3, 'messages name the address')
  H.eq(nil, H.ghost(bufnr), 'no ghost text')
  -- Bad option values are refused with a message, not an error.
  H.eq(false, require('mtpc').setup({ address = 'localhost' }), 'address without a port refused')
  H.ok(H.count_messages("must be 'host:port'", vim.log.levels.ERROR) == 1, 'message for the bad address')
end)
