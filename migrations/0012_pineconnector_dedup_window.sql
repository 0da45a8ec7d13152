-- 0012 PineConnector alerts and the de-duplication window (issue #14, items 4 and 5).
--
--  * tv_strategies.alert_dialect: 'auto' (every syntax; a message shaped
--    `<digits>,<PineConnector command>,...` is read as PineConnector) or
--    'pineconnector' (only PineConnector messages are accepted);
--  * tv_strategies.pineconnector_license_id: when set, PineConnector messages with
--    another licence are refused (`license_mismatch`);
--  * tv_strategies.pc_volume_type / pc_target_type: what bare `risk=` and
--    `sl=` / `tp=` of a PineConnector message mean, as the PineConnector EA's
--    "Volume Type" and "Target Type" settings do. Defaults are PineConnector's:
--    Lots and Pips. Values Companion cannot execute yet are allowed here (so a
--    trader can copy the EA's setting) and refused per signal with a reason.
--    Strategies that exist when this runs get 'percent_balance_risk' instead: their
--    comma alerts (`<id>,buy,EURUSD,risk=1`) meant 1 % of the balance before 0012,
--    and an alert that already works must not start meaning 1 lot;
--  * tv_strategies.dedup_window_secs: a signal whose explicit id matches a signal
--    of the same strategy received within this many seconds is a duplicate;
--    0 = forever (the behaviour before 0012). Existing strategies get 300 s;
--  * tv_signals.dedup_base: the key without its time bucket (what a repeat is
--    looked up by, whatever the window was when the earlier signal came);
--  * tv_signals.duplicate_of: on a `duplicate` row, the earlier signal it matched.
-- Re-running this file is a no-op.

ALTER TABLE public.tv_strategies
  ADD COLUMN IF NOT EXISTS alert_dialect text NOT NULL DEFAULT 'auto',
  ADD COLUMN IF NOT EXISTS pineconnector_license_id text,
  ADD COLUMN IF NOT EXISTS pc_volume_type text,
  ADD COLUMN IF NOT EXISTS pc_target_type text NOT NULL DEFAULT 'pips',
  ADD COLUMN IF NOT EXISTS dedup_window_secs integer NOT NULL DEFAULT 300;

-- Existing strategies keep what `risk=` meant for them (percent); new ones get Lots.
UPDATE public.tv_strategies SET pc_volume_type = 'percent_balance_risk' WHERE pc_volume_type IS NULL;
ALTER TABLE public.tv_strategies ALTER COLUMN pc_volume_type SET DEFAULT 'lots';
ALTER TABLE public.tv_strategies ALTER COLUMN pc_volume_type SET NOT NULL;

ALTER TABLE public.tv_strategies DROP CONSTRAINT IF EXISTS tv_strategies_alert_dialect_check;
ALTER TABLE public.tv_strategies ADD CONSTRAINT tv_strategies_alert_dialect_check
  CHECK (alert_dialect IN ('auto', 'pineconnector'));
ALTER TABLE public.tv_strategies DROP CONSTRAINT IF EXISTS tv_strategies_pineconnector_license_id_check;
ALTER TABLE public.tv_strategies ADD CONSTRAINT tv_strategies_pineconnector_license_id_check
  CHECK (pineconnector_license_id ~ '^[0-9]{1,32}$');
ALTER TABLE public.tv_strategies DROP CONSTRAINT IF EXISTS tv_strategies_pc_volume_type_check;
ALTER TABLE public.tv_strategies ADD CONSTRAINT tv_strategies_pc_volume_type_check
  CHECK (pc_volume_type IN ('lots', 'percent_balance_risk', 'dollar_risk',
                            'percent_balance_lots', 'percent_balance_margin'));
ALTER TABLE public.tv_strategies DROP CONSTRAINT IF EXISTS tv_strategies_pc_target_type_check;
ALTER TABLE public.tv_strategies ADD CONSTRAINT tv_strategies_pc_target_type_check
  CHECK (pc_target_type IN ('pips', 'price', 'points', 'percentage'));
ALTER TABLE public.tv_strategies DROP CONSTRAINT IF EXISTS tv_strategies_dedup_window_secs_check;
ALTER TABLE public.tv_strategies ADD CONSTRAINT tv_strategies_dedup_window_secs_check
  CHECK (dedup_window_secs BETWEEN 0 AND 31536000);

COMMENT ON COLUMN public.tv_strategies.alert_dialect IS 'auto | pineconnector: which alert syntaxes the webhook accepts (docs/webhook.md)';
COMMENT ON COLUMN public.tv_strategies.pineconnector_license_id IS 'When set, PineConnector alerts must carry this licence id';
COMMENT ON COLUMN public.tv_strategies.pc_volume_type IS 'PineConnector "Volume Type": what risk= means (lots | percent_balance_risk executed; others refused)';
COMMENT ON COLUMN public.tv_strategies.pc_target_type IS 'PineConnector "Target Type": what sl= / tp= mean (pips | price executed; others refused)';
COMMENT ON COLUMN public.tv_strategies.dedup_window_secs IS 'A repeated explicit signal id within this many seconds is a duplicate; 0 = forever';

ALTER TABLE public.tv_signals
  ADD COLUMN IF NOT EXISTS dedup_base text,
  ADD COLUMN IF NOT EXISTS duplicate_of uuid REFERENCES public.tv_signals (id) ON DELETE SET NULL;

COMMENT ON COLUMN public.tv_signals.dedup_base IS 'De-duplication key without its time bucket; repeats are looked up by it';
-- The foreign key's index (a deleted signal's duplicates are looked up by it).
CREATE INDEX IF NOT EXISTS tv_signals_duplicate_of_idx ON public.tv_signals (duplicate_of);
COMMENT ON COLUMN public.tv_signals.duplicate_of IS 'For a signal discarded as duplicate: the earlier signal it matched';

CREATE INDEX IF NOT EXISTS tv_signals_strategy_dedup_base_idx
  ON public.tv_signals (strategy_id, dedup_base, received_at DESC)
  WHERE dedup_base IS NOT NULL;
