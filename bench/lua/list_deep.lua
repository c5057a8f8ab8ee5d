-- Every connection follows a cursor chain 200 pages deep, then starts again from page one.
-- wrk does not say which connection a response belongs to, so a chain's depth travels in the
-- X-Request-Id header (Roster echoes it): each response queues its chain's next page, and the
-- next request from this thread takes the oldest queued page, or a new chain when none is queued.
-- One chain per connection, as with a thread per connection, but two threads, like the other
-- scenarios: 32 wrk threads on two cores would add their own scheduling delay to the latencies.
local pending = {}
request = function()
  local path, depth = "/api/v1/users?limit=50", 0
  local next_page = table.remove(pending, 1)
  if next_page then
    path = path .. "&cursor=" .. next_page.cursor
    depth = next_page.depth
  end
  local headers = { ["Authorization"] = auth["Authorization"], ["X-Request-Id"] = "deep-" .. depth }
  return wrk.format("GET", path, headers)
end
response = function(status, headers, body)
  local depth = tonumber((headers["X-Request-Id"] or headers["x-request-id"] or ""):match("^deep%-(%d+)$"))
  -- `next_cursor` follows the items: look in the page's tail first (a pattern match over the
  -- whole ~27 KB page cost wrk a sixth of the machine's CPU, taken from the server measured).
  local cursor = body:sub(-400):match('"next_cursor":"([^"]+)"') or body:match('"next_cursor":"([^"]+)"')
  if depth and cursor and depth + 1 < 200 then
    table.insert(pending, { cursor = cursor, depth = depth + 1 })
  end
end
