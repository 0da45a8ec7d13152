-- 0009: security hardening (issue 17, schema items 3, 4 and 9).
--
-- The server connects as a role that bypasses RLS and acts on rows that jobs point
-- at. Users can write `jobs` (and other tables) directly through PostgREST, so what
-- a user writes must never name another tenant's rows, and users must not choose the
-- cost of the server's work.
--
-- 1. jobs (item 3): insert/update require `entity_type`/`entity_id` and
--    `input_data.signal_id` to name the user's own EA version, EA deployment or
--    signal (public.job_references_are_own). An entity of a kind the server does not
--    know, or a `signal_id` that is not a UUID string, is refused too.
-- 2. mt5_agents (item 4): `anon`/`authenticated` lose INSERT/UPDATE on
--    `pairing_key_hash` and `pairing_key_prefix` (column privileges: table-level
--    INSERT/UPDATE is revoked and granted back column by column, without those two).
--    Only the server writes keys (pairing and rotation run as the server role). A
--    column added later is not writable by users until a migration grants it.
-- 3. Foreign keys users set (item 9) must name their own rows:
--    trade_events.broker_connection_id, ea_projects.current_version_id (a version of
--    that same project), tv_signals.job_id.
-- 4. tv_strategies.webhook_secret (item 9) must have the server's format: 40 base62
--    characters (user_api::strategies::generate_secret). Existing rows that do not are
--    given a fresh secret first (40 hex characters from two gen_random_uuid() values,
--    ~150 random bits), so their old webhook URL stops working: such a secret was not
--    made by the server, only written directly by its user.

-- ---------------------------------------------------------------------------
-- 1. jobs reference only their owner's rows
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.job_references_are_own(
  p_entity_type text, p_entity_id uuid, p_input jsonb)
RETURNS boolean
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $fn$
DECLARE
  v_uid    uuid := auth.uid();
  v_signal jsonb;
BEGIN
  IF v_uid IS NULL THEN
    RETURN false;
  END IF;
  IF p_entity_id IS NOT NULL THEN
    IF p_entity_type = 'ea_version' THEN
      IF NOT EXISTS (SELECT 1 FROM public.ea_versions v
                     JOIN public.ea_projects p ON p.id = v.ea_project_id
                     WHERE v.id = p_entity_id AND p.user_id = v_uid) THEN
        RETURN false;
      END IF;
    ELSIF p_entity_type = 'ea_deployment' THEN
      IF NOT EXISTS (SELECT 1 FROM public.ea_deployments d
                     JOIN public.ea_versions v ON v.id = d.ea_version_id
                     JOIN public.ea_projects p ON p.id = v.ea_project_id
                     WHERE d.id = p_entity_id AND p.user_id = v_uid) THEN
        RETURN false;
      END IF;
    ELSIF p_entity_type = 'tv_signal' THEN
      IF NOT EXISTS (SELECT 1 FROM public.tv_signals s
                     WHERE s.id = p_entity_id AND s.user_id = v_uid) THEN
        RETURN false;
      END IF;
    ELSE
      RETURN false;
    END IF;
  END IF;
  IF p_input IS NOT NULL AND jsonb_typeof(p_input) = 'object' THEN
    v_signal := p_input -> 'signal_id';
    IF v_signal IS NOT NULL AND jsonb_typeof(v_signal) <> 'null' THEN
      IF jsonb_typeof(v_signal) <> 'string'
         OR (v_signal #>> '{}') !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
        RETURN false;
      END IF;
      IF NOT EXISTS (SELECT 1 FROM public.tv_signals s
                     WHERE s.id = (v_signal #>> '{}')::uuid AND s.user_id = v_uid) THEN
        RETURN false;
      END IF;
    END IF;
  END IF;
  RETURN true;
END;
$fn$;

COMMENT ON FUNCTION public.job_references_are_own(text, uuid, jsonb)
  IS 'RLS helper (SECURITY INVOKER): true when a job''s entity_type/entity_id and input_data.signal_id name only rows of the calling user (auth.uid())';

DROP POLICY IF EXISTS jobs_insert ON public.jobs;
CREATE POLICY jobs_insert ON public.jobs FOR INSERT TO authenticated
  WITH CHECK (
    user_id = (SELECT auth.uid())
    AND (agent_id IS NULL OR EXISTS (
      SELECT 1 FROM public.mt5_agents a
      WHERE a.id = agent_id AND a.user_id = (SELECT auth.uid())))
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
    AND public.job_references_are_own(entity_type, entity_id, input_data)
  );

-- ---------------------------------------------------------------------------
-- 2. users cannot write an agent's key columns
-- ---------------------------------------------------------------------------
REVOKE INSERT, UPDATE ON public.mt5_agents FROM anon, authenticated;
DO $grant$
DECLARE
  v_cols text;
BEGIN
  SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO v_cols
  FROM pg_attribute a
  WHERE a.attrelid = 'public.mt5_agents'::regclass AND a.attnum > 0 AND NOT a.attisdropped
    AND a.attname NOT IN ('pairing_key_hash', 'pairing_key_prefix');
  EXECUTE format('GRANT INSERT (%s), UPDATE (%s) ON public.mt5_agents TO authenticated',
                 v_cols, v_cols);
END
$grant$;

-- ---------------------------------------------------------------------------
-- 3. user-set foreign keys name the user's own rows
-- ---------------------------------------------------------------------------
DROP POLICY IF EXISTS trade_events_insert ON public.trade_events;
CREATE POLICY trade_events_insert ON public.trade_events FOR INSERT TO authenticated
  WITH CHECK (
    user_id = (SELECT auth.uid())
    AND (broker_connection_id IS NULL OR EXISTS (
      SELECT 1 FROM public.broker_connections b
      WHERE b.id = broker_connection_id AND b.user_id = (SELECT auth.uid())))
  );

-- A function, not an inline EXISTS: ea_versions' own policies read ea_projects, and
-- an ea_projects policy reading ea_versions inline is "infinite recursion" to
-- PostgreSQL. The function's query runs under the caller's RLS on its own.
CREATE OR REPLACE FUNCTION public.ea_version_in_project(p_version uuid, p_project uuid)
RETURNS boolean
LANGUAGE plpgsql
STABLE
SET search_path = ''
AS $fn$
BEGIN
  RETURN EXISTS (SELECT 1 FROM public.ea_versions v
                 WHERE v.id = p_version AND v.ea_project_id = p_project);
END;
$fn$;

COMMENT ON FUNCTION public.ea_version_in_project(uuid, uuid)
  IS 'RLS helper (SECURITY INVOKER): true when the version belongs to the project (and is visible to the caller)';

DROP POLICY IF EXISTS ea_projects_insert ON public.ea_projects;
CREATE POLICY ea_projects_insert ON public.ea_projects FOR INSERT TO authenticated
  WITH CHECK (
    user_id = (SELECT auth.uid())
    AND (current_version_id IS NULL
         OR public.ea_version_in_project(current_version_id, id))
  );

DROP POLICY IF EXISTS ea_projects_update ON public.ea_projects;
CREATE POLICY ea_projects_update ON public.ea_projects FOR UPDATE TO authenticated
  USING (user_id = (SELECT auth.uid()))
  WITH CHECK (
    user_id = (SELECT auth.uid())
    AND (current_version_id IS NULL
         OR public.ea_version_in_project(current_version_id, id))
  );

DROP POLICY IF EXISTS tv_signals_insert ON public.tv_signals;
CREATE POLICY tv_signals_insert ON public.tv_signals FOR INSERT TO authenticated
  WITH CHECK (
    user_id = (SELECT auth.uid())
    AND EXISTS (SELECT 1 FROM public.tv_strategies s
                WHERE s.id = strategy_id AND s.user_id = (SELECT auth.uid()))
    AND (job_id IS NULL OR EXISTS (
      SELECT 1 FROM public.jobs j
      WHERE j.id = job_id AND j.user_id = (SELECT auth.uid())))
  );

-- ---------------------------------------------------------------------------
-- 4. webhook secrets have the server's format
-- ---------------------------------------------------------------------------
UPDATE public.tv_strategies
SET webhook_secret = substr(replace(gen_random_uuid()::text, '-', '')
                            || replace(gen_random_uuid()::text, '-', ''), 1, 40)
WHERE webhook_secret !~ '^[A-Za-z0-9]{40}$';

ALTER TABLE public.tv_strategies DROP CONSTRAINT IF EXISTS tv_strategies_webhook_secret_format;
ALTER TABLE public.tv_strategies ADD CONSTRAINT tv_strategies_webhook_secret_format
  CHECK (webhook_secret ~ '^[A-Za-z0-9]{40}$');

COMMENT ON CONSTRAINT tv_strategies_webhook_secret_format ON public.tv_strategies
  IS 'The server''s format: 40 base62 characters (~238 bits); a guessable secret would let anyone post signals';
