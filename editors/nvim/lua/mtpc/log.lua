-- The server's window/logMessage lines, newest last, for :MtpcLog. Bounded so
-- a chatty server cannot grow the editor's memory.
local M = { lines = {}, max_lines = 500 }

function M.add(line)
  table.insert(M.lines, os.date('%H:%M:%S ') .. line)
  if #M.lines > M.max_lines then
    table.remove(M.lines, 1)
  end
end

return M
