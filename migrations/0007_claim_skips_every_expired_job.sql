-- 0007: claim_next_job skips every job whose deadline has passed, not only `trade`.
--
-- 0004 skipped expired `trade` jobs only; a `close_position` job from a signal also
-- carries `expires_at` (it moves money too) and must not be handed out late. The
-- server already fails such a job at claim time; this makes the database rule the
-- single source of truth. Same signature, grants and pinned search_path as 0004.

CREATE OR REPLACE FUNCTION public.claim_next_job(p_agent_id uuid)
RETURNS SETOF public.jobs
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $fn$
DECLARE
  v_owner uuid;
BEGIN
  SELECT a.user_id INTO v_owner FROM public.mt5_agents a WHERE a.id = p_agent_id;
  IF v_owner IS NULL THEN
    RETURN;
  END IF;

  RETURN QUERY
  UPDATE public.jobs j
  SET
    status       = 'running',
    agent_id     = p_agent_id,
    claimed_at   = now(),
    heartbeat_at = now(),
    attempts     = j.attempts + 1
  WHERE j.id = (
    SELECT c.id
    FROM   public.jobs c
    WHERE  c.status  = 'pending'
      AND  c.user_id = v_owner
      AND  (c.agent_id IS NULL OR c.agent_id = p_agent_id)
      AND  (c.expires_at IS NULL OR c.expires_at > now())
    ORDER  BY c.created_at ASC, c.id ASC
    FOR UPDATE SKIP LOCKED
    LIMIT  1
  )
  RETURNING j.*;
END;
$fn$;

COMMENT ON FUNCTION public.claim_next_job(uuid)
  IS 'Atomically claims the oldest pending job of the agent''s owner that is untargeted or targeted at this agent, skipping every job whose expires_at has passed (FOR UPDATE SKIP LOCKED: never the same job twice). Sets status running, agent_id, claimed_at, heartbeat_at, attempts+1. Called by GET /agents/{id}/jobs/next.';

REVOKE ALL ON FUNCTION public.claim_next_job(uuid) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.claim_next_job(uuid) TO service_role;
