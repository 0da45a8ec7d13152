-- 0011: trading at real brokers (issue 13, items 2-5).
--
-- 1. tv_strategies.magic: the MT5 magic number the strategy's orders carry. Signal
--    closes only touch positions with the strategy's magic (or, with close_scope
--    'all_companion', the magics of all the owner's strategies); manual positions
--    (magic 0) and other EAs' are never touched by a signal. Default: the next value
--    of a global sequence (so unique across users too); editable by the owner,
--    1 ..= 2^63-1 (MT5's magic is a ulong; kept in positive bigint range), unique
--    per user.
-- 2. tv_strategies.close_scope ('strategy' | 'all_companion') and
--    tv_strategies.opposite_entry ('reverse' | 'hedge' | 'reject').
-- 3. user_settings.trading_day_tz: the IANA time zone of the trader's day (daily
--    loss limit); a CHECK refuses names PostgreSQL does not know.
-- 4. broker_deals: closed deals (realised P&L) the agent reads from the terminal,
--    keyed by (broker_connection_id, deal) so a deal reported twice counts once.
--    Written only by the server (agent endpoint); the owner may read them (RLS).

-- ---------------------------------------------------------------------------
-- 1./2. tv_strategies
-- ---------------------------------------------------------------------------
CREATE SEQUENCE IF NOT EXISTS public.tv_strategies_magic_seq
  AS bigint START WITH 100001 MINVALUE 1;
GRANT USAGE, SELECT ON SEQUENCE public.tv_strategies_magic_seq TO authenticated, service_role;

ALTER TABLE public.tv_strategies ADD COLUMN IF NOT EXISTS magic bigint;
UPDATE public.tv_strategies SET magic = nextval('public.tv_strategies_magic_seq')
 WHERE magic IS NULL;
ALTER TABLE public.tv_strategies
  ALTER COLUMN magic SET DEFAULT nextval('public.tv_strategies_magic_seq'),
  ALTER COLUMN magic SET NOT NULL;
ALTER SEQUENCE public.tv_strategies_magic_seq OWNED BY public.tv_strategies.magic;
ALTER TABLE public.tv_strategies DROP CONSTRAINT IF EXISTS tv_strategies_magic_positive;
ALTER TABLE public.tv_strategies ADD CONSTRAINT tv_strategies_magic_positive CHECK (magic > 0);
ALTER TABLE public.tv_strategies DROP CONSTRAINT IF EXISTS tv_strategies_user_magic_key;
ALTER TABLE public.tv_strategies ADD CONSTRAINT tv_strategies_user_magic_key UNIQUE (user_id, magic);
COMMENT ON COLUMN public.tv_strategies.magic IS
  'MT5 magic number of the strategy''s orders; signal closes only touch positions with it';

ALTER TABLE public.tv_strategies ADD COLUMN IF NOT EXISTS close_scope text NOT NULL DEFAULT 'strategy';
ALTER TABLE public.tv_strategies DROP CONSTRAINT IF EXISTS tv_strategies_close_scope_check;
ALTER TABLE public.tv_strategies ADD CONSTRAINT tv_strategies_close_scope_check
  CHECK (close_scope IN ('strategy', 'all_companion'));
COMMENT ON COLUMN public.tv_strategies.close_scope IS
  'strategy = a close signal closes this strategy''s positions; all_companion = those of every strategy of the owner';

ALTER TABLE public.tv_strategies ADD COLUMN IF NOT EXISTS opposite_entry text NOT NULL DEFAULT 'reverse';
ALTER TABLE public.tv_strategies DROP CONSTRAINT IF EXISTS tv_strategies_opposite_entry_check;
ALTER TABLE public.tv_strategies ADD CONSTRAINT tv_strategies_opposite_entry_check
  CHECK (opposite_entry IN ('reverse', 'hedge', 'reject'));
COMMENT ON COLUMN public.tv_strategies.opposite_entry IS
  'An entry while the strategy holds the opposite side: reverse (close it first), hedge (open alongside; hedging accounts only), reject';

-- ---------------------------------------------------------------------------
-- 3. user_settings.trading_day_tz
-- ---------------------------------------------------------------------------
-- True when PostgreSQL knows the time zone name (IANA names such as Europe/Berlin,
-- or UTC). Declared immutable for the CHECK below: the zone database only grows.
CREATE OR REPLACE FUNCTION public.is_time_zone(p_tz text)
RETURNS boolean
LANGUAGE plpgsql
IMMUTABLE
SET search_path = ''
AS $fn$
BEGIN
  IF p_tz IS NULL OR length(p_tz) > 64 THEN
    RETURN false;
  END IF;
  PERFORM now() AT TIME ZONE p_tz;
  RETURN true;
EXCEPTION WHEN invalid_parameter_value THEN
  RETURN false;
END
$fn$;

ALTER TABLE public.user_settings ADD COLUMN IF NOT EXISTS trading_day_tz text NOT NULL DEFAULT 'UTC';
ALTER TABLE public.user_settings DROP CONSTRAINT IF EXISTS user_settings_trading_day_tz_check;
ALTER TABLE public.user_settings ADD CONSTRAINT user_settings_trading_day_tz_check
  CHECK (public.is_time_zone(trading_day_tz));
COMMENT ON COLUMN public.user_settings.trading_day_tz IS
  'IANA time zone in which the trader''s day (daily loss limit) starts at 00:00';

-- ---------------------------------------------------------------------------
-- 4. broker_deals
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS public.broker_deals (
  broker_connection_id uuid        NOT NULL REFERENCES public.broker_connections(id) ON DELETE CASCADE,
  deal                 bigint      NOT NULL,
  user_id              uuid        NOT NULL REFERENCES public.profiles(id) ON DELETE CASCADE,
  agent_id             uuid        REFERENCES public.mt5_agents(id) ON DELETE SET NULL,
  order_id             bigint      NOT NULL DEFAULT 0,
  position_id          bigint      NOT NULL DEFAULT 0,
  symbol               text        NOT NULL,
  side                 text        NOT NULL CHECK (side IN ('buy', 'sell')),
  entry                text        NOT NULL CHECK (entry IN ('in', 'out', 'inout', 'out_by')),
  volume               float8      NOT NULL,
  price                float8      NOT NULL,
  profit               float8      NOT NULL,
  swap                 float8      NOT NULL DEFAULT 0,
  commission           float8      NOT NULL DEFAULT 0,
  fee                  float8      NOT NULL DEFAULT 0,
  -- profit + swap + commission + fee
  net                  float8      NOT NULL,
  magic                bigint      NOT NULL DEFAULT 0,
  comment              text        NOT NULL DEFAULT '',
  -- DEAL_TIME as the trade server reports it (its clock, seconds)
  server_time          bigint      NOT NULL,
  -- the same instant in UTC (server_time - TerminalInfo.gmt_offset_secs)
  deal_time            timestamptz NOT NULL,
  received_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (broker_connection_id, deal)
);
COMMENT ON TABLE public.broker_deals IS
  'Closed deals read from the broker terminal (realised P&L of the whole account); written by the server only';

CREATE INDEX IF NOT EXISTS broker_deals_user_time_idx ON public.broker_deals (user_id, deal_time);
-- The foreign key to the agent that reported the deal (agent deletions look it up).
CREATE INDEX IF NOT EXISTS broker_deals_agent_idx ON public.broker_deals (agent_id);
CREATE INDEX IF NOT EXISTS broker_deals_connection_time_idx
  ON public.broker_deals (broker_connection_id, deal_time);

ALTER TABLE public.broker_deals ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS broker_deals_select ON public.broker_deals;
CREATE POLICY broker_deals_select ON public.broker_deals FOR SELECT TO authenticated
  USING (user_id = (SELECT auth.uid()));
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON public.broker_deals FROM anon, authenticated;
REVOKE ALL ON public.broker_deals FROM anon;
GRANT SELECT ON public.broker_deals TO authenticated;
