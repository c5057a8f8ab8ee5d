-- One connection per thread (-t = -c): each follows its own cursor chain 200 pages deep.
local cursor, depth = nil, 0
request = function()
  local path = "/api/v1/users?limit=50"
  if cursor then path = path .. "&cursor=" .. cursor end
  return wrk.format("GET", path, auth)
end
response = function(status, headers, body)
  local next_cursor = body:match('"next_cursor":"([^"]+)"')
  depth = depth + 1
  if next_cursor and depth < 200 then cursor = next_cursor else cursor, depth = nil, 0 end
end
