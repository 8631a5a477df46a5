-- wrk -s unique_queries.lua <url with ?q=...> -- <tag>
-- Appends "+<tag>-<n>" to the URL's `q` value, n counting this thread's requests: every request
-- is a search the server has not seen, so a result cache answers none of them.
local counter = 0
local head, tail

function init(args)
  local tag = args[1] or "run"
  local path = wrk.path
  local q_start, q_end = path:find("[?&]q=[^&]*")
  head = path:sub(1, q_end) .. "+" .. tag .. "-"
  tail = path:sub(q_end + 1)
end

request = function()
  counter = counter + 1
  return wrk.format(nil, head .. counter .. tail)
end
