-- 0020: the claim's index covers its whole ORDER BY (issue 18).
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
