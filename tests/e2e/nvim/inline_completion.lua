-- Headless Neovim 0.7.2 as the client: starts `mtpc serve --model DIR` with
-- vim.lsp.start_client, opens a Python file, asks textDocument/inlineCompletion
-- with request_sync and exits 0 only for a non-empty item.
-- Usage: MTPC=... MTPC_MODEL=... MTPC_FILE=... nvim --headless -u NONE -l? (see the test)
local mtpc, model, file = os.getenv('MTPC'), os.getenv('MTPC_MODEL'), os.getenv('MTPC_FILE')
local timeout_ms = 60000  -- a slow shared CI machine, not a latency bound

local function finish(code, message)
  io.stderr:write('nvim client: ' .. message .. '\n')
  vim.cmd((code == 0 and 'qall!' or 'cquit! ' .. code))
end

local ok, err = pcall(function()
  local client_id = vim.lsp.start_client({
    name = 'mtpc',
    cmd = { mtpc, 'serve', '--model', model },
    root_dir = vim.fn.fnamemodify(file, ':h'),
  })
  assert(client_id, 'start_client failed')
  vim.cmd('edit ' .. vim.fn.fnameescape(file))
  local bufnr = vim.api.nvim_get_current_buf()
  vim.lsp.buf_attach_client(bufnr, client_id)
  local client = vim.lsp.get_client_by_id(client_id)
  assert(vim.wait(timeout_ms, function() return client.initialized end, 50), 'server did not initialize')
  assert(client.server_capabilities.inlineCompletionProvider, 'no inlineCompletionProvider')
  local last = vim.api.nvim_buf_line_count(bufnr) - 1
  local line = vim.api.nvim_buf_get_lines(bufnr, last, last + 1, false)[1]
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    position = { line = last, character = #line },
    context = { triggerKind = 2 },
  }
  local response, req_err = client.request_sync('textDocument/inlineCompletion', params, timeout_ms, bufnr)
  assert(response, 'no response: ' .. tostring(req_err))
  assert(not response.err, 'error reply: ' .. vim.inspect(response.err))
  local items = response.result.items or response.result
  assert(#items > 0, 'no items: ' .. vim.inspect(response.result))
  assert(type(items[1].insertText) == 'string' and #items[1].insertText > 0, 'empty insertText')
  io.stdout:write('INSERT_TEXT ' .. vim.fn.json_encode(items[1].insertText) .. '\n')
  client.stop()
end)
if ok then finish(0, 'ok') else finish(1, tostring(err)) end
