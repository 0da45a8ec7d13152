-- Agent-key authentication looks agents up by pairing_key_prefix (the first 8
-- characters of the key) on every key the server has not verified recently. Without
-- an index each lookup scanned every agent: 10,000 agents reconnecting together cost
-- 10,000 full scans of 10,000 rows. Not unique: prefixes may collide, every candidate
-- is then verified with bcrypt.
CREATE INDEX IF NOT EXISTS mt5_agents_pairing_key_prefix_idx
  ON public.mt5_agents (pairing_key_prefix);
