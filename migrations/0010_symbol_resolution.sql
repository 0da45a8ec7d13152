-- 0010: symbol resolution at real brokers (issue 13, item 1).
--
-- 1. The webhook's canonical instrument names changed (webhook/parse.rs
--    normalize_symbol): TradingView CFD tickers and other aliases map to one name
--    (`NAS100USD` → `NAS100`, `DE30EUR` → `GER40`, `GOLD` → `XAUUSD`, `BTCUSDT` →
--    `BTCUSD`), and a broker suffix is dropped (`EURUSD-ECN`, `EURUSDm`), where the
--    old rule kept `NAS100USD`, `EURUSDECN`, `EURUSDM`. public.canonical_symbol()
--    is that mapping for names stored by the old rule (upper-case letters and
--    digits), for the common cases. tv_strategies.allowed_pairs is rewritten with
--    it: an alias is replaced by its canonical name; a forex pair with a suffix
--    (`EURUSDM`) gets the six-letter pair added and keeps its old entry. The webhook
--    normalises stored pairs again when comparing, so an entry this misses still
--    matches what it matched before.
--    tv_signals.dedup_key is not rewritten: the webhook also looks for an explicit
--    id's key in the old spelling (webhook/dedup.rs), so a re-sent alert still dedups.
-- 2. broker_symbol_overrides: the trader's choice of broker symbol for a canonical
--    instrument, per broker connection; owned through broker_connections.user_id.

-- ---------------------------------------------------------------------------
-- 1. canonical names in allowed_pairs
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION public.canonical_symbol(p_name text)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = ''
AS $fn$
  WITH n AS (SELECT upper(regexp_replace(p_name, '[^A-Za-z0-9]', '', 'g')) AS u),
  aliases(alias, canonical) AS (VALUES
    ('GOLD', 'XAUUSD'),
    ('XAUUSDT', 'XAUUSD'),
    ('SILVER', 'XAGUSD'),
    ('PLATINUM', 'XPTUSD'),
    ('PALLADIUM', 'XPDUSD'),
    ('US30USD', 'US30'),
    ('DJ30', 'US30'),
    ('WS30', 'US30'),
    ('DJI', 'US30'),
    ('USA30', 'US30'),
    ('DOW30', 'US30'),
    ('DJIA', 'US30'),
    ('YM', 'US30'),
    ('NAS100USD', 'NAS100'),
    ('USTEC', 'NAS100'),
    ('US100', 'NAS100'),
    ('NDX', 'NAS100'),
    ('USTECH', 'NAS100'),
    ('USTECH100', 'NAS100'),
    ('NQ', 'NAS100'),
    ('NSDQ100', 'NAS100'),
    ('SPX500USD', 'SPX500'),
    ('US500', 'SPX500'),
    ('SP500', 'SPX500'),
    ('SPX', 'SPX500'),
    ('USA500', 'SPX500'),
    ('ES', 'SPX500'),
    ('US2000USD', 'US2000'),
    ('RUSSELL2000', 'US2000'),
    ('RUT', 'US2000'),
    ('US2000CASH', 'US2000'),
    ('DE30EUR', 'GER40'),
    ('DE40EUR', 'GER40'),
    ('DE40', 'GER40'),
    ('GER30', 'GER40'),
    ('DAX40', 'GER40'),
    ('DE30', 'GER40'),
    ('DAX', 'GER40'),
    ('GER40EUR', 'GER40'),
    ('UK100GBP', 'UK100'),
    ('FTSE100', 'UK100'),
    ('FTSE', 'UK100'),
    ('UKX', 'UK100'),
    ('JP225USD', 'JPN225'),
    ('JP225', 'JPN225'),
    ('NIKKEI225', 'JPN225'),
    ('NIKKEI', 'JPN225'),
    ('NI225', 'JPN225'),
    ('JPN225USD', 'JPN225'),
    ('FR40EUR', 'FRA40'),
    ('FRA40EUR', 'FRA40'),
    ('FR40', 'FRA40'),
    ('CAC40', 'FRA40'),
    ('CAC', 'FRA40'),
    ('EU50EUR', 'EU50'),
    ('STOXX50', 'EU50'),
    ('EUSTX50', 'EU50'),
    ('STOXX50E', 'EU50'),
    ('ESTX50', 'EU50'),
    ('AU200AUD', 'AUS200'),
    ('AUS200AUD', 'AUS200'),
    ('AU200', 'AUS200'),
    ('ASX200', 'AUS200'),
    ('HK33HKD', 'HK50'),
    ('HK50HKD', 'HK50'),
    ('HSI', 'HK50'),
    ('HK33', 'HK50'),
    ('WTICOUSD', 'USOIL'),
    ('WTI', 'USOIL'),
    ('XTIUSD', 'USOIL'),
    ('CL', 'USOIL'),
    ('USCRUDE', 'USOIL'),
    ('CRUDEOIL', 'USOIL'),
    ('OILUS', 'USOIL'),
    ('WTIUSD', 'USOIL'),
    ('BCOUSD', 'UKOIL'),
    ('BRENT', 'UKOIL'),
    ('XBRUSD', 'UKOIL'),
    ('BRN', 'UKOIL'),
    ('UKBRENT', 'UKOIL'),
    ('OILUK', 'UKOIL'),
    ('BRENTUSD', 'UKOIL'),
    ('NATGASUSD', 'NATGAS'),
    ('XNGUSD', 'NATGAS'),
    ('NG', 'NATGAS'),
    ('NGAS', 'NATGAS'),
    ('BTCUSDT', 'BTCUSD'),
    ('BITCOIN', 'BTCUSD'),
    ('XBTUSD', 'BTCUSD'),
    ('BTCUSDC', 'BTCUSD'),
    ('ETHUSDT', 'ETHUSD'),
    ('ETHEREUM', 'ETHUSD'),
    ('ETHUSDC', 'ETHUSD'),
    ('LTCUSDT', 'LTCUSD'),
    ('LITECOIN', 'LTCUSD'),
    ('XRPUSDT', 'XRPUSD'),
    ('RIPPLE', 'XRPUSD'),
    ('SOLUSDT', 'SOLUSD'),
    ('SOLANA', 'SOLUSD')
  )
  SELECT coalesce(
    (SELECT a.canonical FROM aliases a, n WHERE a.alias = n.u),
    (SELECT substr(n.u, 1, 6) FROM n
      WHERE n.u ~ '^(EUR|GBP|USD|AUD|NZD|CAD|CHF|JPY)[A-Z]{3}(M|ECN|PRO|RAW|STD|R|I)$'),
    (SELECT n.u FROM n))
$fn$;
COMMENT ON FUNCTION public.canonical_symbol(text) IS
  'The webhook''s canonical instrument for a name stored by the pre-0010 normaliser (common cases)';

UPDATE public.tv_strategies s
   SET allowed_pairs = ARRAY(
         SELECT v.name
           FROM (SELECT e.name, min(e.o) AS o
                   FROM (SELECT public.canonical_symbol(p) AS name, 2 * o AS o
                           FROM unnest(s.allowed_pairs) WITH ORDINALITY AS u(p, o)
                         UNION ALL
                         -- keep a suffixed forex entry beside its pair
                         SELECT p, 2 * o + 1
                           FROM unnest(s.allowed_pairs) WITH ORDINALITY AS u(p, o)
                          WHERE p ~ '^(EUR|GBP|USD|AUD|NZD|CAD|CHF|JPY)[A-Z]{3}(M|ECN|PRO|RAW|STD|R|I)$') e
                  GROUP BY e.name) v
          ORDER BY v.o)
 WHERE s.allowed_pairs IS NOT NULL
   AND EXISTS (SELECT 1 FROM unnest(s.allowed_pairs) p
                WHERE public.canonical_symbol(p) IS DISTINCT FROM p);

-- ---------------------------------------------------------------------------
-- 2. broker_symbol_overrides
-- ---------------------------------------------------------------------------
CREATE TABLE public.broker_symbol_overrides (
  broker_connection_id uuid        NOT NULL REFERENCES public.broker_connections(id) ON DELETE CASCADE,
  canonical            text        NOT NULL CHECK (canonical ~ '^[A-Z0-9]{2,20}$'),
  broker_symbol        text        NOT NULL CHECK (length(broker_symbol) BETWEEN 1 AND 32
                                                   AND broker_symbol = btrim(broker_symbol)),
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (broker_connection_id, canonical)
);
COMMENT ON TABLE public.broker_symbol_overrides IS
  'The broker symbol the agent uses for a canonical instrument, set by the trader';

CREATE TRIGGER broker_symbol_overrides_set_updated_at BEFORE UPDATE ON public.broker_symbol_overrides
  FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();

ALTER TABLE public.broker_symbol_overrides ENABLE ROW LEVEL SECURITY;
CREATE POLICY broker_symbol_overrides_select ON public.broker_symbol_overrides FOR SELECT TO authenticated
  USING (EXISTS (SELECT 1 FROM public.broker_connections b
                  WHERE b.id = broker_connection_id AND b.user_id = (SELECT auth.uid())));
CREATE POLICY broker_symbol_overrides_insert ON public.broker_symbol_overrides FOR INSERT TO authenticated
  WITH CHECK (EXISTS (SELECT 1 FROM public.broker_connections b
                       WHERE b.id = broker_connection_id AND b.user_id = (SELECT auth.uid())));
CREATE POLICY broker_symbol_overrides_update ON public.broker_symbol_overrides FOR UPDATE TO authenticated
  USING (EXISTS (SELECT 1 FROM public.broker_connections b
                  WHERE b.id = broker_connection_id AND b.user_id = (SELECT auth.uid())))
  WITH CHECK (EXISTS (SELECT 1 FROM public.broker_connections b
                       WHERE b.id = broker_connection_id AND b.user_id = (SELECT auth.uid())));
CREATE POLICY broker_symbol_overrides_delete ON public.broker_symbol_overrides FOR DELETE TO authenticated
  USING (EXISTS (SELECT 1 FROM public.broker_connections b
                  WHERE b.id = broker_connection_id AND b.user_id = (SELECT auth.uid())));
