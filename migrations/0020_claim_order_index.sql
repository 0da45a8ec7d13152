-- 0020: the claim's index covers its whole ORDER BY, and NOTIFY triggers that would skip are not queued (issue 18).
--
-- claim_next_job takes the oldest pending job of the agent's owner:
--   ORDER BY created_at, id FOR UPDATE SKIP LOCKED LIMIT 1.
-- jobs_pending_claim_idx (0003, D5) was (user_id, created_at): the `id` tie-break was not
-- in it, so every claim read ALL of the user's pending jobs and sorted them before taking
-- one (jobs queued in one transaction share created_at, so even an incremental sort read
-- them all). With 4,000 pending jobs per user the claim spent most of its time there
-- (perf during the queue bench: 53 % of PostgreSQL's CPU under the claim's sub-select,
-- heap_hot_search_buffer and tuplesort leading). With (user_id, created_at, id) the scan
-- returns rows in claim order and stops at the first one it can lock.
DROP INDEX IF EXISTS public.jobs_pending_claim_idx;
CREATE INDEX jobs_pending_claim_idx ON public.jobs (user_id, created_at, id)
  WHERE status = 'pending';

-- The NOTIFY triggers are not even queued when they would skip (0019's companion.notify
-- = 'off', and `companion_jobs` only for pending jobs): an AFTER ROW trigger's WHEN is
-- evaluated when the row changes, so a claim, a result or an alert no longer queues
-- trigger events that only return at the end of the statement.
DROP TRIGGER IF EXISTS jobs_notify_pending ON public.jobs;
CREATE TRIGGER jobs_notify_pending AFTER INSERT OR UPDATE ON public.jobs
  FOR EACH ROW
  WHEN (NEW.status = 'pending'
        AND pg_catalog.current_setting('companion.notify', true) IS DISTINCT FROM 'off')
  EXECUTE FUNCTION public.notify_job_pending();
DROP TRIGGER IF EXISTS jobs_notify_event ON public.jobs;
CREATE TRIGGER jobs_notify_event AFTER INSERT OR UPDATE ON public.jobs
  FOR EACH ROW
  WHEN (pg_catalog.current_setting('companion.notify', true) IS DISTINCT FROM 'off')
  EXECUTE FUNCTION public.notify_companion_event('job');
DROP TRIGGER IF EXISTS tv_signals_notify_event ON public.tv_signals;
CREATE TRIGGER tv_signals_notify_event AFTER INSERT OR UPDATE ON public.tv_signals
  FOR EACH ROW
  WHEN (pg_catalog.current_setting('companion.notify', true) IS DISTINCT FROM 'off')
  EXECUTE FUNCTION public.notify_companion_event('signal');
DROP TRIGGER IF EXISTS mt5_agents_notify_event ON public.mt5_agents;
CREATE TRIGGER mt5_agents_notify_event AFTER INSERT OR UPDATE ON public.mt5_agents
  FOR EACH ROW
  WHEN (pg_catalog.current_setting('companion.notify', true) IS DISTINCT FROM 'off')
  EXECUTE FUNCTION public.notify_companion_event('agent');
