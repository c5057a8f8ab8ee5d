-- A page of the accounts of one instance or one group (drawn at random), half the time with a
-- search of two random letters, as `list` makes.
local letters = "abcdefghijklmnopqrstuvwxyz"
request = function()
  local path
  if math.random(2) == 1 then
    path = "/api/v1/users?limit=50&instance=" .. INSTANCES[math.random(#INSTANCES)]
  else
    path = "/api/v1/users?limit=50&group=" .. GROUPS[math.random(#GROUPS)]
  end
  if math.random(2) == 1 then
    local a, b = math.random(26), math.random(26)
    path = path .. "&q=" .. letters:sub(a, a) .. letters:sub(b, b)
  end
  return wrk.format("GET", path, auth)
end
