-- A server binary that does not exist: one clear message, no retries, and
-- typing works as without the plugin.
local H = require('harness')

H.run('binary_missing', function()
  local missing = vim.fn.tempname() .. '/no-such-mtpc'
  H.ok(require('mtpc').setup({ binary = missing, debounce_ms = 10 }), 'setup')
  local bufnr = H.edit('sample.py', { '' })
  H.input('idef f(x):<CR>return x')
  H.sleep(300)
  H.eq({ 'def f(x):', 'return x' }, H.lines(bufnr), 'buffer as typed')
  H.eq(nil, H.ghost(bufnr), 'no ghost text')
  H.eq(1, #H.messages, 'exactly one message')
  H.ok(H.messages[1].msg:find(missing, 1, true) and H.messages[1].msg:find('not found'), 'message names the binary')
  H.eq(vim.log.levels.ERROR, H.messages[1].level, 'shown as an error')
  local st = require('mtpc').status()
  H.eq('binary missing', st.server, 'status')
  vim.cmd('MtpcStatus')
  H.eq('', vim.v.errmsg, 'no Vim error')
end)
