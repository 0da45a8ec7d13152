-- 0003 Schema migration v2: the six additions of the "v2 tech plan additions" spec
-- (shared/seed/schema-migration-v2.md), with the spec's meaning, corrected where the
-- spec's SQL is defective.
--
-- Safe to run again (the spec promises it): a second run raises no error and leaves
-- the schema exactly as it was. In particular it never puts back a weaker
-- claim_next_job or policy, even after later migrations (0004 replaces
-- claim_next_job with its final version).
--
-- Deviations from the spec, and why:
--  D1 claim_next_job only returns jobs of the agent's owner (jobs.user_id =
--     mt5_agents.user_id). The spec's version hands any user's unassigned job to any
--     agent: one user's trade would execute on another user's terminal.
--  D2 EXECUTE on claim_next_job is revoked from PUBLIC, anon and authenticated; only
--     service_role (and the owner) may call it. PostgreSQL grants EXECUTE to PUBLIC by
--     default (and Supabase to anon/authenticated), so the spec's SECURITY DEFINER
--     function, which bypasses RLS, was callable through the public API.
--  D3 claim_next_job pins `SET search_path = ''` and schema-qualifies every name.
--     A SECURITY DEFINER function with the caller's search_path can be hijacked by
--     objects the caller creates earlier on the path.
--  D4 Policies call `(SELECT auth.uid())`, evaluated once per statement, instead of
--     `auth.uid()` evaluated once per row (Supabase lint auth_rls_initplan).
--  D5 A partial index jobs_pending_claim_idx (user_id, created_at) WHERE status =
--     'pending' supports the claim; the spec's claim scanned and sorted every job.
--  D6 The spec's CREATE POLICY statements have no IF NOT EXISTS, so the file as
--     written fails on a re-run. Each policy is created only when missing (or when
--     the existing one is the spec's per-row auth.uid() form, which is replaced).
--     claim_next_job is created only when missing or when the existing function is
--     the spec's (no pinned search_path); the spec's CREATE OR REPLACE would put the
--     defective version back on every re-run. The job_type CHECK is rebuilt only when
--     it does not allow 'trade' yet, so a re-run never narrows a list a later
--     migration extended. Function comment and grants are idempotent.
--  D7 tv_strategies.webhook_secret keeps its UNIQUE constraint (which is an index);
--     the spec's extra tv_strategies_secret_idx on the same column was a second,
--     identical unique index, doubling write cost. It is not created, and dropped
--     if a previous run of the spec's SQL left it.
--  D8 Policies apply TO authenticated (not PUBLIC): anon has no user id, so it
--     gets no policy at all and sees nothing.
--  D9 UPDATE policies carry an explicit WITH CHECK, so a row cannot be moved to
--     another user. tv_strategies insert/update also require the broker connection
--     to be the user's own, and tv_signals insert requires the strategy to be the
--     user's own: foreign keys ignore RLS, so otherwise a user could route signals
--     through another user's broker connection.
--  D10 Indexes on foreign keys the spec left unindexed (Supabase lint
--     unindexed_foreign_keys): ea_projects.current_version_id,
--     tv_strategies.broker_connection_id, tv_signals.job_id.
--  D11 uuid defaults call extensions.uuid_generate_v4(): uuid-ossp lives in schema
--     `extensions` (as on Supabase), which is not on every role's search_path.
--  D12 claim_next_job breaks created_at ties by id, so "oldest first" is total; it
--     returns no row for an unknown agent.
--  D13 The file sets client_min_messages = warning while it runs (reset at the end),
--     so a re-run prints nothing: the "already exists, skipping" NOTICEs of its
--     IF NOT EXISTS clauses are expected, not news.

-- A re-run hits every IF [NOT] EXISTS and PostgreSQL reports each skip as a NOTICE;
-- those are expected, so this file reports warnings and errors only.
SET client_min_messages = warning;

-- =============================================================================
-- Addition 1: mt5_agents — agent pairing key for X-Agent-Key auth
-- =============================================================================

ALTER TABLE public.mt5_agents
  ADD COLUMN IF NOT EXISTS pairing_key_hash   TEXT NOT NULL DEFAULT '',
  ADD COLUMN IF NOT EXISTS pairing_key_prefix TEXT NOT NULL DEFAULT '';

COMMENT ON COLUMN public.mt5_agents.pairing_key_hash
  IS 'bcrypt hash of the full pairing key — never store the raw key';
COMMENT ON COLUMN public.mt5_agents.pairing_key_prefix
  IS 'First 8 chars of the raw key, shown in UI for identification only';

-- =============================================================================
-- Addition 2a: jobs — add agent_id and claimed_at columns
-- =============================================================================

ALTER TABLE public.jobs
  ADD COLUMN IF NOT EXISTS agent_id   UUID REFERENCES public.mt5_agents(id) ON DELETE SET NULL,
  ADD COLUMN IF NOT EXISTS claimed_at TIMESTAMPTZ;

COMMENT ON COLUMN public.jobs.agent_id
  IS 'Set atomically when an agent claims the job; prevents cross-agent pickup';
COMMENT ON COLUMN public.jobs.claimed_at
  IS 'Timestamp of claim; used for stale-job timeout detection (> 5 min = re-queue)';

CREATE INDEX IF NOT EXISTS jobs_agent_id_idx ON public.jobs(agent_id);

-- D5: the claim's index.
CREATE INDEX IF NOT EXISTS jobs_pending_claim_idx ON public.jobs (user_id, created_at)
  WHERE status = 'pending';

-- =============================================================================
-- Addition 2b: jobs — extend job_type CHECK to include 'trade' (D6: only once)
-- =============================================================================

DO $check$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM pg_constraint
    WHERE conrelid = 'public.jobs'::regclass
      AND conname = 'jobs_job_type_check'
      AND pg_get_constraintdef(oid) LIKE '%''trade''%'
  ) THEN
    ALTER TABLE public.jobs DROP CONSTRAINT IF EXISTS jobs_job_type_check;
    ALTER TABLE public.jobs
      ADD CONSTRAINT jobs_job_type_check
      CHECK (job_type IN ('compile', 'deploy', 'run', 'stop', 'test', 'trade', 'get_positions', 'get_account', 'get_candles', 'close_position'));
  END IF;
END
$check$;

-- =============================================================================
-- Addition 3: ea_projects — track which version is active in the editor
-- =============================================================================

ALTER TABLE public.ea_projects
  ADD COLUMN IF NOT EXISTS current_version_id UUID
    REFERENCES public.ea_versions(id) ON DELETE SET NULL;

COMMENT ON COLUMN public.ea_projects.current_version_id
  IS 'The version currently open in the EA Studio editor; updated on generation and manual version switch';

CREATE INDEX IF NOT EXISTS ea_projects_current_version_id_idx ON public.ea_projects(current_version_id);  -- D10

-- =============================================================================
-- Addition 4: tv_strategies — TradingView webhook strategy configuration
-- =============================================================================

CREATE TABLE IF NOT EXISTS public.tv_strategies (
  id                   UUID        PRIMARY KEY DEFAULT extensions.uuid_generate_v4(),  -- D11
  user_id              UUID        NOT NULL REFERENCES public.profiles(id) ON DELETE CASCADE,
  broker_connection_id UUID        NOT NULL REFERENCES public.broker_connections(id) ON DELETE RESTRICT,
  name                 TEXT        NOT NULL,
  webhook_secret       TEXT        NOT NULL UNIQUE,
  risk_override_pct    NUMERIC(5,2),
  allowed_pairs        TEXT[],
  is_enabled           BOOLEAN     NOT NULL DEFAULT true,
  created_at           TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  updated_at           TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

COMMENT ON TABLE  public.tv_strategies                    IS 'One row per TradingView strategy; each has a unique webhook URL';
COMMENT ON COLUMN public.tv_strategies.webhook_secret     IS 'URL-embedded routing token — treat as a secret; rotate per strategy';
COMMENT ON COLUMN public.tv_strategies.risk_override_pct  IS 'NULL = inherit from user_settings.risk_percent';
COMMENT ON COLUMN public.tv_strategies.allowed_pairs      IS 'NULL = all pairs allowed; non-null = whitelist';
COMMENT ON COLUMN public.tv_strategies.broker_connection_id IS 'ON DELETE RESTRICT: must disconnect broker before deleting strategy';

ALTER TABLE public.tv_strategies ENABLE ROW LEVEL SECURITY;

CREATE INDEX IF NOT EXISTS tv_strategies_user_id_idx ON public.tv_strategies(user_id);
CREATE INDEX IF NOT EXISTS tv_strategies_broker_connection_id_idx ON public.tv_strategies(broker_connection_id);  -- D10
-- D7: webhook_secret's UNIQUE constraint is its index; no second unique index.
DROP INDEX IF EXISTS public.tv_strategies_secret_idx;

-- =============================================================================
-- Addition 5: tv_signals — immutable log of every webhook received
-- =============================================================================

CREATE TABLE IF NOT EXISTS public.tv_signals (
  id              UUID        PRIMARY KEY DEFAULT extensions.uuid_generate_v4(),  -- D11
  strategy_id     UUID        NOT NULL REFERENCES public.tv_strategies(id) ON DELETE CASCADE,
  user_id         UUID        NOT NULL REFERENCES public.profiles(id)      ON DELETE CASCADE,
  symbol          TEXT        NOT NULL,
  action          TEXT        NOT NULL CHECK (action IN ('buy', 'sell', 'close')),
  price           NUMERIC(12,5),
  raw_payload     JSONB       NOT NULL,
  status          TEXT        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'executed', 'failed', 'discarded')),
  fill_price      NUMERIC(12,5),
  broker_order_id TEXT,
  error_message   TEXT,
  job_id          UUID        REFERENCES public.jobs(id) ON DELETE SET NULL,
  received_at     TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  resolved_at     TIMESTAMPTZ
);

COMMENT ON TABLE  public.tv_signals              IS 'Append-only log of every TradingView webhook received';
COMMENT ON COLUMN public.tv_signals.raw_payload  IS 'Full JSON body as received from TradingView — never modified';
COMMENT ON COLUMN public.tv_signals.status       IS 'pending → executed | failed | discarded';
COMMENT ON COLUMN public.tv_signals.job_id       IS 'NULL for discarded signals (no job created); set for pending/executed/failed';

ALTER TABLE public.tv_signals ENABLE ROW LEVEL SECURITY;

-- No UPDATE policy for users — signals are immutable from the user's perspective.
-- Backend uses a role that bypasses RLS to update status, fill_price, error_message.

CREATE INDEX IF NOT EXISTS tv_signals_strategy_id_idx  ON public.tv_signals(strategy_id);
CREATE INDEX IF NOT EXISTS tv_signals_user_id_idx      ON public.tv_signals(user_id);
CREATE INDEX IF NOT EXISTS tv_signals_received_at_idx  ON public.tv_signals(received_at DESC);
CREATE INDEX IF NOT EXISTS tv_signals_status_idx       ON public.tv_signals(status)
  WHERE status = 'pending';  -- partial index: only pending signals need fast lookup
CREATE INDEX IF NOT EXISTS tv_signals_job_id_idx       ON public.tv_signals(job_id);  -- D10

-- =============================================================================
-- Policies of additions 4 and 5 (D4, D6, D8, D9)
-- A policy is created when missing, and replaced when it is the spec's form
-- (auth.uid() called per row); otherwise left exactly as it is.
-- =============================================================================

DO $policies$
DECLARE
  p record;
BEGIN
  FOR p IN
    SELECT * FROM (VALUES
      ('tv_strategies', 'tv_strategies_select',
       $$CREATE POLICY tv_strategies_select ON public.tv_strategies FOR SELECT TO authenticated
           USING (user_id = (SELECT auth.uid()))$$),
      ('tv_strategies', 'tv_strategies_insert',
       $$CREATE POLICY tv_strategies_insert ON public.tv_strategies FOR INSERT TO authenticated
           WITH CHECK (user_id = (SELECT auth.uid())
                       AND EXISTS (SELECT 1 FROM public.broker_connections b
                                   WHERE b.id = broker_connection_id AND b.user_id = (SELECT auth.uid())))$$),
      ('tv_strategies', 'tv_strategies_update',
       $$CREATE POLICY tv_strategies_update ON public.tv_strategies FOR UPDATE TO authenticated
           USING (user_id = (SELECT auth.uid()))
           WITH CHECK (user_id = (SELECT auth.uid())
                       AND EXISTS (SELECT 1 FROM public.broker_connections b
                                   WHERE b.id = broker_connection_id AND b.user_id = (SELECT auth.uid())))$$),
      ('tv_strategies', 'tv_strategies_delete',
       $$CREATE POLICY tv_strategies_delete ON public.tv_strategies FOR DELETE TO authenticated
           USING (user_id = (SELECT auth.uid()))$$),
      ('tv_signals', 'tv_signals_select',
       $$CREATE POLICY tv_signals_select ON public.tv_signals FOR SELECT TO authenticated
           USING (user_id = (SELECT auth.uid()))$$),
      ('tv_signals', 'tv_signals_insert',
       $$CREATE POLICY tv_signals_insert ON public.tv_signals FOR INSERT TO authenticated
           WITH CHECK (user_id = (SELECT auth.uid())
                       AND EXISTS (SELECT 1 FROM public.tv_strategies s
                                   WHERE s.id = strategy_id AND s.user_id = (SELECT auth.uid())))$$)
    ) AS t(tbl, name, ddl)
  LOOP
    IF EXISTS (
      SELECT 1 FROM pg_policies pol
      WHERE pol.schemaname = 'public' AND pol.tablename = p.tbl AND pol.policyname = p.name
        AND (coalesce(pol.qual, '') || ' ' || coalesce(pol.with_check, '')) ~ 'auth\.uid\(\)'
        AND (coalesce(pol.qual, '') || ' ' || coalesce(pol.with_check, '')) !~ 'SELECT auth\.uid\(\)'
    ) THEN
      EXECUTE format('DROP POLICY %I ON public.%I', p.name, p.tbl);
    END IF;
    IF NOT EXISTS (
      SELECT 1 FROM pg_policies pol
      WHERE pol.schemaname = 'public' AND pol.tablename = p.tbl AND pol.policyname = p.name
    ) THEN
      EXECUTE p.ddl;
    END IF;
  END LOOP;
END
$policies$;

-- =============================================================================
-- Addition 6: claim_next_job — atomic job claiming (D1, D2, D3, D6, D12)
-- Created only when missing or when the spec's version (no pinned search_path) is
-- there; 0004 replaces it with the final version, which a re-run keeps.
-- =============================================================================

DO $claim$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM pg_proc
    WHERE oid = to_regprocedure('public.claim_next_job(uuid)')
      AND EXISTS (SELECT 1 FROM unnest(proconfig) c WHERE c LIKE 'search\_path=%')
  ) THEN
    CREATE OR REPLACE FUNCTION public.claim_next_job(p_agent_id UUID)
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
        status     = 'running',
        agent_id   = p_agent_id,
        claimed_at = now()
      WHERE j.id = (
        SELECT c.id
        FROM   public.jobs c
        WHERE  c.status  = 'pending'
          AND  c.user_id = v_owner
          AND  (c.agent_id IS NULL OR c.agent_id = p_agent_id)
        ORDER  BY c.created_at ASC, c.id ASC
        FOR UPDATE SKIP LOCKED
        LIMIT  1
      )
      RETURNING j.*;
    END;
    $fn$;

    COMMENT ON FUNCTION public.claim_next_job(UUID)
      IS 'Atomically claims the next pending job of the agent''s owner for that agent. Uses FOR UPDATE SKIP LOCKED to prevent double-pickup. Called by GET /agents/{id}/jobs/next.';
  END IF;
END
$claim$;

REVOKE ALL ON FUNCTION public.claim_next_job(UUID) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.claim_next_job(UUID) TO service_role;

RESET client_min_messages;
