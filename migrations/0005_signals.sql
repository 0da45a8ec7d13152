-- 0005_signals: what the TradingView webhook and the user API (issue #4) need.
--
-- 1. tv_signals.action may be 'unknown': every webhook request for a known
--    strategy is logged, including messages whose action could not be read
--    (discarded with the reason). The seed's CHECK allowed only buy/sell/close,
--    which would have left those requests unlogged.
-- 2. Indexes for the user API and the webhook's lookups:
--    - signal list, newest first, keyset on (received_at, id), per user and per strategy;
--    - today's realised P&L of a broker connection (daily loss limit);
--    - the newest completed get_account result per agent (last known balance).
-- Re-running this file is a no-op.

alter table public.tv_signals drop constraint if exists tv_signals_action_check;
alter table public.tv_signals add constraint tv_signals_action_check
  check (action in ('buy', 'sell', 'close', 'unknown'));

create index if not exists tv_signals_user_received_idx
  on public.tv_signals (user_id, received_at desc, id desc);
create index if not exists tv_signals_strategy_received_idx
  on public.tv_signals (strategy_id, received_at desc, id desc);

create index if not exists trade_events_connection_created_idx
  on public.trade_events (broker_connection_id, created_at);

create index if not exists jobs_account_results_idx
  on public.jobs (agent_id, completed_at desc)
  where job_type = 'get_account' and status = 'completed';
