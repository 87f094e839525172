-- wrk script for POST /api/v1/credentials (scripts/bench/http_load.sh).
-- ROLEGATE_TOKEN: the bearer ID token. ROLEGATE_ROLE: role alias (default dev-readonly).
-- ROLEGATE_WRK_COUNT=1 also counts responses per status code (slower: wrk then runs Lua per
-- response), for diagnosing non-2xx answers; it is off for the measured runs.
local token = os.getenv("ROLEGATE_TOKEN")
if token == nil or token == "" then
   error("ROLEGATE_TOKEN is not set")
end
local role = os.getenv("ROLEGATE_ROLE") or "dev-readonly"
-- ROLEGATE_DELAY_MS: pause this long between a connection's requests (scripts/bench/soak.sh
-- paces the load at a fraction of measured capacity with it).
local pause = tonumber(os.getenv("ROLEGATE_DELAY_MS") or "0")
if pause > 0 then
   function delay()
      return pause
   end
end

wrk.method = "POST"
wrk.body = '{"role":"' .. role .. '"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token

if os.getenv("ROLEGATE_WRK_COUNT") == "1" then
   local threads = {}

   function setup(thread)
      table.insert(threads, thread)
   end

   function init(args)
      counts = {}
      first_error = nil
   end

   function response(status, headers, body)
      counts[status] = (counts[status] or 0) + 1
      if status >= 300 and first_error == nil then
         first_error = status .. " " .. string.sub(body or "", 1, 300)
      end
   end

   function done(summary, latency, requests)
      local total = {}
      for _, t in ipairs(threads) do
         for status, n in pairs(t:get("counts")) do
            total[status] = (total[status] or 0) + n
         end
         local e = t:get("first_error")
         if e ~= nil then
            io.write("first error response: " .. e .. "\n")
         end
      end
      for status, n in pairs(total) do
         io.write(string.format("status %d: %d\n", status, n))
      end
   end
end
