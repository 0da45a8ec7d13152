-- 0004 Runtime: what the server and agent need beyond the v2 spec.
--
--  * jobs: attempts / max_attempts (stale re-queue with a cap), expires_at (a trade
--    job is never executed late), heartbeat_at (agent liveness for a running job);
--  * mt5_agents: status (online|paused|offline), app_version, terminal_info;
--  * tv_signals: dedup_key, unique per strategy, so a re-sent webhook makes no
--    second signal (and no second order);
--  * claim_next_job, final version: also skips expired trade jobs, counts attempts
--    and stamps heartbeat_at;
--  * NOTIFY triggers: `companion_jobs` wakes waiting agents when a job becomes
--    pending, `companion_events` feeds the live event stream.

-- ---------------------------------------------------------------------------
-- Columns
-- ---------------------------------------------------------------------------
ALTER TABLE public.jobs
  ADD COLUMN attempts     integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  ADD COLUMN max_attempts integer     NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
  ADD COLUMN expires_at   timestamptz,
  ADD COLUMN heartbeat_at timestamptz;

COMMENT ON COLUMN public.jobs.attempts     IS 'Number of claims so far; each claim increments it (the claim''s attempt number)';
COMMENT ON COLUMN public.jobs.max_attempts IS 'Stale non-trade jobs are re-queued until attempts reaches this cap';
COMMENT ON COLUMN public.jobs.expires_at   IS 'Trade jobs: not to be executed after this instant (signal time + TTL); NULL = no deadline';
COMMENT ON COLUMN public.jobs.heartbeat_at IS 'Last agent heartbeat for this running job';

-- Finding stale claims: running jobs by claim time.
CREATE INDEX jobs_running_claimed_at_idx ON public.jobs (claimed_at) WHERE status = 'running';

ALTER TABLE public.mt5_agents
  ADD COLUMN status        text  NOT NULL DEFAULT 'offline' CHECK (status IN ('online', 'paused', 'offline')),
  ADD COLUMN app_version   text,
  ADD COLUMN terminal_info jsonb;

COMMENT ON COLUMN public.mt5_agents.status        IS 'online | paused | offline, as last reported by the agent';
COMMENT ON COLUMN public.mt5_agents.app_version   IS 'Companion version the agent last reported';
COMMENT ON COLUMN public.mt5_agents.terminal_info IS 'MT5 terminal facts the agent last reported (build, server, account, ...)';

ALTER TABLE public.tv_signals
  ADD COLUMN dedup_key text;

COMMENT ON COLUMN public.tv_signals.dedup_key IS 'Client-chosen idempotency key; at most one signal per (strategy, key)';

CREATE UNIQUE INDEX tv_signals_strategy_dedup_key_idx ON public.tv_signals (strategy_id, dedup_key)
  WHERE dedup_key IS NOT NULL;

CREATE TRIGGER tv_strategies_set_updated_at BEFORE UPDATE ON public.tv_strategies
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

-- ---------------------------------------------------------------------------
-- claim_next_job, final version
-- ---------------------------------------------------------------------------
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
      AND  (c.job_type <> 'trade' OR c.expires_at IS NULL OR c.expires_at > now())
    ORDER  BY c.created_at ASC, c.id ASC
    FOR UPDATE SKIP LOCKED
    LIMIT  1
  )
  RETURNING j.*;
END;
$fn$;

COMMENT ON FUNCTION public.claim_next_job(uuid)
  IS 'Atomically claims the oldest pending job of the agent''s owner that is untargeted or targeted at this agent, skipping expired trade jobs (FOR UPDATE SKIP LOCKED: never the same job twice). Sets status running, agent_id, claimed_at, heartbeat_at, attempts+1. Called by GET /agents/{id}/jobs/next.';

REVOKE ALL ON FUNCTION public.claim_next_job(uuid) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.claim_next_job(uuid) TO service_role;

-- ---------------------------------------------------------------------------
-- NOTIFY triggers
-- ---------------------------------------------------------------------------
CREATE FUNCTION public.notify_job_pending() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = ''
AS $fn$
BEGIN
  IF NEW.status = 'pending' AND (
       TG_OP = 'INSERT'
       OR OLD.status IS DISTINCT FROM NEW.status
       OR OLD.agent_id IS DISTINCT FROM NEW.agent_id) THEN
    PERFORM pg_notify('companion_jobs',
      json_build_object('job_id', NEW.id, 'user_id', NEW.user_id, 'agent_id', NEW.agent_id)::text);
  END IF;
  RETURN NULL;
END;
$fn$;
COMMENT ON FUNCTION public.notify_job_pending() IS 'AFTER trigger on jobs: NOTIFY companion_jobs {job_id, user_id, agent_id} when a job becomes pending';

CREATE FUNCTION public.notify_companion_event() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = ''
AS $fn$
BEGIN
  PERFORM pg_notify('companion_events',
    json_build_object('kind', TG_ARGV[0], 'id', NEW.id, 'user_id', NEW.user_id, 'op', lower(TG_OP))::text);
  RETURN NULL;
END;
$fn$;
COMMENT ON FUNCTION public.notify_companion_event() IS 'AFTER trigger: NOTIFY companion_events {kind, id, user_id, op} (kind from the trigger argument, op insert|update)';

REVOKE ALL ON FUNCTION public.notify_job_pending() FROM PUBLIC, anon, authenticated;
REVOKE ALL ON FUNCTION public.notify_companion_event() FROM PUBLIC, anon, authenticated;

CREATE TRIGGER jobs_notify_pending AFTER INSERT OR UPDATE ON public.jobs
  FOR EACH ROW EXECUTE FUNCTION public.notify_job_pending();
CREATE TRIGGER jobs_notify_event AFTER INSERT OR UPDATE ON public.jobs
  FOR EACH ROW EXECUTE FUNCTION public.notify_companion_event('job');
CREATE TRIGGER tv_signals_notify_event AFTER INSERT OR UPDATE ON public.tv_signals
  FOR EACH ROW EXECUTE FUNCTION public.notify_companion_event('signal');
CREATE TRIGGER mt5_agents_notify_event AFTER INSERT OR UPDATE ON public.mt5_agents
  FOR EACH ROW EXECUTE FUNCTION public.notify_companion_event('agent');
