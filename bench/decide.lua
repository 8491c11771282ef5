-- wrk script: POST a marketing decision for a random one of 1,000,000 customers.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("GUARD_BENCH_KEY") or "")
math.randomseed(os.time())
request = function()
  local customer = "cust-" .. math.random(0, 999999)
  local body = '{"customer_id":"' .. customer .. '","channel":"email","purpose":"marketing",' ..
               '"campaign_id":"spring","product_ids":["P3"],"send_at":"2026-03-15T10:00:00Z"}'
  return wrk.format(nil, "/v1/decisions", nil, body)
end
