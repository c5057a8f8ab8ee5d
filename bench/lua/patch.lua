-- One connection per thread (-t = -c): each owns one account and sends If-Match with the ETag
-- of its last response, so every PATCH is a real conditional write.
local version = 1
request = function()
  local headers = {
    ["Authorization"] = auth["Authorization"], ["Content-Type"] = "application/json", ["If-Match"] = '"' .. version .. '"',
  }
  local body = string.format('{"location":"Site %d"}', math.random(1000000))
  return wrk.format("PATCH", "/api/v1/users/" .. PATCH_IDS[tid], headers, body)
end
response = function(status, headers, body)
  local etag = headers["etag"] or headers["ETag"]
  if etag then version = tonumber(etag:match("%d+")) end
end
