-- wrk script for TechEmpower's pipelined plaintext test: every write carries `depth` copies of
-- the request (default 16, the TechEmpower depth), and wrk counts each response separately.
-- Usage: wrk ... -s pipeline.lua http://127.0.0.1:PORT/plaintext -- 16
init = function(args)
  local depth = tonumber(args[1]) or 16
  local requests = {}
  for i = 1, depth do
    requests[i] = wrk.format()
  end
  batch = table.concat(requests)
end

request = function()
  return batch
end
