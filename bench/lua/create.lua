local n = 0
request = function()
  n = n + 1
  local u = string.format("bench%s.t%d.n%d", RUN, tid, n)
  local body = string.format('{"username":"%s","email":"%s@example.org","first_name":"Bench","last_name":"Create%d"}', u, u, n)
  local headers = { ["Authorization"] = auth["Authorization"], ["Content-Type"] = "application/json" }
  return wrk.format("POST", "/api/v1/users", headers, body)
end
