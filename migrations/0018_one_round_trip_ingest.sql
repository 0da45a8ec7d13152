-- 0018: webhook ingest in one round trip, and queue tables vacuumed sooner (issue 18).
--
--  * public.ingest_signal(...): the storing half of one webhook alert in one call (one
--    statement, one commit): the per-(strategy, dedup base) advisory lock, the
--    duplicate look-up within the key's window, then either a discarded row
--    (`duplicate`, or the reason the server's rules gave) or the pending signal row
--    already linked to its job (`tv_signals.job_id` set on insert, no follow-up
--    UPDATE; the foreign key, now DEFERRABLE, is checked at commit) and the job
--    (`jobs` insert: its trigger NOTIFYs the agent on commit), with the command in
--    words (`understood`, 0014) and, for `closealleaoff`, the strategy paused in the
--    same statement (`p_then_pause`). The job's input is
--    one jsonb parameter, so new input fields need no change here. Called by the
--    server's RLS-bypassing role only (SECURITY INVOKER: RLS is not relaxed for
--    anyone; EXECUTE revoked from PUBLIC, anon, authenticated).
--  * jobs, tv_signals: per-table autovacuum settings. Every claim and result leaves a
--    dead row version in `jobs`; `claim_next_job`'s scan walked them until the
--    default 20 % threshold triggered a vacuum.

-- Deferrable (still checked immediately unless a transaction defers it, as
-- ingest_signal does), so a signal can be inserted naming the job inserted next.
ALTER TABLE public.tv_signals ALTER CONSTRAINT tv_signals_job_id_fkey DEFERRABLE INITIALLY IMMEDIATE;

CREATE OR REPLACE FUNCTION public.ingest_signal(
  p_signal_id      uuid,
  p_strategy_id    uuid,
  p_user_id        uuid,
  p_symbol         text,
  p_action         text,
  p_price          float8,
  p_raw_payload    jsonb,
  p_dedup_base     text,
  p_dedup_legacy   text,
  p_window_secs    float8,
  p_dedup_key      text,
  p_discard        text,
  p_agent_id       uuid,
  p_job_type       text,
  p_input          jsonb,
  p_expires_secs   float8,
  p_understood     text,
  p_then_pause     boolean)
RETURNS TABLE (signal_id uuid, status text, reason text, job_id uuid, duplicate_of uuid)
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = ''
AS $fn$
DECLARE
  v_original uuid;
  v_job      uuid;
  v_id       uuid;
BEGIN
  -- Concurrent deliveries of one base are serialised (released at commit).
  PERFORM pg_advisory_xact_lock(hashtextextended('tv:' || p_strategy_id || ':' || p_dedup_base, 0));

  -- The newest accepted signal with the same base within the window; `dedup_key`
  -- = base / legacy also finds keys stored before 0012 / 0010.
  SELECT s.id INTO v_original
    FROM public.tv_signals s
   WHERE s.strategy_id = p_strategy_id
     AND (s.dedup_base = p_dedup_base
          OR s.dedup_key IN (p_dedup_base, coalesce(p_dedup_legacy, p_dedup_base)))
     AND (p_window_secs IS NULL OR s.received_at > now() - make_interval(secs => p_window_secs))
   ORDER BY s.received_at DESC
   LIMIT 1;

  IF v_original IS NOT NULL OR p_discard IS NOT NULL THEN
    INSERT INTO public.tv_signals
      (strategy_id, user_id, symbol, action, price, raw_payload, status, error_message,
       duplicate_of, resolved_at)
    VALUES (p_strategy_id, p_user_id, p_symbol, p_action, p_price, p_raw_payload, 'discarded',
            CASE WHEN v_original IS NOT NULL THEN 'duplicate: same signal as ' || v_original
                 ELSE p_discard END,
            v_original, now())
    RETURNING id INTO v_id;
    RETURN QUERY SELECT v_id, 'discarded'::text,
      CASE WHEN v_original IS NOT NULL THEN 'duplicate: same signal as ' || v_original
           ELSE p_discard END,
      NULL::uuid, v_original;
    RETURN;
  END IF;

  -- The signal row is written once, already naming its job (the foreign key is
  -- checked at commit), then the job: subscribers see the signal, then its job.
  SET CONSTRAINTS public.tv_signals_job_id_fkey DEFERRED;
  v_job := gen_random_uuid();
  INSERT INTO public.tv_signals
    (id, strategy_id, user_id, symbol, action, price, raw_payload, status, dedup_key,
     dedup_base, job_id, understood)
  VALUES (p_signal_id, p_strategy_id, p_user_id, p_symbol, p_action, p_price, p_raw_payload,
          'pending', p_dedup_key, p_dedup_base, v_job, p_understood)
  ON CONFLICT (strategy_id, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
  RETURNING id INTO v_id;

  IF v_id IS NULL THEN
    -- Only reachable when another writer bypassed the advisory lock: logged as the
    -- duplicate it is, no job.
    SELECT s.id INTO v_original
      FROM public.tv_signals s
     WHERE s.strategy_id = p_strategy_id AND s.dedup_key = p_dedup_key
     LIMIT 1;
    INSERT INTO public.tv_signals
      (strategy_id, user_id, symbol, action, price, raw_payload, status, error_message,
       duplicate_of, resolved_at)
    VALUES (p_strategy_id, p_user_id, p_symbol, p_action, p_price, p_raw_payload, 'discarded',
            'duplicate: same signal as ' || coalesce(v_original, '00000000-0000-0000-0000-000000000000'::uuid),
            v_original, now())
    RETURNING id INTO v_id;
    RETURN QUERY SELECT v_id, 'discarded'::text,
      'duplicate: same signal as ' || coalesce(v_original, '00000000-0000-0000-0000-000000000000'::uuid),
      NULL::uuid, v_original;
    RETURN;
  END IF;

  INSERT INTO public.jobs
    (id, user_id, job_type, status, agent_id, entity_type, entity_id, input_data, expires_at)
  VALUES (v_job, p_user_id, p_job_type, 'pending', p_agent_id, 'tv_signal', p_signal_id, p_input,
          now() + make_interval(secs => p_expires_secs));

  -- PineConnector `closealleaoff`: the closeall is queued and the strategy paused in
  -- the same transaction (both or neither).
  IF p_then_pause THEN
    UPDATE public.tv_strategies SET is_enabled = false
     WHERE id = p_strategy_id AND user_id = p_user_id;
  END IF;

  RETURN QUERY SELECT v_id, 'pending'::text, NULL::text, v_job, NULL::uuid;
END;
$fn$;

COMMENT ON FUNCTION public.ingest_signal(uuid, uuid, uuid, text, text, float8, jsonb, text, text, float8, text, text, uuid, text, jsonb, float8, text, boolean)
  IS 'Webhook ingest in one call: advisory lock on (strategy, dedup base), duplicate look-up within the window, then a discarded tv_signals row (duplicate or p_discard) or the pending signal linked to its job and the job (NOTIFY by its trigger). Returns (signal_id, status, reason, job_id, duplicate_of). Server role only.';

REVOKE ALL ON FUNCTION public.ingest_signal(uuid, uuid, uuid, text, text, float8, jsonb, text, text, float8, text, text, uuid, text, jsonb, float8, text, boolean)
  FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.ingest_signal(uuid, uuid, uuid, text, text, float8, jsonb, text, text, float8, text, text, uuid, text, jsonb, float8, text, boolean)
  TO service_role;

-- Queue tables: vacuum after ~2 % of the rows changed (default 20 %), so the partial
-- index on pending jobs stops pointing at just-claimed versions sooner.
ALTER TABLE public.jobs SET (
  autovacuum_vacuum_scale_factor = 0.02,
  autovacuum_vacuum_threshold = 500,
  autovacuum_analyze_scale_factor = 0.05,
  autovacuum_vacuum_cost_delay = 0
);
ALTER TABLE public.tv_signals SET (
  autovacuum_vacuum_scale_factor = 0.05,
  autovacuum_analyze_scale_factor = 0.05
);
