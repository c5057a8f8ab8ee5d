request = function()
  return wrk.format("GET", "/api/v1/users/" .. IDS[math.random(#IDS)], auth)
end
