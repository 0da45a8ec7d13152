-- 0017: one agent serves several broker connections (issue 15, "several terminals
-- on one PC").
--
-- A trader with two MT5 accounts runs one Companion with one pairing key; each
-- terminal (account) the agent serves is bound to its own broker connection.
--
-- 1. agent_connections(agent_id, broker_connection_id): which connections an agent
--    serves, with the account (login, server) the terminal reported and its last
--    terminal state. Written by the server only (POST /agents/{id}/accounts, as the
--    server role); users read their own rows and may delete them (unbind an account).
--    Backfilled from mt5_agents.broker_connection_id, which stays: an agent's pairing
--    connection still counts as served by it (agents before 0.12, and pairing).
-- 2. jobs.broker_connection_id: the account a job is for. The agent routes the job
--    to the terminal of that connection. A job inserted without it but for a
--    signal takes its strategy's connection; a job naming a connection but no agent
--    is targeted at the agent serving that connection (so no other agent of the
--    same owner claims it; claim_next_job is unchanged). Users may only name their
--    own connections (jobs_insert / jobs_update WITH CHECK).

-- ---------------------------------------------------------------------------
-- 1. agent_connections
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.agent_connections (
  agent_id             uuid        NOT NULL REFERENCES public.mt5_agents(id) ON DELETE CASCADE,
  broker_connection_id uuid        NOT NULL REFERENCES public.broker_connections(id) ON DELETE CASCADE,
  user_id              uuid        NOT NULL REFERENCES public.profiles(id) ON DELETE CASCADE,
  -- ACCOUNT_LOGIN and ACCOUNT_SERVER as the terminal reported them
  login                text,
  server               text,
  -- the last TerminalInfo the agent reported for this terminal (connected, paper, margin mode…)
  terminal_info        jsonb,
  last_seen            timestamptz,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (agent_id, broker_connection_id)
);
COMMENT ON TABLE public.agent_connections IS
  'Broker connections (accounts) an agent serves, one per terminal; written by the server only';

CREATE INDEX IF NOT EXISTS agent_connections_connection_idx
  ON public.agent_connections (broker_connection_id);
CREATE INDEX IF NOT EXISTS agent_connections_user_account_idx
  ON public.agent_connections (user_id, login, server);

DROP TRIGGER IF EXISTS agent_connections_set_updated_at ON public.agent_connections;
CREATE TRIGGER agent_connections_set_updated_at BEFORE UPDATE ON public.agent_connections
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

ALTER TABLE public.agent_connections ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS agent_connections_select ON public.agent_connections;
CREATE POLICY agent_connections_select ON public.agent_connections FOR SELECT TO authenticated
  USING (user_id = (SELECT auth.uid()));
DROP POLICY IF EXISTS agent_connections_delete ON public.agent_connections;
CREATE POLICY agent_connections_delete ON public.agent_connections FOR DELETE TO authenticated
  USING (user_id = (SELECT auth.uid()));
REVOKE ALL ON public.agent_connections FROM anon;
REVOKE INSERT, UPDATE, TRUNCATE ON public.agent_connections FROM authenticated;
GRANT SELECT, DELETE ON public.agent_connections TO authenticated;

-- Existing agents serve their pairing connection, with the account they last reported.
INSERT INTO public.agent_connections
  (agent_id, broker_connection_id, user_id, login, server, terminal_info, last_seen)
SELECT a.id, a.broker_connection_id, a.user_id, a.login, a.terminal_server, a.terminal_info,
       a.last_heartbeat
  FROM public.mt5_agents a
  JOIN public.broker_connections b ON b.id = a.broker_connection_id AND b.user_id = a.user_id
ON CONFLICT (agent_id, broker_connection_id) DO NOTHING;

-- ---------------------------------------------------------------------------
-- 2. jobs.broker_connection_id
-- ---------------------------------------------------------------------------
ALTER TABLE public.jobs
  ADD COLUMN IF NOT EXISTS broker_connection_id uuid
    REFERENCES public.broker_connections(id) ON DELETE SET NULL;
COMMENT ON COLUMN public.jobs.broker_connection_id IS
  'The account (broker connection) the job is for: the agent runs it on that connection''s terminal';
CREATE INDEX IF NOT EXISTS jobs_broker_connection_idx ON public.jobs (broker_connection_id);

-- Jobs already queued for a signal are for their strategy's connection.
UPDATE public.jobs j SET broker_connection_id = s.broker_connection_id
  FROM public.tv_signals g JOIN public.tv_strategies s ON s.id = g.strategy_id
 WHERE j.entity_type = 'tv_signal' AND j.entity_id = g.id AND j.broker_connection_id IS NULL
   AND j.status IN ('pending', 'running');

CREATE OR REPLACE FUNCTION public.job_connection_defaults()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = ''
AS $fn$
BEGIN
  IF NEW.broker_connection_id IS NULL AND NEW.entity_type = 'tv_signal' AND NEW.entity_id IS NOT NULL THEN
    SELECT s.broker_connection_id INTO NEW.broker_connection_id
      FROM public.tv_signals g JOIN public.tv_strategies s ON s.id = g.strategy_id
     WHERE g.id = NEW.entity_id AND s.user_id = NEW.user_id;
  END IF;
  IF NEW.agent_id IS NULL AND NEW.broker_connection_id IS NOT NULL THEN
    SELECT a.id INTO NEW.agent_id
      FROM public.mt5_agents a
      LEFT JOIN public.agent_connections ac
        ON ac.agent_id = a.id AND ac.broker_connection_id = NEW.broker_connection_id
     WHERE a.user_id = NEW.user_id
       AND (ac.agent_id IS NOT NULL OR a.broker_connection_id = NEW.broker_connection_id)
     ORDER BY (a.status = 'online') DESC, ac.last_seen DESC NULLS LAST,
              a.last_heartbeat DESC NULLS LAST, a.created_at, a.id
     LIMIT 1;
  END IF;
  RETURN NEW;
END;
$fn$;
COMMENT ON FUNCTION public.job_connection_defaults() IS
  'BEFORE INSERT on jobs: a signal''s job takes its strategy''s connection; a job for a connection without an agent is targeted at the agent serving it';
REVOKE ALL ON FUNCTION public.job_connection_defaults() FROM PUBLIC, anon;

DROP TRIGGER IF EXISTS jobs_connection_defaults ON public.jobs;
CREATE TRIGGER jobs_connection_defaults BEFORE INSERT ON public.jobs
  FOR EACH ROW EXECUTE FUNCTION public.job_connection_defaults();

DROP POLICY IF EXISTS jobs_insert ON public.jobs;
CREATE POLICY jobs_insert ON public.jobs FOR INSERT TO authenticated
  WITH CHECK (
    user_id = (SELECT auth.uid())
    AND (agent_id IS NULL OR EXISTS (
      SELECT 1 FROM public.mt5_agents a
      WHERE a.id = agent_id AND a.user_id = (SELECT auth.uid())))
    AND (broker_connection_id IS NULL OR EXISTS (
      SELECT 1 FROM public.broker_connections b
      WHERE b.id = broker_connection_id AND b.user_id = (SELECT auth.uid())))
    AND public.job_references_are_own(entity_type, entity_id, input_data)
  );

DROP POLICY IF EXISTS jobs_update ON public.jobs;
CREATE POLICY jobs_update ON public.jobs FOR UPDATE TO authenticated
  USING (user_id = (SELECT auth.uid()))
  WITH CHECK (
    user_id = (SELECT auth.uid())
    AND (agent_id IS NULL OR EXISTS (
      SELECT 1 FROM public.mt5_agents a
      WHERE a.id = agent_id AND a.user_id = (SELECT auth.uid())))
    AND (broker_connection_id IS NULL OR EXISTS (
      SELECT 1 FROM public.broker_connections b
      WHERE b.id = broker_connection_id AND b.user_id = (SELECT auth.uid())))
    AND public.job_references_are_own(entity_type, entity_id, input_data)
  );
