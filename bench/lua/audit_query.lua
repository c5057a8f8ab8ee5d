-- A page of the audit trail (10,000,000 events over the last year, see `seed_audit_events`),
-- filtered one of three ways at random: by an actor (one of 1,000), by a target (one of
-- 1,000,000), or by an hour's window somewhere in the year.
request = function()
  local path
  local pick = math.random(3)
  if pick == 1 then
    path = string.format("/api/v1/audit-events?limit=50&actor=00000000-0000-7000-8000-%012x", math.random(0, 999))
  elseif pick == 2 then
    path = string.format("/api/v1/audit-events?limit=50&target=00000000-0000-7000-8000-%012x", math.random(0, 999999))
  else
    local from = os.time() - math.random(0, 364 * 86400)
    path = "/api/v1/audit-events?limit=50&from=" .. os.date("!%Y-%m-%dT%H:%M:%SZ", from)
      .. "&to=" .. os.date("!%Y-%m-%dT%H:%M:%SZ", from + 3600)
  end
  return wrk.format("GET", path, auth)
end
