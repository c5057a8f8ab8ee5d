-- Every account's id (the harness writes them from the database after seeding), each request
-- one drawn uniformly: reads spread over the whole table, not a hot set.
local ids = {}
for line in io.lines(IDS_FILE) do
  ids[#ids + 1] = line
end
request = function()
  return wrk.format("GET", "/api/v1/users/" .. ids[math.random(#ids)], auth)
end
