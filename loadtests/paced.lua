-- report.lua's summary, with each connection pausing WRK_DELAY_MS between its requests: a fixed
-- number of clients refreshing at a steady pace (dashboards), not a tight loop.
dofile("loadtests/report.lua")
local pause = tonumber(os.getenv("WRK_DELAY_MS") or "0")
function delay()
  return pause
end
