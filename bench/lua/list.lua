local letters = "abcdefghijklmnopqrstuvwxyz"
request = function()
  local a, b = math.random(26), math.random(26)
  local q = letters:sub(a, a) .. letters:sub(b, b)
  return wrk.format("GET", "/api/v1/users?limit=50&q=" .. q, auth)
end
