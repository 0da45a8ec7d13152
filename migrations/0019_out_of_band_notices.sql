-- 0019: notifications of the hot paths sent by the server, outside their transactions
-- (issue 18).
--
-- PostgreSQL serialises the commits of all transactions that ran NOTIFY: PreCommit_Notify
-- takes a database-wide lock that is held until the commit record is flushed, so such
-- transactions commit one fsync at a time and never share a group commit. Measured on
-- the 2-core CI machine (durable cluster, pgbench, 32 clients): one-row INSERTs commit
-- at 12,545/s alone and at 1,852/s with a NOTIFY in the same transaction. Every webhook
-- alert, claim and result ran a NOTIFY trigger, so their throughput was capped there.
--
--  * The NOTIFY trigger functions skip when `companion.notify` is 'off' in the
--    transaction. Every other writer (the jobs API, EA routes, the UI through
--    PostgREST, plain SQL) still notifies from its transaction, as before.
--  * ingest_signal and claim_next_job run with companion.notify = 'off' (function SET
--    clause: it applies to the triggers of their own statements only). The server sends
--    the equivalent notices itself after the commit: delivered in memory on its replica at
--    once, and to the other replicas through publish_notices (docs/architecture.md,
--    "Notifications").
--  * publish_notices(channels, payloads): one call NOTIFYs a batch, in a transaction with
--    synchronous_commit off (a notice is not data: nothing to wait for on disk), so the
--    notify lock is held for microseconds. Server role only.

CREATE OR REPLACE FUNCTION public.notify_job_pending() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = ''
AS $fn$
BEGIN
  -- The server's hot paths send this notice themselves, after their commit (0019).
  IF current_setting('companion.notify', true) = 'off' THEN
    RETURN NULL;
  END IF;
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
COMMENT ON FUNCTION public.notify_job_pending() IS 'AFTER trigger on jobs: NOTIFY companion_jobs {job_id, user_id, agent_id} when a job becomes pending; skipped when companion.notify = off (the server notifies out of band)';

CREATE OR REPLACE FUNCTION public.notify_companion_event() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = ''
AS $fn$
BEGIN
  IF current_setting('companion.notify', true) = 'off' THEN
    RETURN NULL;
  END IF;
  PERFORM pg_notify('companion_events',
    json_build_object('kind', TG_ARGV[0], 'id', NEW.id, 'user_id', NEW.user_id, 'op', lower(TG_OP))::text);
  RETURN NULL;
END;
$fn$;
COMMENT ON FUNCTION public.notify_companion_event() IS 'AFTER trigger: NOTIFY companion_events {kind, id, user_id, op} (kind from the trigger argument, op insert|update); skipped when companion.notify = off (the server notifies out of band)';

ALTER FUNCTION public.ingest_signal(uuid, uuid, uuid, text, text, float8, jsonb, text, text, float8, text, text, uuid, text, jsonb, float8, text, boolean)
  SET companion.notify = 'off';
ALTER FUNCTION public.claim_next_job(uuid) SET companion.notify = 'off';

CREATE FUNCTION public.publish_notices(p_channels text[], p_payloads text[])
RETURNS integer
LANGUAGE plpgsql
SECURITY INVOKER
SET search_path = ''
AS $fn$
BEGIN
  IF coalesce(array_length(p_channels, 1), 0) <> coalesce(array_length(p_payloads, 1), 0) THEN
    RAISE EXCEPTION 'publish_notices: % channels but % payloads',
      coalesce(array_length(p_channels, 1), 0), coalesce(array_length(p_payloads, 1), 0);
  END IF;
  -- Transaction-local: this transaction writes nothing worth an fsync.
  PERFORM pg_catalog.set_config('synchronous_commit', 'off', true);
  PERFORM pg_catalog.pg_notify(n.c, n.p) FROM unnest(p_channels, p_payloads) AS n(c, p);
  RETURN coalesce(array_length(p_channels, 1), 0);
END;
$fn$;
COMMENT ON FUNCTION public.publish_notices(text[], text[])
  IS 'NOTIFYs channel[i] with payload[i] for each i, in a transaction with synchronous_commit off (the server''s out-of-band notices, 0019). Returns how many. Server role only.';
REVOKE ALL ON FUNCTION public.publish_notices(text[], text[]) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION public.publish_notices(text[], text[]) TO service_role;
