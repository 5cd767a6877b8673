-- wrk script of scripts/bench-checkin.sh: replays pre-signed single-use check-ins, each once.
-- REQUESTS_FILE holds one "authorization<TAB>body" line per request; thread k of THREADS takes
-- lines k, k + THREADS, ... Answers other than 200 are counted (a replay would be a 401).
local threads = {}
local created = 0

function setup(thread)
  thread:set("id", created)
  created = created + 1
  table.insert(threads, thread)
end

function init(args)
  requests = {}
  count, index, failed, exhausted = 0, 0, 0, 0
  local total = tonumber(os.getenv("THREADS"))
  local line_number = 0
  for line in io.lines(os.getenv("REQUESTS_FILE")) do
    if line_number % total == id then
      local tab = line:find("\t", 1, true)
      count = count + 1
      requests[count] = wrk.format("POST", "/device/v1/check-in",
        { ["Authorization"] = line:sub(1, tab - 1), ["Content-Type"] = "application/json" }, line:sub(tab + 1))
    end
    line_number = line_number + 1
  end
end

function request()
  index = index + 1
  if index > count then
    exhausted = 1
    index = 1
  end
  return requests[index]
end

function response(status, headers, body)
  if status ~= 200 then failed = failed + 1 end
end

function done(summary, latency, requests)
  local failures, ran_out = 0, 0
  for _, thread in ipairs(threads) do
    failures = failures + thread:get("failed")
    ran_out = ran_out + thread:get("exhausted")
  end
  io.write(string.format("answers other than 200: %d\n", failures))
  if ran_out > 0 then io.write("WARNING: the pre-signed requests ran out; later requests were replays\n") end
end
