-- 0013: trade management job types (issue 14). `jobs.job_type` keeps the seed's ten
-- types and gains `modify_position` (SL/TP of open positions) and `cancel_orders`
-- (delete pending orders). Pending orders are `trade` jobs (`order_type` limit/stop)
-- and partial closes `close_position` jobs (`volume` / `percent`): no new type.
ALTER TABLE public.jobs DROP CONSTRAINT IF EXISTS jobs_job_type_check;
ALTER TABLE public.jobs
  ADD CONSTRAINT jobs_job_type_check
  CHECK (job_type IN ('compile', 'deploy', 'run', 'stop', 'test', 'trade', 'get_positions',
                      'get_account', 'get_candles', 'close_position',
                      'modify_position', 'cancel_orders'));
