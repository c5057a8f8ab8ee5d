-- Sign-ins of the admin with the right password: each spends one argon2id hash and starts a
-- session. LOGIN_BODY is set by the harness.
local headers = { ["Content-Type"] = "application/json" }
request = function()
  return wrk.format("POST", "/api/v1/auth/login", headers, LOGIN_BODY)
end
