"""The Lua scripts of the Redis store: every multi-key write as one atomic script.

Kept apart from :mod:`gatepass.stores.redis` (the behaviour, and the only module that
imports the driver). Numbers reach Redis as strings formatted by Python (exact) or as
Lua numbers passed straight to ``redis.call`` (formatted exactly by Redis); never through
Lua's ``..``.
"""

from __future__ import annotations

from gatepass.stores.base import PURGE_MARGIN

PRELUDE = f"""
local MARGIN = {PURGE_MARGIN}
local MAX_TTL = 315360000
local function ttl_for(deadline, now)
  local t = math.ceil(deadline + MARGIN - now)
  if t ~= t or t > MAX_TTL then t = MAX_TTL end
  if t < 1 then t = 1 end
  return t
end
local function as_map(flat)
  local m = {{}}
  for i = 1, #flat, 2 do m[flat[i]] = flat[i + 1] end
  return m
end
local function hmget_map(key, ...)
  local names = {{...}}
  local values = redis.call('HMGET', key, ...)
  local m = {{}}
  for i, name in ipairs(names) do m[name] = values[i] end
  return m
end
local function index_put(key, score, member, now, cutoff)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', cutoff)
  redis.call('ZADD', key, score, member)
  local top = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if top[2] then redis.call('EXPIRE', key, ttl_for(tonumber(top[2]), now)) end
end
local function session_deadline(m)
  local idle = tonumber(m.last_seen_at) + tonumber(m.idle_ttl)
  local absolute = tonumber(m.expires_at)
  if idle < absolute then return idle end
  return absolute
end
local function drop_session(P, id)
  local key = P .. 'sess:' .. id
  local flat = redis.call('HGETALL', key)
  redis.call('ZREM', P .. 'sessions', id)
  if #flat == 0 then return false end
  local m = as_map(flat)
  redis.call('DEL', key)
  local sid_key = P .. 'sid:' .. m.sid
  if redis.call('GET', sid_key) == id then redis.call('DEL', sid_key) end
  redis.call('ZREM', P .. 'usess:' .. m.user_id, id)
  return flat
end
"""

SCRIPTS: dict[str, str] = {
    # KEYS user, email, users | ARGV id, email, password_hash, created_at, disabled
    "create_user": """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if not redis.call('SET', KEYS[2], ARGV[1], 'NX') then return 0 end
redis.call('HSET', KEYS[1], 'email', ARGV[2], 'password_hash', ARGV[3],
  'created_at', ARGV[4], 'disabled', ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
return 1""",
    # KEYS user | ARGV password_hash
    "set_password": """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'password_hash', ARGV[1])
return 1""",
    # KEYS user | ARGV "1" or "0"
    "set_disabled": """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'disabled', ARGV[1])
return 1""",
    # KEYS pointer | ARGV record-key prefix -> {id, flat record} or nil
    "deref": """
local id = redis.call('GET', KEYS[1])
if not id then return false end
local flat = redis.call('HGETALL', ARGV[1] .. id)
if #flat == 0 then return false end
return {id, flat}""",
    # KEYS users | ARGV P, start, stop
    "list_users": """
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], ARGV[2], ARGV[3])) do
  local flat = redis.call('HGETALL', ARGV[1] .. 'user:' .. id)
  if #flat > 0 then table.insert(out, {id, flat}) end
end
return out""",
    # KEYS sess, sid, usess, sessions | ARGV id_hash, now, deadline, cutoff, fields...
    "create_session": """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local now = tonumber(ARGV[2])
local ttl = ttl_for(tonumber(ARGV[3]), now)
if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'EX', ttl) then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('EXPIRE', KEYS[1], ttl)
index_put(KEYS[3], ARGV[3], ARGV[1], now, ARGV[4])
index_put(KEYS[4], ARGV[3], ARGV[1], now, ARGV[4])
return 1""",
    # KEYS sess | ARGV P, id_hash, last_seen_at, now, cutoff
    "touch_session": """
local m = hmget_map(KEYS[1], 'sid', 'user_id', 'last_seen_at', 'expires_at', 'idle_ttl')
if not m.last_seen_at or tonumber(ARGV[3]) <= tonumber(m.last_seen_at) then return 0 end
redis.call('HSET', KEYS[1], 'last_seen_at', ARGV[3])
m.last_seen_at = ARGV[3]
local P, now = ARGV[1], tonumber(ARGV[4])
local deadline = session_deadline(m)
local ttl = ttl_for(deadline, now)
redis.call('EXPIRE', KEYS[1], ttl)
local sid_key = P .. 'sid:' .. m.sid
if redis.call('GET', sid_key) == ARGV[2] then redis.call('EXPIRE', sid_key, ttl) end
index_put(P .. 'usess:' .. m.user_id, deadline, ARGV[2], now, ARGV[5])
index_put(P .. 'sessions', deadline, ARGV[2], now, ARGV[5])
return 1""",
    # KEYS old, new | ARGV P, old_hash, new_hash, now, cutoff -> 1, 0 unknown, -1 taken
    "rotate_session": """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[2] == ARGV[3] then return 1 end
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
redis.call('RENAME', KEYS[1], KEYS[2])
local P, now = ARGV[1], tonumber(ARGV[4])
local m = hmget_map(KEYS[2], 'sid', 'user_id', 'last_seen_at', 'expires_at', 'idle_ttl')
local pttl = redis.call('PTTL', KEYS[2])
if pttl < 1 then pttl = 1000 * ttl_for(session_deadline(m), now) end
redis.call('SET', P .. 'sid:' .. m.sid, ARGV[3], 'PX', pttl)
local deadline = session_deadline(m)
for _, index in ipairs({P .. 'usess:' .. m.user_id, P .. 'sessions'}) do
  redis.call('ZREM', index, ARGV[2])
  index_put(index, deadline, ARGV[3], now, ARGV[5])
end
return 1""",
    # ARGV P, id_hash -> flat record or nil
    "delete_session": "return drop_session(ARGV[1], ARGV[2])",
    # KEYS sid | ARGV P -> {id_hash, flat record} or nil
    "delete_session_by_sid": """
local id = redis.call('GET', KEYS[1])
if not id then return false end
local flat = drop_session(ARGV[1], id)
redis.call('DEL', KEYS[1])
if not flat then return false end
return {id, flat}""",
    # KEYS usess | ARGV P -> {{id_hash, flat}...}
    "delete_user_sessions": """
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local flat = drop_session(ARGV[1], id)
  if flat then table.insert(out, {id, flat}) end
end
redis.call('DEL', KEYS[1])
return out""",
    # KEYS index | ARGV record-key prefix, min score (exclusive form), cutoff
    "list_index": """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], '+inf')) do
  local flat = redis.call('HGETALL', ARGV[1] .. id)
  if #flat > 0 then table.insert(out, {id, flat}) end
end
return out""",
    # KEYS fam, spent, ufam, families | ARGV family_id, now, expires_at, cutoff, fields...
    "create_family": """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local now = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('EXPIRE', KEYS[1], ttl_for(tonumber(ARGV[3]), now))
redis.call('DEL', KEYS[2])
index_put(KEYS[3], ARGV[3], ARGV[1], now, ARGV[4])
index_put(KEYS[4], ARGV[3], ARGV[1], now, ARGV[4])
return 1""",
    # KEYS fam, spent | ARGV presented, new_hash, sealed, now, grace
    "rotate_refresh": """
local flat = redis.call('HGETALL', KEYS[1])
if #flat == 0 then return {'invalid'} end
local f = as_map(flat)
local now = tonumber(ARGV[4])
if now >= tonumber(f.expires_at) then return {'expired', flat} end
if f.revoked == '1' then return {'revoked', flat} end
if ARGV[1] == f.current_hash then
  redis.call('HSET', KEYS[1], 'previous_hash', f.current_hash, 'current_hash', ARGV[2],
    'sealed_successor', ARGV[3], 'rotated_at', ARGV[4], 'last_used_at', ARGV[4],
    'generation', tonumber(f.generation) + 1)
  redis.call('SADD', KEYS[2], ARGV[1])
  redis.call('EXPIRE', KEYS[2], ttl_for(tonumber(f.expires_at), now))
  return {'rotated', redis.call('HGETALL', KEYS[1])}
end
local grace = tonumber(ARGV[5])
if grace > 0 and f.previous_hash and f.rotated_at and ARGV[1] == f.previous_hash
    and now - tonumber(f.rotated_at) <= grace then
  return {'grace', flat}
end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'revoked', '1')
  return {'reused', redis.call('HGETALL', KEYS[1])}
end
return {'invalid'}""",
    # KEYS fam -> the record before, or nil
    "revoke_family": """
local flat = redis.call('HGETALL', KEYS[1])
if #flat == 0 then return false end
redis.call('HSET', KEYS[1], 'revoked', '1')
return flat""",
    # KEYS ufam | ARGV P, min score (exclusive form), cutoff, now
    "revoke_user_families": """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local now, out = tonumber(ARGV[4]), {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], '+inf')) do
  local key = ARGV[1] .. 'fam:' .. id
  local f = hmget_map(key, 'revoked', 'expires_at')
  if f.revoked == '0' and now < tonumber(f.expires_at) then
    redis.call('HSET', key, 'revoked', '1')
    table.insert(out, {id, redis.call('HGETALL', key)})
  end
end
return out""",
    # KEYS live, revseq, revlog, revexp, revlive
    # ARGV kind, expires_at, not_before, now, payload, channel, cutoff, live member
    "add_revocation": """
local now, keep = tonumber(ARGV[4]), tonumber(ARGV[2])
if ARGV[1] == 'user' then
  local cur = hmget_map(KEYS[1], 'not_before', 'expires_at')
  local nb, e = ARGV[3], ARGV[2]
  if cur.not_before and tonumber(cur.not_before) > tonumber(nb) then nb = cur.not_before end
  if cur.expires_at and tonumber(cur.expires_at) > keep then
    e = cur.expires_at
    keep = tonumber(e)
  end
  redis.call('HSET', KEYS[1], 'not_before', nb, 'expires_at', e)
else
  local cur, e = redis.call('GET', KEYS[1]), ARGV[2]
  if cur and tonumber(cur) > keep then
    e = cur
    keep = tonumber(cur)
  end
  redis.call('SET', KEYS[1], e)
end
redis.call('EXPIRE', KEYS[1], ttl_for(keep, now))
index_put(KEYS[5], keep, ARGV[8], now, ARGV[7])
for _, old in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', ARGV[7], 'LIMIT', 0, 100)) do
  redis.call('ZREMRANGEBYSCORE', KEYS[3], old, old)
  redis.call('ZREM', KEYS[4], old)
end
local seq = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[3], seq, seq .. ':' .. ARGV[5])
redis.call('ZADD', KEYS[4], ARGV[2], seq)
local top = redis.call('ZRANGE', KEYS[4], -1, -1, 'WITHSCORES')
if top[2] then
  local ttl = ttl_for(tonumber(top[2]), now)
  redis.call('EXPIRE', KEYS[3], ttl)
  redis.call('EXPIRE', KEYS[4], ttl)
end
redis.call('PUBLISH', ARGV[6], seq)
return seq""",
    # KEYS key, keys, keys:seq | ARGV kid, alg, jwk, created_at, status
    "add_key": """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local seq = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[1], 'alg', ARGV[2], 'private_jwk', ARGV[3],
  'created_at', ARGV[4], 'status', ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[4], string.format('%020d', seq) .. ':' .. ARGV[1])
return 1""",
    # KEYS key | ARGV status
    "set_key_status": """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1])
return 1""",
    # KEYS key, keys | ARGV P, kid
    "activate_key": """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local kid = string.sub(member, 22)
  local key = ARGV[1] .. 'key:' .. kid
  if kid ~= ARGV[2] and redis.call('HGET', key, 'status') == 'active' then
    redis.call('HSET', key, 'status', 'verify')
  end
end
redis.call('HSET', KEYS[1], 'status', 'active')
return 1""",
    # KEYS keys | ARGV P -> {{kid, flat}...} oldest first
    "list_keys": """
local out = {}
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local kid = string.sub(member, 22)
  local flat = redis.call('HGETALL', ARGV[1] .. 'key:' .. kid)
  if #flat > 0 then table.insert(out, {kid, flat}) end
end
return out""",
    # KEYS thr, thr_idx | ARGV P, key, now, drop_upto, count_from, member, ttl, sweep_cutoff
    "hit": """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[4])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[6])
local ttl = tonumber(ARGV[7])
redis.call('EXPIRE', KEYS[1], ttl)
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
redis.call('ZADD', KEYS[2], oldest[2], ARGV[2])
for _, k in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[8], 'LIMIT', 0, 10)) do
  if redis.call('EXISTS', ARGV[1] .. 'thr:' .. k) == 0 then redis.call('ZREM', KEYS[2], k) end
end
if redis.call('TTL', KEYS[2]) < ttl + MARGIN then
  redis.call('EXPIRE', KEYS[2], ttl + MARGIN)
end
return redis.call('ZCOUNT', KEYS[1], ARGV[5], ARGV[3])""",
    # KEYS audit, audit:seq[, audit:user:x] | ARGV created_at, payload, cap, user cap
    "append_audit": """
local id = redis.call('INCR', KEYS[2])
local member = string.format('%020d', id) .. ':' .. ARGV[2]
redis.call('ZADD', KEYS[1], ARGV[1], member)
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -1 - tonumber(ARGV[3]))
if KEYS[3] then
  redis.call('ZADD', KEYS[3], ARGV[1], member)
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -1 - tonumber(ARGV[4]))
end
return id""",
    # KEYS sessions | ARGV P, cutoff (exclusive form), batch -> {removed, seen}
    "purge_sessions": """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local removed = 0
for _, id in ipairs(ids) do
  if drop_session(ARGV[1], id) then removed = removed + 1 end
end
return {removed, #ids}""",
    # KEYS families | ARGV P, cutoff (exclusive form), batch -> {removed, seen}
    "purge_families": """
local P = ARGV[1]
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local removed = 0
for _, id in ipairs(ids) do
  local key = P .. 'fam:' .. id
  local user_id = redis.call('HGET', key, 'user_id')
  if user_id then redis.call('ZREM', P .. 'ufam:' .. user_id, id) end
  removed = removed + redis.call('DEL', key)
  redis.call('DEL', P .. 'spent:' .. id)
  redis.call('ZREM', KEYS[1], id)
end
return {removed, #ids}""",
    # KEYS revlog, revexp, revlive | ARGV P, cutoff (exclusive form), batch
    "purge_revocations": """
local batch = tonumber(ARGV[3])
local seqs = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2], 'LIMIT', 0, batch)
local removed = 0
for _, seq in ipairs(seqs) do
  removed = removed + redis.call('ZREMRANGEBYSCORE', KEYS[1], seq, seq)
  redis.call('ZREM', KEYS[2], seq)
end
local live = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[2], 'LIMIT', 0, batch)
for _, member in ipairs(live) do
  redis.call('DEL', ARGV[1] .. 'rev:' .. member)
  redis.call('ZREM', KEYS[3], member)
end
return {removed, math.max(#seqs, #live)}""",
    # KEYS thr_idx | ARGV P, cutoff (inclusive), batch
    "purge_throttle": """
local ks = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local removed = 0
for _, k in ipairs(ks) do
  local key = ARGV[1] .. 'thr:' .. k
  removed = removed + redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[2])
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if oldest[2] then
    redis.call('ZADD', KEYS[1], oldest[2], k)
  else
    redis.call('ZREM', KEYS[1], k)
  end
end
return {removed, #ks}""",
}
