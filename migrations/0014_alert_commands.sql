-- 0014: alert command words (issue 14, pending / cancel / modify / close-and-reopen).
--
-- 1. tv_strategies.pc_pending_entry: what a PineConnector pending order's `price=`
--    means, as the PineConnector EA's "Pending Order Entry" setting: `pips` (from the
--    current price; PineConnector's recommended setting and the default), `price`
--    (the order's price as sent) or `percentage` (percent of the current price).
-- 2. tv_signals.understood: the command as the webhook understood it, in words,
--    written at ingest ("sell limit 0.1 lots GBPUSD 15 pips above the bid ...").
-- 3. tv_signals.action may be `modify` (SL/TP of open positions) and `cancel`
--    (delete pending orders), besides buy / sell / close / unknown.
-- Re-running this file is a no-op.

alter table public.tv_strategies
  add column if not exists pc_pending_entry text not null default 'pips';
alter table public.tv_strategies drop constraint if exists tv_strategies_pc_pending_entry_check;
alter table public.tv_strategies add constraint tv_strategies_pc_pending_entry_check
  check (pc_pending_entry in ('pips', 'price', 'percentage'));

alter table public.tv_signals add column if not exists understood text;
alter table public.tv_signals drop constraint if exists tv_signals_understood_len_check;
alter table public.tv_signals add constraint tv_signals_understood_len_check
  check (understood is null or char_length(understood) <= 1000);

alter table public.tv_signals drop constraint if exists tv_signals_action_check;
alter table public.tv_signals add constraint tv_signals_action_check
  check (action in ('buy', 'sell', 'close', 'unknown', 'modify', 'cancel'));
