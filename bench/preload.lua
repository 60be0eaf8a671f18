-- preload.lua: wrk script of bench/scale.sh's backlogs: bench/event.lua's
-- events (same bodies, ids and BENCH line), each wrk thread stopping once
-- LIMIT of its requests were accepted (202), so that a backlog has the size
-- asked for, give or take the requests in flight (scale.sh counts it from
-- the ingress's eventgateway_events_received_total, not from wrk, and stops
-- wrk, which would otherwise wait for the end of -d).
--
-- Arguments (after `--`): EVENT_TYPE DATA_BYTES RUN_TAG LIMIT (per thread; 0: none)

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "event.lua")

local event_init = init
local limit, accepted = 0, 0

function init(args)
  event_init(args)
  limit = tonumber(args[4] or "0") or 0
end

function response(status, headers, body)
  if status == 202 then accepted = accepted + 1 end
  if limit > 0 and accepted >= limit then wrk.thread:stop() end
end
