-- GCRA over several buckets at once, atomically: the request is allowed only if every
-- bucket (client address, cart, user) has room, and only then are they all charged.
-- KEYS: the buckets. ARGV[2i-1], ARGV[2i]: emission interval (microseconds) and burst
-- of KEYS[i] (the address ceiling and the group quotas differ).
-- Returns 0 when allowed, else the microseconds until it would be.
-- Redis's own clock is used, so every API instance agrees on "now".
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local wait = 0
local tats = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local capacity = interval * tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key)) or now
  if tat < now then tat = now end
  local new_tat = tat + interval
  local over = new_tat - now - capacity
  if over > wait then wait = over end
  tats[i] = new_tat
end
if wait > 0 then return math.ceil(wait) end
for i, key in ipairs(KEYS) do
  -- %.0f: Lua's default number formatting would round microsecond timestamps
  redis.call('SET', key, string.format('%.0f', tats[i]),
             'PX', string.format('%.0f', math.ceil((tats[i] - now) / 1000) + 1))
end
return 0
