-- 0015 How a strategy's orders are sized, filtered and sent (issue #14, sizing and
-- filters). The webhook carries these into every trade job; the agent applies them at
-- the terminal right before sending (docs/webhook.md, "Filters", "Slippage").
--
--  * slippage_points: MT5 `deviation` of market orders (was a fixed 20);
--  * max_positions: open positions of the strategy (magic) per symbol and direction
--    after which an entry fails `max_positions`; NULL = no cap;
--  * max_spread_points: largest spread (points) for an entry; NULL = no limit;
--  * session_windows / session_days / session_tz: entries only inside one of the
--    windows ('HH:MM-HH:MM', end exclusive, past midnight when end < start) on one of
--    the ISO weekdays (1 = Monday; empty = every day) in the time zone; empty
--    windows = any time;
--  * min_equity / min_free_margin: account minimums for an entry; NULL = none;
--  * pc_account_filter: what a PineConnector `accfilter=` is a minimum of;
--  * pc_volume_type gains 'percent_equity_risk' (every volume type is executed now).
-- Re-running this file is a no-op.

ALTER TABLE public.tv_strategies
  ADD COLUMN IF NOT EXISTS slippage_points integer NOT NULL DEFAULT 20,
  ADD COLUMN IF NOT EXISTS max_positions integer,
  ADD COLUMN IF NOT EXISTS max_spread_points numeric,
  ADD COLUMN IF NOT EXISTS session_windows text[] NOT NULL DEFAULT '{}',
  ADD COLUMN IF NOT EXISTS session_days smallint[] NOT NULL DEFAULT '{}',
  ADD COLUMN IF NOT EXISTS session_tz text NOT NULL DEFAULT 'UTC',
  ADD COLUMN IF NOT EXISTS min_equity numeric,
  ADD COLUMN IF NOT EXISTS min_free_margin numeric,
  ADD COLUMN IF NOT EXISTS pc_account_filter text NOT NULL DEFAULT 'equity';

ALTER TABLE public.tv_strategies DROP CONSTRAINT IF EXISTS tv_strategies_slippage_points_check;
ALTER TABLE public.tv_strategies ADD CONSTRAINT tv_strategies_slippage_points_check
  CHECK (slippage_points BETWEEN 0 AND 100000);
ALTER TABLE public.tv_strategies DROP CONSTRAINT IF EXISTS tv_strategies_max_positions_check;
ALTER TABLE public.tv_strategies ADD CONSTRAINT tv_strategies_max_positions_check
  CHECK (max_positions BETWEEN 1 AND 1000);
ALTER TABLE public.tv_strategies DROP CONSTRAINT IF EXISTS tv_strategies_max_spread_points_check;
ALTER TABLE public.tv_strategies ADD CONSTRAINT tv_strategies_max_spread_points_check
  CHECK (max_spread_points > 0 AND max_spread_points <= 1000000);
ALTER TABLE public.tv_strategies DROP CONSTRAINT IF EXISTS tv_strategies_session_windows_check;
ALTER TABLE public.tv_strategies ADD CONSTRAINT tv_strategies_session_windows_check
  CHECK (cardinality(session_windows) <= 12
         AND array_to_string(session_windows, ',') ~
             '^((([01][0-9]|2[0-3]):[0-5][0-9]-(([01][0-9]|2[0-3]):[0-5][0-9]|24:00))(,|$))*$');
ALTER TABLE public.tv_strategies DROP CONSTRAINT IF EXISTS tv_strategies_session_days_check;
ALTER TABLE public.tv_strategies ADD CONSTRAINT tv_strategies_session_days_check
  CHECK (session_days <@ ARRAY[1, 2, 3, 4, 5, 6, 7]::smallint[]);
ALTER TABLE public.tv_strategies DROP CONSTRAINT IF EXISTS tv_strategies_session_tz_check;
ALTER TABLE public.tv_strategies ADD CONSTRAINT tv_strategies_session_tz_check
  CHECK (public.is_time_zone(session_tz));
ALTER TABLE public.tv_strategies DROP CONSTRAINT IF EXISTS tv_strategies_min_equity_check;
ALTER TABLE public.tv_strategies ADD CONSTRAINT tv_strategies_min_equity_check
  CHECK (min_equity >= 0 AND min_equity <= 1000000000000);
ALTER TABLE public.tv_strategies DROP CONSTRAINT IF EXISTS tv_strategies_min_free_margin_check;
ALTER TABLE public.tv_strategies ADD CONSTRAINT tv_strategies_min_free_margin_check
  CHECK (min_free_margin >= 0 AND min_free_margin <= 1000000000000);
ALTER TABLE public.tv_strategies DROP CONSTRAINT IF EXISTS tv_strategies_pc_account_filter_check;
ALTER TABLE public.tv_strategies ADD CONSTRAINT tv_strategies_pc_account_filter_check
  CHECK (pc_account_filter IN ('balance', 'equity', 'free_margin'));
ALTER TABLE public.tv_strategies DROP CONSTRAINT IF EXISTS tv_strategies_pc_volume_type_check;
ALTER TABLE public.tv_strategies ADD CONSTRAINT tv_strategies_pc_volume_type_check
  CHECK (pc_volume_type IN ('lots', 'percent_balance_risk', 'dollar_risk',
                            'percent_balance_lots', 'percent_balance_margin',
                            'percent_equity_risk'));

COMMENT ON COLUMN public.tv_strategies.pc_volume_type IS 'PineConnector "Volume Type": what risk= means (every value executed since 0015)';
COMMENT ON COLUMN public.tv_strategies.pc_target_type IS 'PineConnector "Target Type": what sl= / tp= mean (points and percentage converted by the agent)';
COMMENT ON COLUMN public.tv_strategies.slippage_points IS 'Allowed slippage (MT5 deviation) of market orders, points';
COMMENT ON COLUMN public.tv_strategies.max_positions IS 'Cap on open positions per symbol and direction (this strategy''s magic); NULL = none';
COMMENT ON COLUMN public.tv_strategies.max_spread_points IS 'Largest spread for an entry, points; NULL = no limit';
COMMENT ON COLUMN public.tv_strategies.session_windows IS 'Trading windows HH:MM-HH:MM in session_tz; empty = any time';
COMMENT ON COLUMN public.tv_strategies.session_days IS 'ISO weekdays (1 = Monday) of the windows; empty = every day';
COMMENT ON COLUMN public.tv_strategies.session_tz IS 'Time zone of session_windows';
COMMENT ON COLUMN public.tv_strategies.min_equity IS 'Minimum account equity for an entry; NULL = none';
COMMENT ON COLUMN public.tv_strategies.min_free_margin IS 'Minimum free margin for an entry; NULL = none';
COMMENT ON COLUMN public.tv_strategies.pc_account_filter IS 'What a PineConnector accfilter= is a minimum of: balance | equity | free_margin';
