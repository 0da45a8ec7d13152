//! The TradingView alert message parser: turns a webhook body (JSON, a plain-text
//! line such as `sell 0.5 XAUUSD sl=20 tp=40`, the comma syntax
//! `<id>,buy,EURUSD,risk=1,sl=20,tp=40`, or TradingView's default strategy message)
//! into a normalised [`ParsedSignal`], or a typed [`Rejection`] with whatever could
//! be read (for the `tv_signals` row). Pure: no I/O, never panics.

use chrono::{DateTime, Utc};
use companion_protocol::{
    OrderType, PriceDistance, PriceUnit, SignalAction, StopLevel, VolumeSpec,
};
use serde_json::{Map, Value};

/// Largest accepted explicit volume, in lots. TradingView's
/// `{{strategy.order.contracts}}` counts units for forex (100000 = 1 lot); such
/// values are refused rather than guessed at.
pub const MAX_VOLUME_LOTS: f64 = 1000.0;
/// Prices must fit `tv_signals.price numeric(12,5)`.
pub const MAX_PRICE: f64 = 9_999_999.0;
/// Stop / target distances in pips.
pub const MAX_PIPS: f64 = 100_000.0;
/// Risk per trade in percent (the bounds of `user_settings.risk_percent`).
pub const MIN_RISK_PCT: f64 = 0.1;
pub const MAX_RISK_PCT: f64 = 10.0;
/// Longest pending-order expiry, seconds from arrival (one year).
pub const MAX_EXPIRY_SECS: f64 = 31_536_000.0;
/// Largest entry offset in percent of the price.
pub const MAX_PERCENT: f64 = 100.0;
/// Longest signal id / comment kept.
pub const MAX_KEY_LEN: usize = 128;
pub const MAX_COMMENT_LEN: usize = 256;
/// Largest money amount at risk (`risk_money`), account currency.
pub const MAX_RISK_MONEY: f64 = 1e9;
/// Largest entry offset or stop distance in points.
pub const MAX_POINTS: f64 = 10_000_000.0;
/// Largest stop distance in percent of the price.
pub const MAX_STOP_PERCENT: f64 = 1_000.0;
/// Largest % of balance as lots / as margin.
pub const MAX_VOLUME_PERCENT: f64 = 100.0;

/// Which of the strategy's positions a close signal closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CloseTarget {
    /// `close`, `exit`, `flat`, `market_position=flat`: buys and sells on the symbol.
    #[default]
    Both,
    /// `close_long`, `exit_long`, `closelong`: buys only.
    Long,
    /// `close_short`, `exit_short`, `closeshort`: sells only.
    Short,
    /// `closeall`, `close_all`, `exit_all`: every position on every symbol.
    All,
}

impl CloseTarget {
    /// The word in dedup keys (`close` for both sides, as before targets existed).
    pub fn key_word(self) -> &'static str {
        match self {
            CloseTarget::Both => "close",
            CloseTarget::Long => "close_long",
            CloseTarget::Short => "close_short",
            CloseTarget::All => "close_all",
        }
    }
}

/// When a pending order expires: at a time, or this many seconds after the signal
/// arrived (resolved at ingest).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Expiry {
    At(DateTime<Utc>),
    AfterSecs(i64),
}

/// The symbol recorded for a `closeall` without a symbol.
pub const ALL_SYMBOLS: &str = "*";

/// A signal as the rest of the pipeline needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSignal {
    pub action: SignalAction,
    /// For `Close`: which positions (ignored for buy/sell).
    pub close: CloseTarget,
    /// The canonical instrument (`OANDA:EURUSD` → `EURUSD`, `OANDA:NAS100USD` →
    /// `NAS100`): allowed pairs, de-duplication and sizing use it; [`ALL_SYMBOLS`]
    /// for a `closeall` that named none.
    pub symbol: String,
    /// The alert's own spelling when it differs from `symbol` (`US30.cash`).
    pub raw_symbol: Option<String>,
    pub price: Option<f64>,
    /// Lots.
    pub volume: Option<f64>,
    /// Percent of balance, 0.1..=10.
    pub risk_pct: Option<f64>,
    pub sl_pips: Option<f64>,
    pub tp_pips: Option<f64>,
    /// Stop loss as a price.
    pub sl: Option<f64>,
    /// Take profit as a price.
    pub tp: Option<f64>,
    /// The sender's id for this signal (an explicit id or a timestamp): the dedup key.
    pub signal_key: Option<String>,
    pub comment: Option<String>,
    /// A close's `percent` (0 < p <= 100) of each position: a partial close.
    pub close_percent: Option<f64>,
    /// A size the agent computes at the terminal (money or % of equity at risk,
    /// % of balance as lots or margin); `volume` / `risk_pct` are then absent.
    pub volume_spec: Option<VolumeSpec>,
    /// Stop loss / take profit in points or percent of the entry (the agent
    /// converts them); absent when given as pips or a price.
    pub sl_distance: Option<PriceDistance>,
    pub tp_distance: Option<PriceDistance>,
    /// This alert's maximum spread (PineConnector `spread=`, pips).
    pub max_spread: Option<PriceDistance>,
    /// This alert's account minimum (PineConnector `accfilter=`; the strategy's
    /// `pc_account_filter` says of what).
    pub account_min: Option<f64>,
    /// Breakeven rule of an entry (`be_trigger_pips`, `betrigger=`, …).
    pub breakeven: Option<companion_protocol::BreakevenSpec>,
    /// Trailing-stop rule of an entry (`trail_dist_pips`, `traildist=`, …).
    pub trailing: Option<companion_protocol::TrailingSpec>,
    /// A close's lots of each position (`close_volume`): a partial close.
    pub close_volume: Option<f64>,
    /// A pending entry (`buy_limit`, `sell_stop`, ...): `limit` or `stop`; `None` =
    /// market.
    pub order_type: Option<OrderType>,
    /// A pending entry's price (`price`, `entry`, `entry_price`; not `close`).
    pub entry_price: Option<f64>,
    /// A pending entry's distance from the current price (`entry_pips`, ...).
    pub entry_offset: Option<PriceDistance>,
    /// A pending entry's expiry (absent: good till cancelled).
    pub expiry: Option<Expiry>,
    /// `Modify`: the new stop loss / take profit, each in its explicit unit.
    pub new_sl: Option<StopLevel>,
    pub new_tp: Option<StopLevel>,
    /// An entry that first closes the strategy's positions of its own side
    /// (PineConnector `closelongbuy` / `closeshortsell`).
    pub close_same_side: bool,
    /// Pause the strategy once the job is queued (PineConnector `closealleaoff`).
    pub then_pause: bool,
}

impl ParsedSignal {
    /// A signal with only an action and a symbol.
    pub fn new(action: SignalAction, symbol: impl Into<String>) -> Self {
        ParsedSignal {
            action,
            close: CloseTarget::Both,
            symbol: symbol.into(),
            raw_symbol: None,
            price: None,
            volume: None,
            risk_pct: None,
            sl_pips: None,
            tp_pips: None,
            sl: None,
            tp: None,
            signal_key: None,
            comment: None,
            close_percent: None,
            volume_spec: None,
            sl_distance: None,
            tp_distance: None,
            max_spread: None,
            account_min: None,
            breakeven: None,
            trailing: None,
            close_volume: None,
            order_type: None,
            entry_price: None,
            entry_offset: None,
            expiry: None,
            new_sl: None,
            new_tp: None,
            close_same_side: false,
            then_pause: false,
        }
    }

    /// True for a buy or sell (market or pending).
    pub fn is_entry(&self) -> bool {
        matches!(self.action, SignalAction::Buy | SignalAction::Sell)
    }

    /// The action as de-duplication sees it: closes of different targets differ.
    pub fn dedup_action(&self) -> &'static str {
        match (self.action, self.order_type, self.close) {
            (SignalAction::Close, _, t) => t.key_word(),
            (SignalAction::Buy, Some(OrderType::Limit), _) => "buy_limit",
            (SignalAction::Buy, Some(OrderType::Stop), _) => "buy_stop",
            (SignalAction::Sell, Some(OrderType::Limit), _) => "sell_limit",
            (SignalAction::Sell, Some(OrderType::Stop), _) => "sell_stop",
            (SignalAction::Modify, _, CloseTarget::Long) => "modify_long",
            (SignalAction::Modify, _, CloseTarget::Short) => "modify_short",
            (SignalAction::Cancel, _, CloseTarget::Long) => "cancel_long",
            (SignalAction::Cancel, _, CloseTarget::Short) => "cancel_short",
            (a, _, _) => a.as_str(),
        }
    }
}

/// Why a body is not a usable signal. `code()` is stable (stored in
/// `tv_signals.error_message` as `code: message`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rejection {
    #[error("the body is empty")]
    Empty,
    #[error("the body is not valid UTF-8 text")]
    NotUtf8,
    #[error("unreplaced TradingView placeholder {0} (the alert was created without a strategy or with a misspelt variable)")]
    Placeholder(String),
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("no action: say buy, sell or close")]
    MissingAction,
    #[error("unknown action {0:?}: use buy/long, sell/short or close/exit/flat")]
    UnknownAction(String),
    #[error("conflicting actions {0:?} and {1:?}")]
    ConflictingActions(String, String),
    #[error("no symbol: add symbol/ticker (e.g. \"symbol\": \"{{{{ticker}}}}\")")]
    MissingSymbol,
    #[error("invalid symbol {0:?}")]
    InvalidSymbol(String),
    #[error("invalid {field}: {value:?} ({why})")]
    InvalidNumber {
        field: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("unexpected word {0:?} in the message")]
    UnexpectedToken(String),
    #[error("{0}")]
    InvalidStops(&'static str),
    /// A field that does not belong to the command, or a command missing one.
    #[error("{0}")]
    InvalidCommand(&'static str),
    #[error("invalid expiry {0:?}: an RFC 3339 time (2026-12-01T16:00:00Z) or Unix seconds in `expiry`, or seconds from now in `expiry_secs`")]
    InvalidExpiry(String),
    #[error("{0}")]
    Conflict(&'static str),
}

impl Rejection {
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Empty => "empty",
            Rejection::NotUtf8 => "not_utf8",
            Rejection::Placeholder(_) => "placeholder",
            Rejection::MalformedJson(_) => "malformed_json",
            Rejection::MissingAction => "missing_action",
            Rejection::UnknownAction(_) | Rejection::ConflictingActions(..) => "unknown_action",
            Rejection::MissingSymbol => "missing_symbol",
            Rejection::InvalidSymbol(_) => "invalid_symbol",
            Rejection::InvalidNumber { field, .. } if *field == "volume" => "invalid_volume",
            Rejection::InvalidNumber { .. } => "invalid_number",
            Rejection::UnexpectedToken(_) => "unexpected_token",
            Rejection::InvalidStops(_) => "invalid_stops",
            Rejection::InvalidCommand(_) => "invalid_command",
            Rejection::InvalidExpiry(_) => "invalid_expiry",
            Rejection::Conflict(_) => "conflicting_fields",
        }
    }
}

/// What could be read from a rejected body (for the row that logs it).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Partial {
    pub action: Option<SignalAction>,
    pub symbol: Option<String>,
    pub price: Option<f64>,
}

/// A rejected body: the reason and what was readable.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub reason: Rejection,
    pub partial: Partial,
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reason.code(), self.reason)
    }
}

/// Parses a webhook body.
pub fn parse(body: &[u8]) -> Result<ParsedSignal, Rejected> {
    let reject = |reason| Rejected {
        reason,
        partial: Partial::default(),
    };
    let text = std::str::from_utf8(body).map_err(|_| reject(Rejection::NotUtf8))?;
    let text = text.trim_start_matches('\u{feff}').trim();
    if text.is_empty() {
        return Err(reject(Rejection::Empty));
    }
    let mut fields = Fields::default();
    let parsed = if text.starts_with('{') || text.starts_with('[') {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => read_json(&map, &mut fields),
            Ok(_) => Err(Rejection::MalformedJson(
                "the message must be a JSON object".into(),
            )),
            Err(e) => Err(Rejection::MalformedJson(e.to_string())),
        }
    } else if text.starts_with('"') {
        match serde_json::from_str::<String>(text) {
            Ok(inner) => read_text(inner.trim(), &mut fields),
            Err(_) => read_text(text, &mut fields),
        }
    } else {
        read_text(text, &mut fields)
    };
    // An unreplaced placeholder anywhere wins over every other reason: it says the
    // alert itself is misconfigured.
    let outcome = match find_placeholder(text) {
        Some(p) => Err(Rejection::Placeholder(p)),
        None => parsed.and_then(|()| fields.finish()),
    };
    outcome.map_err(|reason| Rejected {
        reason,
        partial: Partial {
            action: fields.action,
            symbol: fields.symbol.clone(),
            price: fields.price,
        },
    })
}

/// Exchanges whose tickers are stocks: their names are never read as instrument
/// aliases (`NYSE:GOLD` is Barrick Gold, not gold).
const STOCK_EXCHANGES: &[&str] = &["NYSE", "NASDAQ", "AMEX", "BATS", "LSE", "XETR", "TSX"];

/// The alert's own spelling of a symbol: whitespace and the exchange prefix
/// (`OANDA:`, `FX:`, `TVC:`, `PEPPERSTONE:` ...) removed, nothing else changed.
pub fn strip_exchange(raw: &str) -> &str {
    let s = raw.trim();
    s.rsplit(':').next().unwrap_or(s).trim()
}

/// The canonical instrument a symbol means, as TradingView or a broker may spell
/// it: exchange prefix removed (`OANDA:EURUSD`), broker suffix removed
/// (`EURUSD.pro`, `US30.cash`, `EURUSD-ECN`, `EURUSDm`), separators dropped
/// (`EUR/USD`, `EUR_USD`, `BTC-USD`), upper case, then TradingView CFD tickers and
/// other aliases mapped to one name (`NAS100USD` → `NAS100`, `DE30EUR` → `GER40`,
/// `TVC:GOLD` → `XAUUSD`, `BTCUSDT` → `BTCUSD`; see
/// [`companion_protocol::symbols::INSTRUMENT_ALIASES`]).
pub fn normalize_symbol(raw: &str) -> String {
    let trimmed = raw.trim();
    let exchange = trimmed
        .rsplit_once(':')
        .map(|(e, _)| e.trim().to_ascii_uppercase());
    let s = strip_exchange(raw);
    // A broker suffix after a dot: `EURUSD.pro`, `US30.cash`.
    let s = s.split('.').next().unwrap_or(s);
    // A dash before a broker suffix (`EURUSD-ECN`), not between two currencies
    // (`EUR-USD`, `BTC-USD`).
    let s = match s.split_once('-') {
        Some((head, _)) if alnum_len(head) >= 4 => head,
        _ => s,
    };
    let s = strip_lowercase_suffix(s);
    let base: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let stock = exchange.is_some_and(|e| STOCK_EXCHANGES.contains(&e.as_str()));
    match companion_protocol::symbols::canonical_alias(&base) {
        Some(canonical) if !stock => canonical.to_string(),
        _ => base,
    }
}

fn alnum_len(s: &str) -> usize {
    s.chars().filter(|c| c.is_ascii_alphanumeric()).count()
}

/// `EURUSDm` → `EURUSD`, `US30m` → `US30`: a run of lower-case letters after an
/// upper-case name of at least 3 characters is a broker suffix. All-lower-case
/// (`eurusd`) and mixed names (`Gold`) are kept.
fn strip_lowercase_suffix(s: &str) -> &str {
    let head = s.trim_end_matches(|c: char| c.is_ascii_lowercase());
    let is_suffix = head.len() < s.len()
        && alnum_len(head) >= 3
        && !head.chars().any(|c| c.is_ascii_lowercase())
        && head.chars().any(|c| c.is_ascii_uppercase());
    if is_suffix {
        head
    } else {
        s
    }
}

/// How the old normaliser (before migration 0010) spelled a symbol: exchange
/// prefix and everything after a dot removed, letters and digits upper-cased, no
/// aliases. Explicit de-duplication keys stored before then use it.
pub fn legacy_normalize_symbol(raw: &str) -> String {
    let s = raw.trim();
    let s = s.rsplit(':').next().unwrap_or(s);
    let s = s.split('.').next().unwrap_or(s);
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// A symbol as an alert named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolName {
    /// The canonical instrument ([`normalize_symbol`]).
    pub canonical: String,
    /// The alert's spelling ([`strip_exchange`]) when it differs from the
    /// canonical name other than by case.
    pub raw: Option<String>,
}

/// Longest raw symbol kept (the agent API's symbol limit).
pub const MAX_RAW_SYMBOL_LEN: usize = 32;

/// The symbol if `raw` is a plausible instrument name: letters, digits and
/// `: . _ / - !` only; 2 to 20 letters and digits after normalising.
pub fn read_symbol(raw: &str) -> Option<SymbolName> {
    let allowed =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '_' | '/' | '-' | '!' | ' ');
    if !raw.chars().all(allowed) {
        return None;
    }
    let canonical = normalize_symbol(raw);
    let ok =
        (2..=20).contains(&canonical.len()) && canonical.chars().any(|c| c.is_ascii_alphabetic());
    if !ok {
        return None;
    }
    let own = strip_exchange(raw);
    let alert_spelling = (!own.eq_ignore_ascii_case(&canonical) && own.len() <= MAX_RAW_SYMBOL_LEN)
        .then(|| own.to_string());
    Some(SymbolName {
        canonical,
        raw: alert_spelling,
    })
}

/// The canonical symbol if `raw` is a plausible instrument name ([`read_symbol`]).
pub fn valid_symbol(raw: &str) -> Option<String> {
    read_symbol(raw).map(|s| s.canonical)
}

fn find_placeholder(text: &str) -> Option<String> {
    let start = text.find("{{")?;
    let rest = &text[start..];
    let end = rest.find("}}")?;
    let p: String = rest[..end + 2].chars().take(64).collect();
    Some(p)
}

/// Maps an action word (case-insensitive) to an action.
pub fn action_word(word: &str) -> Option<SignalAction> {
    action_and_target(word).map(|(a, _)| a)
}

/// An action word's action and, for closes, which positions it closes.
pub fn action_and_target(word: &str) -> Option<(SignalAction, CloseTarget)> {
    command_word(word).map(|(a, t, _)| (a, t))
}

/// A command word's action, the side it selects (closes, modify, cancel: `Long` =
/// buys, `Short` = sells) and, for pending entries, the order type.
pub fn command_word(word: &str) -> Option<(SignalAction, CloseTarget, Option<OrderType>)> {
    let w = word.trim().to_ascii_lowercase().replace(['-', ' '], "_");
    let pending = |a, t| Some((a, CloseTarget::Both, Some(t)));
    let on = |a, t| Some((a, t, None));
    match w.as_str() {
        "buy_limit" | "buylimit" => return pending(SignalAction::Buy, OrderType::Limit),
        "buy_stop" | "buystop" => return pending(SignalAction::Buy, OrderType::Stop),
        "sell_limit" | "selllimit" => return pending(SignalAction::Sell, OrderType::Limit),
        "sell_stop" | "sellstop" => return pending(SignalAction::Sell, OrderType::Stop),
        "modify" | "modify_sltp" | "modify_sl_tp" => {
            return on(SignalAction::Modify, CloseTarget::Both)
        }
        "modify_long" | "modify_buy" | "newsltplong" => {
            return on(SignalAction::Modify, CloseTarget::Long)
        }
        "modify_short" | "modify_sell" | "newsltpshort" => {
            return on(SignalAction::Modify, CloseTarget::Short)
        }
        "cancel" | "cancel_orders" => return on(SignalAction::Cancel, CloseTarget::Both),
        "cancel_long" | "cancel_buy" | "cancellong" => {
            return on(SignalAction::Cancel, CloseTarget::Long)
        }
        "cancel_short" | "cancel_sell" | "cancelshort" => {
            return on(SignalAction::Cancel, CloseTarget::Short)
        }
        _ => {}
    }
    legacy_action_word(&w).map(|(a, t)| (a, t, None))
}

fn legacy_action_word(w: &str) -> Option<(SignalAction, CloseTarget)> {
    let close = |t| Some((SignalAction::Close, t));
    match w {
        "buy" | "long" | "enter_long" | "go_long" => Some((SignalAction::Buy, CloseTarget::Both)),
        "sell" | "short" | "enter_short" | "go_short" => {
            Some((SignalAction::Sell, CloseTarget::Both))
        }
        "close" | "exit" | "flat" | "flatten" => close(CloseTarget::Both),
        "close_long" | "closelong" | "exit_long" | "exitlong" => close(CloseTarget::Long),
        "close_short" | "closeshort" | "exit_short" | "exitshort" => close(CloseTarget::Short),
        "close_all" | "closeall" | "exit_all" | "exitall" => close(CloseTarget::All),
        _ => None,
    }
}

/// The named fields a message may carry, by their accepted spellings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Action,
    MarketPosition,
    Symbol,
    Price,
    Volume,
    Risk,
    Sl,
    Tp,
    SlPips,
    TpPips,
    Id,
    Comment,
    ClosePercent,
    /// `close`: the bar's close (logged price; never a pending order's price).
    BarClose,
    CloseVolume,
    EntryOffset(PriceUnit),
    Expiry,
    ExpirySecs,
    RiskMoney,
    RiskEquity,
    BalanceLotsPct,
    MarginPct,
    SlPoints,
    TpPoints,
    SlPercent,
    TpPercent,
    /// A breakeven/trailing parameter ([`super::stop_rules`]).
    Rule(RuleKey),
}

/// The breakeven/trailing keys (every distance in pips).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RuleKey {
    BeTrigger,
    BeOffset,
    TrailTrigger,
    TrailDist,
    TrailStep,
    AtrTimeframe,
    AtrPeriod,
    AtrMultiplier,
}

fn key_of(name: &str) -> Option<Key> {
    let n = name
        .trim()
        .to_ascii_lowercase()
        .replace(['-', ' ', '.'], "_");
    Some(match n.as_str() {
        "action"
        | "side"
        | "order"
        | "order_action"
        | "strategy_order_action"
        | "signal"
        | "direction" => Key::Action,
        "market_position" | "strategy_market_position" | "position" => Key::MarketPosition,
        "symbol" | "ticker" | "pair" | "instrument" | "market" => Key::Symbol,
        "price" | "entry" | "entry_price" => Key::Price,
        "close" => Key::BarClose,
        "close_volume" | "close_lots" | "partial_lots" => Key::CloseVolume,
        "entry_pips" | "offset_pips" => Key::EntryOffset(PriceUnit::Pips),
        "entry_points" | "offset_points" => Key::EntryOffset(PriceUnit::Points),
        "entry_percent" | "entry_pct" | "offset_percent" | "offset_pct" => {
            Key::EntryOffset(PriceUnit::Percent)
        }
        "expiry" | "expires_at" | "expiration" => Key::Expiry,
        "expiry_secs" | "expires_in" | "expiry_seconds" => Key::ExpirySecs,
        "volume"
        | "qty"
        | "quantity"
        | "contracts"
        | "lots"
        | "lot"
        | "size"
        | "order_contracts"
        | "strategy_order_contracts" => Key::Volume,
        "risk" | "risk_pct" | "risk_percent" => Key::Risk,
        "sl" | "stop_loss" | "stoploss" | "stop" | "sl_price" => Key::Sl,
        "tp" | "take_profit" | "takeprofit" | "target" | "tp_price" => Key::Tp,
        "sl_pips" | "stop_loss_pips" | "stoploss_pips" | "stop_pips" => Key::SlPips,
        "tp_pips" | "take_profit_pips" | "takeprofit_pips" | "target_pips" => Key::TpPips,
        "id" | "signal_id" | "alert_id" | "timestamp" | "time" | "timenow" => Key::Id,
        "comment" | "note" => Key::Comment,
        "percent" | "pct" | "close_percent" | "close_pct" | "percent_close" => Key::ClosePercent,
        "risk_money" | "risk_amount" | "risk_cash" => Key::RiskMoney,
        "risk_pct_equity" | "risk_equity_pct" | "equity_risk_pct" => Key::RiskEquity,
        "balance_lots_pct" | "lots_pct_balance" => Key::BalanceLotsPct,
        "margin_pct" | "margin_percent" => Key::MarginPct,
        "sl_points" | "stop_loss_points" => Key::SlPoints,
        "tp_points" | "take_profit_points" => Key::TpPoints,
        "sl_percent" | "sl_pct" | "stop_loss_percent" => Key::SlPercent,
        "tp_percent" | "tp_pct" | "take_profit_percent" => Key::TpPercent,
        "be_trigger_pips" | "breakeven_trigger_pips" => Key::Rule(RuleKey::BeTrigger),
        "be_offset_pips" | "breakeven_offset_pips" => Key::Rule(RuleKey::BeOffset),
        "trail_trigger_pips" | "trailing_trigger_pips" => Key::Rule(RuleKey::TrailTrigger),
        "trail_dist_pips" | "trail_distance_pips" | "trailing_distance_pips" => {
            Key::Rule(RuleKey::TrailDist)
        }
        "trail_step_pips" | "trailing_step_pips" => Key::Rule(RuleKey::TrailStep),
        "trail_atr_timeframe" => Key::Rule(RuleKey::AtrTimeframe),
        "trail_atr_period" => Key::Rule(RuleKey::AtrPeriod),
        "trail_atr_multiplier" => Key::Rule(RuleKey::AtrMultiplier),
        _ => return None,
    })
}

/// Fields collected while reading a message, validated by `finish`.
#[derive(Debug, Default)]
struct Fields {
    action: Option<SignalAction>,
    close: CloseTarget,
    action_word: Option<String>,
    flat: bool,
    symbol: Option<String>,
    raw_symbol: Option<String>,
    price: Option<f64>,
    volume: Option<f64>,
    risk_pct: Option<f64>,
    sl: Option<f64>,
    tp: Option<f64>,
    sl_pips: Option<f64>,
    tp_pips: Option<f64>,
    signal_key: Option<String>,
    comment: Option<String>,
    close_percent: Option<f64>,
    volume_specs: Vec<VolumeSpec>,
    sl_distance: Option<PriceDistance>,
    tp_distance: Option<PriceDistance>,
    rules: super::stop_rules::RuleFields,
    close_volume: Option<f64>,
    order_type: Option<OrderType>,
    /// `price` / `entry` / `entry_price` (not the bar's `close`).
    entry_price: Option<f64>,
    entry_offset: Option<PriceDistance>,
    expiry: Option<Expiry>,
}

/// `{"action":"modify","side":"buy"}`: buy/sell next to a modify or cancel word
/// selects that side (`side` is also an action key); next to anything else two
/// actions conflict.
fn side_selector(a: SignalAction) -> Option<CloseTarget> {
    match a {
        SignalAction::Buy => Some(CloseTarget::Long),
        SignalAction::Sell => Some(CloseTarget::Short),
        _ => None,
    }
}

fn takes_side(a: SignalAction, t: CloseTarget) -> bool {
    matches!(a, SignalAction::Modify | SignalAction::Cancel) && t == CloseTarget::Both
}

fn dist(value: f64, unit: PriceUnit) -> Option<PriceDistance> {
    Some(PriceDistance { value, unit })
}

impl Fields {
    fn set_action(&mut self, word: &str) -> Result<(), Rejection> {
        let Some((a, target, order_type)) = command_word(word) else {
            return Err(Rejection::UnknownAction(clip(word, 64)));
        };
        match (self.action, &self.action_word) {
            // `modify` + `buy`: the buys (either order of the keys).
            (Some(prev), Some(_)) if takes_side(prev, self.close) && order_type.is_none() => {
                match side_selector(a) {
                    Some(side) => {
                        self.close = side;
                        Ok(())
                    }
                    None if prev == a && target == self.close => Ok(()),
                    None if prev == a && self.close == CloseTarget::Both => {
                        self.close = target;
                        Ok(())
                    }
                    None => Err(Rejection::ConflictingActions(
                        self.action_word.clone().unwrap_or_default(),
                        clip(word, 64),
                    )),
                }
            }
            (Some(prev), Some(_))
                if takes_side(a, target)
                    && self.order_type.is_none()
                    && side_selector(prev).is_some() =>
            {
                self.close = side_selector(prev).unwrap_or(CloseTarget::Both);
                self.action = Some(a);
                self.action_word = Some(clip(word, 64));
                Ok(())
            }
            (Some(prev), Some(prev_word))
                if prev != a || self.close != target || self.order_type != order_type =>
            {
                Err(Rejection::ConflictingActions(
                    prev_word.clone(),
                    clip(word, 64),
                ))
            }
            _ => {
                self.action = Some(a);
                self.close = target;
                self.order_type = order_type;
                self.action_word = Some(clip(word, 64));
                Ok(())
            }
        }
    }

    fn set_symbol(&mut self, raw: &str) -> Result<(), Rejection> {
        match read_symbol(raw) {
            Some(s) => {
                self.symbol = Some(s.canonical);
                self.raw_symbol = s.raw;
                Ok(())
            }
            None if raw.trim().is_empty() => Err(Rejection::MissingSymbol),
            None => Err(Rejection::InvalidSymbol(clip(raw, 64))),
        }
    }

    /// Stores one keyed value (from JSON or `key=value`).
    fn set(&mut self, key: Key, v: Scalar<'_>) -> Result<(), Rejection> {
        match key {
            Key::Action => self.set_action(&v.text()),
            Key::MarketPosition => {
                if v.text().trim().eq_ignore_ascii_case("flat") {
                    self.flat = true;
                }
                Ok(())
            }
            Key::Symbol => self.set_symbol(&v.text()),
            Key::Price => {
                let p = number(v, "price", 0.0, MAX_PRICE)?;
                self.price = Some(p);
                self.entry_price = Some(p);
                Ok(())
            }
            Key::BarClose => {
                let p = number(v, "price", 0.0, MAX_PRICE)?;
                // An explicit `price` wins for the log.
                if self.entry_price.is_none() {
                    self.price = Some(p);
                }
                Ok(())
            }
            Key::CloseVolume => {
                self.close_volume = Some(number(v, "volume", 0.0, MAX_VOLUME_LOTS)?);
                Ok(())
            }
            Key::EntryOffset(unit) => {
                let (field, max) = match unit {
                    PriceUnit::Pips => ("entry_pips", MAX_PIPS),
                    PriceUnit::Points => ("entry_points", MAX_POINTS),
                    _ => ("entry_percent", MAX_PERCENT),
                };
                let value = number(v, field, 0.0, max)?;
                if self.entry_offset.is_some_and(|o| o.unit != unit) {
                    return Err(Rejection::InvalidCommand(
                        "the pending order's distance is given twice (entry_pips, entry_points, entry_percent): send one",
                    ));
                }
                self.entry_offset = Some(PriceDistance { value, unit });
                Ok(())
            }
            Key::Expiry => {
                self.expiry = Some(read_expiry(v)?);
                Ok(())
            }
            Key::ExpirySecs => {
                let secs = number(v, "expiry_secs", 0.0, MAX_EXPIRY_SECS)?;
                self.expiry = Some(Expiry::AfterSecs(secs.ceil() as i64));
                Ok(())
            }
            Key::Volume => {
                self.volume = Some(number(v, "volume", 0.0, MAX_VOLUME_LOTS)?);
                Ok(())
            }
            Key::Risk => {
                let r = number(v, "risk", 0.0, f64::MAX)?;
                if !(MIN_RISK_PCT..=MAX_RISK_PCT).contains(&r) {
                    return Err(Rejection::InvalidNumber {
                        field: "risk",
                        value: r.to_string(),
                        why: "risk must be 0.1 to 10 percent",
                    });
                }
                self.risk_pct = Some(r);
                Ok(())
            }
            Key::Sl => {
                self.sl = Some(number(v, "sl", 0.0, MAX_PRICE)?);
                Ok(())
            }
            Key::Tp => {
                self.tp = Some(number(v, "tp", 0.0, MAX_PRICE)?);
                Ok(())
            }
            Key::SlPips => {
                self.sl_pips = Some(number(v, "sl_pips", 0.0, MAX_PIPS)?);
                Ok(())
            }
            Key::TpPips => {
                self.tp_pips = Some(number(v, "tp_pips", 0.0, MAX_PIPS)?);
                Ok(())
            }
            Key::Id => {
                let t = v.text();
                let t = t.trim();
                if !t.is_empty() {
                    self.signal_key = Some(clip(t, MAX_KEY_LEN));
                }
                Ok(())
            }
            Key::Comment => {
                let t = v.text();
                if !t.trim().is_empty() {
                    self.comment = Some(clip(t.trim(), MAX_COMMENT_LEN));
                }
                Ok(())
            }
            Key::ClosePercent => {
                self.close_percent = Some(number(v, "percent", 0.0, 100.0)?);
                Ok(())
            }
            Key::RiskMoney => {
                let amount = number(v, "risk_money", 0.0, MAX_RISK_MONEY)?;
                self.volume_specs.push(VolumeSpec::RiskMoney { amount });
                Ok(())
            }
            Key::RiskEquity => {
                let percent = number(v, "risk_pct_equity", 0.0, MAX_RISK_PCT)?;
                self.volume_specs.push(VolumeSpec::EquityRisk { percent });
                Ok(())
            }
            Key::BalanceLotsPct => {
                let percent = number(v, "balance_lots_pct", 0.0, MAX_VOLUME_PERCENT)?;
                self.volume_specs.push(VolumeSpec::BalanceLots { percent });
                Ok(())
            }
            Key::MarginPct => {
                let percent = number(v, "margin_pct", 0.0, MAX_VOLUME_PERCENT)?;
                self.volume_specs
                    .push(VolumeSpec::BalanceMargin { percent });
                Ok(())
            }
            Key::SlPoints => {
                self.sl_distance =
                    dist(number(v, "sl_points", 0.0, MAX_POINTS)?, PriceUnit::Points);
                Ok(())
            }
            Key::TpPoints => {
                self.tp_distance =
                    dist(number(v, "tp_points", 0.0, MAX_POINTS)?, PriceUnit::Points);
                Ok(())
            }
            Key::SlPercent => {
                self.sl_distance = dist(
                    number(v, "sl_percent", 0.0, MAX_STOP_PERCENT)?,
                    PriceUnit::Percent,
                );
                Ok(())
            }
            Key::TpPercent => {
                self.tp_distance = dist(
                    number(v, "tp_percent", 0.0, MAX_STOP_PERCENT)?,
                    PriceUnit::Percent,
                );
                Ok(())
            }
            Key::Rule(k) => self.set_rule(k, v),
        }
    }

    fn set_rule(&mut self, k: RuleKey, v: Scalar<'_>) -> Result<(), Rejection> {
        use super::stop_rules::MAX_RULE_PIPS;
        let r = &mut self.rules;
        match k {
            RuleKey::BeTrigger => {
                r.be_trigger_pips = Some(number(v, "be_trigger_pips", 0.0, MAX_RULE_PIPS)?)
            }
            RuleKey::BeOffset => {
                r.be_offset_pips = Some(number(
                    v,
                    "be_offset_pips",
                    -f64::MIN_POSITIVE,
                    MAX_RULE_PIPS,
                )?)
            }
            RuleKey::TrailTrigger => {
                r.trail_trigger_pips = Some(number(
                    v,
                    "trail_trigger_pips",
                    -f64::MIN_POSITIVE,
                    MAX_RULE_PIPS,
                )?)
            }
            RuleKey::TrailDist => {
                r.trail_dist_pips = Some(number(v, "trail_dist_pips", 0.0, MAX_RULE_PIPS)?)
            }
            RuleKey::TrailStep => {
                r.trail_step_pips = Some(number(
                    v,
                    "trail_step_pips",
                    -f64::MIN_POSITIVE,
                    MAX_RULE_PIPS,
                )?)
            }
            RuleKey::AtrTimeframe => {
                let t = v.text();
                r.atr_timeframe = Some(super::stop_rules::timeframe(&t).ok_or(
                    Rejection::InvalidNumber {
                        field: "trail_atr_timeframe",
                        value: clip(&t, 16),
                        why: "a timeframe: M1, M5, M15, M30, H1, H4, D1, W1, MN1 or minutes",
                    },
                )?)
            }
            RuleKey::AtrPeriod => {
                r.atr_period = Some(number(v, "trail_atr_period", 1.0, 1000.0)?.round() as u32)
            }
            RuleKey::AtrMultiplier => {
                r.atr_multiplier = Some(number(v, "trail_atr_multiplier", 0.0, 1000.0)?)
            }
        }
        Ok(())
    }

    fn finish(&self) -> Result<ParsedSignal, Rejection> {
        // `market_position` flat overrides a market entry: a close of both sides,
        // unless the action already was a close (`closeall` stays every symbol);
        // pending entries, modify and cancel keep their word.
        let (action, close) = match self.action {
            Some(SignalAction::Close) => (SignalAction::Close, self.close),
            Some(a @ (SignalAction::Modify | SignalAction::Cancel)) => (a, self.close),
            Some(a) if self.order_type.is_some() => (a, CloseTarget::Both),
            _ if self.flat => (SignalAction::Close, CloseTarget::Both),
            Some(a) => (a, CloseTarget::Both),
            None => return Err(Rejection::MissingAction),
        };
        // `closeall` needs no symbol: it closes the strategy's positions everywhere.
        let symbol = match (&self.symbol, close) {
            (Some(s), _) => s.clone(),
            (None, CloseTarget::All) if action == SignalAction::Close => ALL_SYMBOLS.to_string(),
            (None, _) => return Err(Rejection::MissingSymbol),
        };
        let entry = matches!(action, SignalAction::Buy | SignalAction::Sell);
        let pending = entry && self.order_type.is_some();
        let sizes = usize::from(self.volume.is_some())
            + usize::from(self.risk_pct.is_some())
            + self.volume_specs.len();
        // (volume with risk stays as before: the volume wins.)
        if sizes > 1 && !self.volume_specs.is_empty() && action != SignalAction::Close {
            return Err(Rejection::Conflict(
                "the size is given more than once (volume, risk, risk_money, risk_pct_equity, balance_lots_pct, margin_pct): send one",
            ));
        }
        // A typed distance with a price or pips is ambiguous (a price with pips
        // stays as before: the price wins).
        if self.sl_distance.is_some() && (self.sl.is_some() || self.sl_pips.is_some()) {
            return Err(Rejection::Conflict(
                "the stop loss is given more than once (sl, sl_pips, sl_points, sl_percent): send one",
            ));
        }
        if self.tp_distance.is_some() && (self.tp.is_some() || self.tp_pips.is_some()) {
            return Err(Rejection::Conflict(
                "the take profit is given more than once (tp, tp_pips, tp_points, tp_percent): send one",
            ));
        }
        if let Some(price) = self.price.filter(|_| entry) {
            let (below, above) = match action {
                SignalAction::Buy => (self.sl, self.tp),
                _ => (self.tp, self.sl),
            };
            if below.is_some_and(|b| b >= price) || above.is_some_and(|a| a <= price) {
                return Err(Rejection::InvalidStops(
                    "stop loss / take profit prices are on the wrong side of the price (sl and tp are prices in JSON; use sl_pips / tp_pips for distances)",
                ));
            }
        }
        // Breakeven/trailing belong to entries; a close ignores them.
        let (breakeven, trailing) = if action == SignalAction::Close {
            (None, None)
        } else {
            self.rules.build().map_err(Rejection::InvalidStops)?
        };
        let (mut entry_price, mut entry_offset, mut expiry) = (None, None, None);
        if pending {
            match (self.entry_price, self.entry_offset) {
                (Some(_), Some(_)) => {
                    return Err(Rejection::InvalidCommand(
                        "a pending order's entry is given twice: send its price (price) or its distance from the current price (entry_pips, entry_points, entry_percent), not both",
                    ))
                }
                (None, None) => {
                    return Err(Rejection::InvalidCommand(
                        "a pending order needs its price (price) or its distance from the current price (entry_pips, entry_points, entry_percent)",
                    ))
                }
                (p, o) => (entry_price, entry_offset) = (p, o),
            }
            expiry = self.expiry;
        } else if self.entry_offset.is_some() || self.expiry.is_some() {
            return Err(Rejection::InvalidCommand(
                "entry_pips / entry_points / entry_percent and expiry belong to pending orders (buy_limit, buy_stop, sell_limit, sell_stop)",
            ));
        }
        let (mut new_sl, mut new_tp) = (None, None);
        if action == SignalAction::Modify {
            new_sl = stop_level(self.sl, self.sl_pips, self.sl_distance).map_err(|()| {
                Rejection::InvalidStops(
                    "the new stop loss is given twice (sl, sl_pips, sl_points, sl_pct): send one",
                )
            })?;
            new_tp = stop_level(self.tp, self.tp_pips, self.tp_distance).map_err(|()| {
                Rejection::InvalidStops(
                    "the new take profit is given twice (tp, tp_pips, tp_points, tp_pct): send one",
                )
            })?;
            if new_sl.is_none() && new_tp.is_none() {
                return Err(Rejection::InvalidCommand(
                    "modify needs a new stop loss or take profit: sl / tp (prices), sl_pips, sl_points or sl_pct (and the tp_ ones)",
                ));
            }
        }
        let is_close = action == SignalAction::Close;
        if is_close && self.close_percent.is_some() && self.close_volume.is_some() {
            return Err(Rejection::InvalidCommand(
                "a partial close is given twice (percent and close_volume): send one",
            ));
        }
        // A modify carries its levels in `new_sl` / `new_tp`; other signals keep the
        // stops as sent (a close ignores them).
        let stops = action != SignalAction::Modify;
        Ok(ParsedSignal {
            breakeven,
            trailing,
            action,
            close,
            symbol,
            raw_symbol: self.raw_symbol.clone(),
            price: self.price,
            volume: self.volume,
            risk_pct: self.risk_pct,
            sl_pips: self.sl_pips.filter(|_| stops),
            tp_pips: self.tp_pips.filter(|_| stops),
            sl: self.sl.filter(|_| stops),
            tp: self.tp.filter(|_| stops),
            signal_key: self.signal_key.clone(),
            comment: self.comment.clone(),
            // Only a close is partial; entries ignore it.
            close_percent: self.close_percent.filter(|_| is_close),
            close_volume: self.close_volume.filter(|_| is_close),
            order_type: self.order_type.filter(|_| pending),
            entry_price,
            entry_offset,
            expiry,
            new_sl,
            new_tp,
            close_same_side: false,
            then_pause: false,
            volume_spec: self.volume_specs.first().copied(),
            sl_distance: self.sl_distance.filter(|_| stops),
            tp_distance: self.tp_distance.filter(|_| stops),
            max_spread: None,
            account_min: None,
        })
    }
}

/// One stop level from its four spellings; `Err` when more than one is given.
fn stop_level(
    price: Option<f64>,
    pips: Option<f64>,
    distance: Option<PriceDistance>,
) -> Result<Option<StopLevel>, ()> {
    let given: Vec<StopLevel> = [
        price.map(|value| StopLevel {
            value,
            unit: PriceUnit::Price,
        }),
        pips.map(|value| StopLevel {
            value,
            unit: PriceUnit::Pips,
        }),
        distance.map(|d| StopLevel {
            value: d.value,
            unit: d.unit,
        }),
    ]
    .into_iter()
    .flatten()
    .collect();
    match given.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => Err(()),
    }
}

/// `expiry`: an RFC 3339 time, or Unix seconds (a number or digits).
fn read_expiry(v: Scalar<'_>) -> Result<Expiry, Rejection> {
    let text = v.text();
    let t = text.trim();
    let bad = || Rejection::InvalidExpiry(clip(t, 64));
    if let Ok(at) = DateTime::parse_from_rfc3339(t) {
        return Ok(Expiry::At(at.with_timezone(&Utc)));
    }
    let secs: i64 = match v {
        Scalar::Num(n) => n.as_i64().ok_or_else(bad)?,
        Scalar::Str(s) if !s.trim().is_empty() && s.trim().bytes().all(|b| b.is_ascii_digit()) => {
            s.trim().parse().map_err(|_| bad())?
        }
        _ => return Err(bad()),
    };
    // Unix seconds between 2001 and 2286 (milliseconds are refused, not guessed).
    if !(1_000_000_000..10_000_000_000).contains(&secs) {
        return Err(bad());
    }
    DateTime::from_timestamp(secs, 0)
        .map(Expiry::At)
        .ok_or_else(bad)
}

fn clip(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// A scalar value from JSON or from a `key=value` token.
#[derive(Debug, Clone, Copy)]
enum Scalar<'a> {
    Str(&'a str),
    Num(&'a serde_json::Number),
    Other(&'a Value),
}

impl Scalar<'_> {
    fn text(&self) -> String {
        match self {
            Scalar::Str(s) => (*s).to_string(),
            Scalar::Num(n) => n.to_string(),
            Scalar::Other(v) => v.to_string(),
        }
    }
}

/// A number in `(min, max]` (strictly positive when `min` is 0), from a JSON
/// number or a string such as `" 1.2345 "`.
fn number(v: Scalar<'_>, field: &'static str, min: f64, max: f64) -> Result<f64, Rejection> {
    let bad = |why| Rejection::InvalidNumber {
        field,
        value: clip(&v.text(), 64),
        why,
    };
    let x = match v {
        Scalar::Num(n) => n.as_f64().ok_or_else(|| bad("not a number"))?,
        Scalar::Str(s) => {
            let s = s.trim();
            // Only plain decimal notation: no "inf", "NaN", hex or "1e400".
            let plain = !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'));
            if !plain {
                return Err(bad("not a number"));
            }
            s.parse::<f64>().map_err(|_| bad("not a number"))?
        }
        Scalar::Other(_) => return Err(bad("not a number")),
    };
    if !x.is_finite() {
        return Err(bad("not a finite number"));
    }
    if x <= min {
        return Err(bad("must be greater than zero"));
    }
    if x > max {
        return Err(bad("too large"));
    }
    Ok(x)
}

fn read_json(map: &Map<String, Value>, f: &mut Fields) -> Result<(), Rejection> {
    let mut first_err = None;
    for (k, v) in map {
        let Some(key) = key_of(k) else { continue };
        let scalar = match v {
            Value::String(s) => Scalar::Str(s),
            Value::Number(n) => Scalar::Num(n),
            Value::Null => continue,
            other => Scalar::Other(other),
        };
        if let Err(e) = f.set(key, scalar) {
            first_err.get_or_insert(e);
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Plain text: whitespace/comma separated words; `key=value` pairs; positional
/// action, volume (a bare number) and symbol; a leading word before the action is
/// the signal id (the comma syntax `<id>,buy,EURUSD,...`). TradingView's default
/// strategy message ("... order buy @ 1 filled on EURUSD. New strategy position
/// is 0") is understood too.
fn read_text(text: &str, f: &mut Fields) -> Result<(), Rejection> {
    if let Some(r) = read_default_strategy_message(text, f) {
        return r;
    }
    let tokens: Vec<&str> = text
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .collect();
    let mut first_err = None;
    let mut record = |r: Result<(), Rejection>| {
        if let Err(e) = r {
            first_err.get_or_insert(e);
        }
    };
    let action_pos = tokens
        .iter()
        .position(|t| !t.contains('=') && action_word(t).is_some());
    // Without any action word, the first of two or more plain words is taken as
    // an action we do not know (`hodl EURUSD`); a lone word is the symbol.
    let words: Vec<usize> = (0..tokens.len())
        .filter(|&i| !tokens[i].contains('=') && !looks_numeric(tokens[i]))
        .collect();
    let unknown_action_at = match (action_pos, words.as_slice()) {
        (None, [first, _, ..]) => Some(*first),
        _ => None,
    };
    for (i, tok) in tokens.iter().enumerate() {
        if Some(i) == unknown_action_at {
            record(Err(Rejection::UnknownAction(clip(tok, 64))));
            continue;
        }
        if let Some((k, v)) = tok.split_once('=') {
            match text_key(k) {
                Some(key) => record(f.set(key, Scalar::Str(v))),
                None => record(Err(Rejection::UnexpectedToken(clip(tok, 64)))),
            }
            continue;
        }
        if i == 0 && action_pos == Some(1) {
            record(f.set(Key::Id, Scalar::Str(tok)));
            continue;
        }
        if action_word(tok).is_some() {
            record(f.set_action(tok));
        } else if looks_numeric(tok) {
            if f.volume.is_some() {
                record(Err(Rejection::UnexpectedToken(clip(tok, 64))));
            } else {
                record(f.set(Key::Volume, Scalar::Str(tok)));
            }
        } else if f.symbol.is_none() && valid_symbol(tok).is_some() {
            record(f.set_symbol(tok));
        } else {
            record(Err(Rejection::UnexpectedToken(clip(tok, 64))));
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// In the text and comma syntaxes `sl=20` / `tp=40` are distances in pips (the
/// convention of those syntaxes); `sl_price=` / `tp_price=` give prices.
fn text_key(name: &str) -> Option<Key> {
    let is_price = name.trim().to_ascii_lowercase().ends_with("_price");
    match key_of(name)? {
        Key::Sl if !is_price => Some(Key::SlPips),
        Key::Tp if !is_price => Some(Key::TpPips),
        k => Some(k),
    }
}

fn looks_numeric(t: &str) -> bool {
    t.starts_with(|c: char| c.is_ascii_digit() || c == '.' || c == '-' || c == '+')
        && t.chars().any(|c| c.is_ascii_digit())
        && !t
            .chars()
            .any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
}

/// `<name>: order buy @ 1 filled on EURUSD. New strategy position is 1`.
fn read_default_strategy_message(text: &str, f: &mut Fields) -> Option<Result<(), Rejection>> {
    let lower = text.to_ascii_lowercase();
    let order_at = lower.find("order ")?;
    let filled_at = lower.find(" filled on ")?;
    if filled_at < order_at {
        return None;
    }
    let action = lower[order_at + 6..].split_whitespace().next()?.to_string();
    let after = &text[filled_at + " filled on ".len()..];
    let symbol: String = after
        .split_whitespace()
        .next()?
        .trim_end_matches('.')
        .to_string();
    let position = lower
        .find("position is ")
        .and_then(|p| lower[p + 12..].split_whitespace().next())
        .map(|s| s.trim_end_matches('.').to_string());
    let r = f.set_action(&action).and_then(|()| f.set_symbol(&symbol));
    if let Some(p) = position {
        if p.parse::<f64>().is_ok_and(|x| x == 0.0) {
            f.flat = true;
        }
    }
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(body: &str) -> ParsedSignal {
        parse(body.as_bytes()).unwrap_or_else(|e| panic!("{body:?} rejected: {e}"))
    }
    fn err(body: &[u8]) -> Rejected {
        parse(body).expect_err("should be rejected")
    }

    #[test]
    fn normalises_symbols() {
        for (raw, want) in [
            ("OANDA:EURUSD", "EURUSD"),
            ("EURUSD.m", "EURUSD"),
            ("eurusd", "EURUSD"),
            ("EUR/USD", "EURUSD"),
            ("FX_IDC:eur_usd", "EURUSD"),
            (" xauusd.pro ", "XAUUSD"),
            ("CAPITALCOM:US30", "US30"),
            ("CME_MINI:ES1!", "ES1"),
            ("EURUSD-ECN", "EURUSD"),
            ("EUR-USD", "EURUSD"),
            ("COINBASE:BTC-USD", "BTCUSD"),
            ("EURUSDm", "EURUSD"),
            ("US30m", "US30"),
            ("US30.cash", "US30"),
            ("Gold", "XAUUSD"),
            ("NYSE:GOLD", "GOLD"),
        ] {
            assert_eq!(normalize_symbol(raw), want, "{raw}");
        }
    }

    #[test]
    fn maps_tradingview_cfd_tickers_to_canonical_names() {
        for (raw, want) in [
            ("OANDA:NAS100USD", "NAS100"),
            ("OANDA:SPX500USD", "SPX500"),
            ("OANDA:US30USD", "US30"),
            ("OANDA:DE30EUR", "GER40"),
            ("OANDA:UK100GBP", "UK100"),
            ("OANDA:JP225USD", "JPN225"),
            ("OANDA:BCOUSD", "UKOIL"),
            ("OANDA:WTICOUSD", "USOIL"),
            ("OANDA:XAUUSD", "XAUUSD"),
            ("TVC:GOLD", "XAUUSD"),
            ("TVC:SILVER", "XAGUSD"),
            ("BINANCE:BTCUSDT", "BTCUSD"),
            ("BINANCE:ETHUSDT", "ETHUSD"),
            ("PEPPERSTONE:US500", "SPX500"),
            ("PEPPERSTONE:GER40", "GER40"),
            ("FX:GBPJPY", "GBPJPY"),
            ("TVC:DJI", "US30"),
            ("TVC:NDX", "NAS100"),
        ] {
            assert_eq!(normalize_symbol(raw), want, "{raw}");
        }
    }

    #[test]
    fn keeps_the_alerts_own_spelling_when_it_differs() {
        let read = |raw: &str| read_symbol(raw).unwrap_or_else(|| panic!("{raw}"));
        for (raw, canonical, own) in [
            ("OANDA:EURUSD", "EURUSD", None),
            (" eurusd ", "EURUSD", None),
            ("US30.cash", "US30", Some("US30.cash")),
            ("PEPPERSTONE:US30.cash", "US30", Some("US30.cash")),
            ("OANDA:NAS100USD", "NAS100", Some("NAS100USD")),
            ("XAUUSDm", "XAUUSD", Some("XAUUSDm")),
            ("TVC:GOLD", "XAUUSD", Some("GOLD")),
        ] {
            let s = read(raw);
            assert_eq!(s.canonical, canonical, "{raw}");
            assert_eq!(s.raw.as_deref(), own, "{raw}");
        }
        let s = ok(r#"{"action":"buy","symbol":"US30.cash"}"#);
        assert_eq!(
            (s.symbol.as_str(), s.raw_symbol.as_deref()),
            ("US30", Some("US30.cash"))
        );
        let s = ok("sell OANDA:EURUSD");
        assert_eq!(s.raw_symbol, None);
        assert_eq!(legacy_normalize_symbol("OANDA:NAS100USD"), "NAS100USD");
        assert_eq!(legacy_normalize_symbol("EURUSDm"), "EURUSDM");
    }

    #[test]
    fn explicit_unit_keys_for_sizes_and_stops() {
        use companion_protocol::{PriceDistance, PriceUnit, VolumeSpec};
        for (body, want) in [
            (
                r#"{"action":"buy","symbol":"EURUSD","risk_money":75,"sl_pips":20}"#,
                VolumeSpec::RiskMoney { amount: 75.0 },
            ),
            (
                r#"{"action":"buy","symbol":"EURUSD","risk_pct_equity":1.5,"sl_points":200}"#,
                VolumeSpec::EquityRisk { percent: 1.5 },
            ),
            (
                r#"{"action":"sell","symbol":"EURUSD","balance_lots_pct":"0.5"}"#,
                VolumeSpec::BalanceLots { percent: 0.5 },
            ),
            (
                r#"{"action":"sell","symbol":"EURUSD","margin_pct":2}"#,
                VolumeSpec::BalanceMargin { percent: 2.0 },
            ),
        ] {
            let s = ok(body);
            assert_eq!(s.volume_spec, Some(want), "{body}");
            assert_eq!((s.volume, s.risk_pct), (None, None));
        }
        let s = ok(
            r#"{"action":"buy","symbol":"XAUUSD","volume":0.1,"sl_points":500,"tp_percent":1.5}"#,
        );
        assert_eq!(
            (s.sl_distance, s.tp_distance),
            (
                Some(PriceDistance {
                    value: 500.0,
                    unit: PriceUnit::Points
                }),
                Some(PriceDistance {
                    value: 1.5,
                    unit: PriceUnit::Percent
                })
            )
        );
        let s = ok("buy EURUSD risk_money=50 sl_percent=0.5 tp_points=300");
        assert_eq!(s.volume_spec, Some(VolumeSpec::RiskMoney { amount: 50.0 }));
        assert_eq!(
            s.sl_distance.map(|d| (d.value, d.unit)),
            Some((0.5, PriceUnit::Percent))
        );
        assert_eq!(
            s.tp_distance.map(|d| (d.value, d.unit)),
            Some((300.0, PriceUnit::Points))
        );
        // One size, one stop, one target.
        for body in [
            r#"{"action":"buy","symbol":"EURUSD","volume":0.1,"risk_money":50}"#,
            r#"{"action":"buy","symbol":"EURUSD","risk":1,"margin_pct":2}"#,
            r#"{"action":"buy","symbol":"EURUSD","sl_pips":10,"sl_points":100}"#,
            r#"{"action":"buy","symbol":"EURUSD","tp":1.2,"tp_percent":1}"#,
        ] {
            assert_eq!(
                err(body.as_bytes()).reason.code(),
                "conflicting_fields",
                "{body}"
            );
        }
        for body in [
            r#"{"action":"buy","symbol":"EURUSD","risk_pct_equity":11}"#,
            r#"{"action":"buy","symbol":"EURUSD","margin_pct":0}"#,
            r#"{"action":"buy","symbol":"EURUSD","sl_percent":1001}"#,
            r#"{"action":"buy","symbol":"EURUSD","risk_money":-5}"#,
        ] {
            assert_eq!(
                err(body.as_bytes()).reason.code(),
                "invalid_number",
                "{body}"
            );
        }
    }

    #[test]
    fn reads_breakeven_and_trailing_keys_in_pips() {
        let s = ok(
            r#"{"action":"buy","symbol":"EURUSD","be_trigger_pips":15,"be_offset_pips":"0","trail_trigger_pips":20,"trail_dist_pips":10,"trail_step_pips":5}"#,
        );
        let be = s.breakeven.unwrap();
        assert_eq!((be.trigger.value, be.offset.value), (15.0, 0.0));
        let tr = s.trailing.unwrap();
        assert_eq!(tr.distance.map(|d| d.value), Some(10.0));
        assert_eq!(tr.activation.map(|a| a.value), Some(20.0));
        // The text syntax takes the same keys; ATR trailing too.
        let s = ok("buy EURUSD trail_atr_timeframe=H1 trail_atr_period=14 trail_atr_multiplier=2");
        let atr = s.trailing.unwrap().atr.unwrap();
        assert_eq!((atr.period, atr.multiplier), (14, 2.0));
        // A close ignores them; a step without a distance is refused.
        assert!(
            ok(r#"{"action":"close","symbol":"EURUSD","trail_dist_pips":10}"#)
                .trailing
                .is_none()
        );
        assert_eq!(
            err(br#"{"action":"buy","symbol":"EURUSD","trail_step_pips":5}"#)
                .reason
                .code(),
            "invalid_stops"
        );
        assert_eq!(
            err(br#"{"action":"buy","symbol":"EURUSD","be_trigger_pips":-1}"#)
                .reason
                .code(),
            "invalid_number"
        );
    }

    #[test]
    fn reads_typical_tradingview_json() {
        let s = ok(
            r#"{"action":"buy","ticker":"OANDA:EURUSD","price":"1.08512","contracts":"0.5","sl_pips":20,"tp_pips":"40","id":"abc-1","comment":"long entry"}"#,
        );
        assert_eq!(s.action, SignalAction::Buy);
        assert_eq!(s.symbol, "EURUSD");
        assert_eq!(s.price, Some(1.08512));
        assert_eq!(s.volume, Some(0.5));
        assert_eq!(s.sl_pips, Some(20.0));
        assert_eq!(s.tp_pips, Some(40.0));
        assert_eq!(s.signal_key.as_deref(), Some("abc-1"));
        assert_eq!(s.comment.as_deref(), Some("long entry"));
    }

    #[test]
    fn market_position_flat_means_close() {
        let s = ok(r#"{"action":"sell","symbol":"EURUSD","market_position":"flat"}"#);
        assert_eq!(s.action, SignalAction::Close);
        let s = ok(r#"{"action":"sell","symbol":"EURUSD","market_position":"short"}"#);
        assert_eq!(s.action, SignalAction::Sell);
    }

    #[test]
    fn action_synonyms() {
        for (w, a) in [
            ("long", SignalAction::Buy),
            ("SHORT", SignalAction::Sell),
            ("exit", SignalAction::Close),
            ("flat", SignalAction::Close),
            ("Close", SignalAction::Close),
        ] {
            assert_eq!(
                ok(&format!(r#"{{"side":"{w}","pair":"GBPUSD"}}"#)).action,
                a
            );
        }
    }

    #[test]
    fn every_close_word_has_its_target() {
        for (w, target) in [
            ("close", CloseTarget::Both),
            ("exit", CloseTarget::Both),
            ("flat", CloseTarget::Both),
            ("flatten", CloseTarget::Both),
            ("close_long", CloseTarget::Long),
            ("exit_long", CloseTarget::Long),
            ("closelong", CloseTarget::Long),
            ("Close-Long", CloseTarget::Long),
            ("close_short", CloseTarget::Short),
            ("exit_short", CloseTarget::Short),
            ("closeshort", CloseTarget::Short),
            ("EXIT SHORT", CloseTarget::Short),
            ("closeall", CloseTarget::All),
            ("close_all", CloseTarget::All),
            ("exit_all", CloseTarget::All),
        ] {
            let s = ok(&format!(r#"{{"action":"{w}","symbol":"EURUSD"}}"#));
            assert_eq!((s.action, s.close), (SignalAction::Close, target), "{w}");
            if !w.contains(' ') {
                let s = ok(&format!("{w} EURUSD"));
                assert_eq!(
                    (s.action, s.close),
                    (SignalAction::Close, target),
                    "text {w}"
                );
            }
        }
        // Entries carry no close target.
        assert_eq!(ok("buy EURUSD").close, CloseTarget::Both);
    }

    #[test]
    fn closeall_needs_no_symbol_but_other_closes_do() {
        for body in ["closeall", r#"{"action":"close_all"}"#, "1234,exit_all"] {
            let s = ok(body);
            assert_eq!((s.action, s.close), (SignalAction::Close, CloseTarget::All));
            assert_eq!(s.symbol, ALL_SYMBOLS);
        }
        assert_eq!(ok("closeall GBPUSD").symbol, "GBPUSD");
        for body in ["close_long", "close", r#"{"action":"exit_short"}"#] {
            assert_eq!(
                err(body.as_bytes()).reason,
                Rejection::MissingSymbol,
                "{body}"
            );
        }
    }

    #[test]
    fn market_position_flat_closes_both_sides_but_keeps_closeall() {
        let s = ok(r#"{"action":"sell","symbol":"EURUSD","market_position":"flat"}"#);
        assert_eq!(
            (s.action, s.close),
            (SignalAction::Close, CloseTarget::Both)
        );
        let s = ok(r#"{"action":"closeall","market_position":"flat"}"#);
        assert_eq!(s.close, CloseTarget::All);
    }

    #[test]
    fn two_different_close_words_conflict() {
        let r = err(br#"{"action":"close_long","signal":"close_short","symbol":"EURUSD"}"#);
        assert_eq!(r.reason.code(), "unknown_action");
        let s = ok(r#"{"action":"close_long","signal":"exit_long","symbol":"EURUSD"}"#);
        assert_eq!(s.close, CloseTarget::Long);
    }

    #[test]
    fn reads_text_and_comma_forms() {
        let s = ok("buy EURUSD");
        assert_eq!((s.action, s.symbol.as_str()), (SignalAction::Buy, "EURUSD"));
        let s = ok("sell 0.5 XAUUSD sl=20 tp=40");
        assert_eq!(s.action, SignalAction::Sell);
        assert_eq!(s.volume, Some(0.5));
        assert_eq!((s.sl_pips, s.tp_pips), (Some(20.0), Some(40.0)));
        assert_eq!((s.sl, s.tp), (None, None));
        let s = ok("12345,buy,EURUSD,risk=1,sl=20,tp=40");
        assert_eq!(s.signal_key.as_deref(), Some("12345"));
        assert_eq!(s.risk_pct, Some(1.0));
        assert_eq!((s.sl_pips, s.tp_pips), (Some(20.0), Some(40.0)));
        let s = ok("buy EURUSD price=1.1 sl_price=1.09 tp_price=1.12");
        assert_eq!((s.sl, s.tp), (Some(1.09), Some(1.12)));
        let s = ok(
            "My Strat (20, 50): order sell @ 1 filled on OANDA:GBPUSD. New strategy position is 0",
        );
        assert_eq!(
            (s.action, s.symbol.as_str()),
            (SignalAction::Close, "GBPUSD")
        );
        let s =
            ok("My Strat: order buy @ 100000 filled on EURUSD. New strategy position is 100000");
        assert_eq!((s.action, s.volume), (SignalAction::Buy, None));
    }

    #[test]
    fn rejections_have_reasons_and_partials() {
        assert_eq!(err(b"").reason, Rejection::Empty);
        assert_eq!(err(b"  \n ").reason, Rejection::Empty);
        assert_eq!(err(&[0xff, 0xfe, 0x00]).reason, Rejection::NotUtf8);
        let r = err(br#"{"action":"{{strategy.order.action}}","symbol":"EURUSD"}"#);
        assert_eq!(r.reason.code(), "placeholder");
        assert_eq!(r.partial.symbol.as_deref(), Some("EURUSD"));
        let r = err(b"buy {{ticker}}");
        assert_eq!(r.reason.code(), "placeholder");
        assert_eq!(
            err(br#"{"action":"hold","symbol":"EURUSD"}"#).reason.code(),
            "unknown_action"
        );
        assert_eq!(err(b"hodl EURUSD").reason.code(), "unknown_action");
        assert_eq!(
            err(br#"{"symbol":"EURUSD"}"#).reason,
            Rejection::MissingAction
        );
        assert_eq!(err(br#"{"action":"buy"}"#).reason, Rejection::MissingSymbol);
        assert_eq!(err(b"buy").reason, Rejection::MissingSymbol);
        assert_eq!(
            err(br#"{"action":"buy","symbol":"EURUSD""#).reason.code(),
            "malformed_json"
        );
        assert_eq!(err(b"[1,2]").reason.code(), "malformed_json");
        for v in ["-1", "0", "1e9", "\"abc\"", "\"NaN\"", "\"inf\"", "1000.5"] {
            let body = format!(r#"{{"action":"buy","symbol":"EURUSD","qty":{v}}}"#);
            let r = err(body.as_bytes());
            assert_eq!(r.reason.code(), "invalid_volume", "{v}");
            assert_eq!(r.partial.action, Some(SignalAction::Buy));
        }
        let r = err(br#"{"action":"buy","symbol":"EURUSD","price":1e300}"#);
        assert_eq!(r.reason.code(), "invalid_number");
        let r = err(br#"{"action":"buy","symbol":"EURUSD","risk":50}"#);
        assert_eq!(r.reason.code(), "invalid_number");
        assert_eq!(err(b"buy sell EURUSD").reason.code(), "unknown_action");
        let r = err(br#"{"action":"buy","symbol":"EURUSD","price":1.1,"sl":1.2}"#);
        assert_eq!(r.reason.code(), "invalid_stops");
        let r = err(br#"{"action":"sell","symbol":"EURUSD","price":1.1,"tp":1.2}"#);
        assert_eq!(r.reason.code(), "invalid_stops");
        assert_eq!(
            err(b"buy EURUSD'; DROP TABLE tv_signals;--").reason.code(),
            "unexpected_token"
        );
    }

    fn arb_num() -> impl Strategy<Value = f64> {
        (1u32..10_000_000, 0u32..6).prop_map(|(m, e)| f64::from(m) / 10f64.powi(e as i32))
    }
    fn opt<T: std::fmt::Debug + Clone>(
        s: impl Strategy<Value = T>,
    ) -> impl Strategy<Value = Option<T>> {
        proptest::option::of(s)
    }

    prop_compose! {
        fn arb_signal()(
            action in prop_oneof![Just(SignalAction::Buy), Just(SignalAction::Sell), Just(SignalAction::Close)],
            symbol in "[A-Z]{3,6}[0-9]{0,2}".prop_filter("not an action word or an alias", |s| action_word(s).is_none() && normalize_symbol(s) == *s),
            price in opt(arb_num().prop_filter("price", |x| *x <= MAX_PRICE)),
            volume in opt((1u32..100_000).prop_map(|v| f64::from(v) / 100.0)),
            risk_pct in opt((1u32..=100).prop_map(|v| f64::from(v) / 10.0)),
            sl_pips in opt((1u32..100_000).prop_map(|v| f64::from(v) / 10.0)),
            tp_pips in opt((1u32..100_000).prop_map(|v| f64::from(v) / 10.0)),
            sl in opt(arb_num().prop_filter("sl", |x| *x <= MAX_PRICE)),
            tp in opt(arb_num().prop_filter("tp", |x| *x <= MAX_PRICE)),
            signal_key in opt("[a-z0-9][a-z0-9_-]{0,20}".prop_filter("not an action word", |s| action_word(s).is_none())),
            comment in opt("[a-z][a-z0-9_]{0,20}"),
        ) -> ParsedSignal {
            // Stops on the wrong side of the price are rejected (tested elsewhere).
            let (lo, hi) = match action {
                SignalAction::Buy => (sl, tp),
                SignalAction::Sell => (tp, sl),
                _ => (None, None),
            };
            let wrong = price.is_some_and(|p| lo.is_some_and(|l| l >= p) || hi.is_some_and(|h| h <= p));
            let (sl, tp) = if wrong { (None, None) } else { (sl, tp) };
            ParsedSignal { action, close: CloseTarget::Both, symbol, raw_symbol: None, price, volume, risk_pct, sl_pips, tp_pips, sl, tp, signal_key, comment, ..ParsedSignal::new(action, "") }
        }
    }

    fn render_json(s: &ParsedSignal) -> String {
        let mut m = Map::new();
        m.insert("action".into(), s.action.as_str().into());
        m.insert("ticker".into(), format!("OANDA:{}", s.symbol).into());
        let mut put = |k: &str, v: Option<f64>, as_string: bool| {
            if let Some(x) = v {
                let val = if as_string {
                    Value::String(x.to_string())
                } else {
                    serde_json::json!(x)
                };
                m.insert(k.into(), val);
            }
        };
        put("price", s.price, true);
        put("qty", s.volume, false);
        put("risk", s.risk_pct, true);
        put("sl_pips", s.sl_pips, false);
        put("tp_pips", s.tp_pips, true);
        put("stop_loss", s.sl, false);
        put("take_profit", s.tp, true);
        if let Some(k) = &s.signal_key {
            m.insert("id".into(), k.clone().into());
        }
        if let Some(c) = &s.comment {
            m.insert("comment".into(), c.clone().into());
        }
        Value::Object(m).to_string()
    }

    fn render_kv(s: &ParsedSignal) -> Vec<String> {
        let mut kv = Vec::new();
        let mut put = |k: &str, v: Option<f64>| {
            if let Some(x) = v {
                kv.push(format!("{k}={x}"));
            }
        };
        put("price", s.price);
        put("risk", s.risk_pct);
        put("sl", s.sl_pips);
        put("tp_pips", s.tp_pips);
        put("sl_price", s.sl);
        put("tp_price", s.tp);
        if let Some(c) = &s.comment {
            kv.push(format!("comment={c}"));
        }
        kv
    }

    fn render_text(s: &ParsedSignal) -> String {
        let mut parts = Vec::new();
        if let Some(k) = &s.signal_key {
            parts.push(format!("id={k}"));
        }
        parts.push(s.action.as_str().to_string());
        if let Some(v) = s.volume {
            parts.push(v.to_string());
        }
        parts.push(s.symbol.to_lowercase());
        parts.extend(render_kv(s));
        parts.join(" ")
    }

    fn render_comma(s: &ParsedSignal) -> String {
        let mut parts = Vec::new();
        if let Some(k) = &s.signal_key {
            parts.push(k.clone());
        }
        parts.push(s.action.as_str().to_string());
        parts.push(format!("{}.m", s.symbol));
        if let Some(v) = s.volume {
            parts.push(format!("volume={v}"));
        }
        parts.extend(render_kv(s));
        parts.join(",")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn never_panics_on_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&body);
        }

        #[test]
        fn never_panics_on_strings(body in "\\PC{0,300}") {
            let _ = parse(body.as_bytes());
        }

        #[test]
        fn never_panics_on_message_like_strings(
            body in r#"[{}\[\]":,=0-9a-zA-Z .\-{}/_]{0,120}"#
        ) {
            let _ = parse(body.as_bytes());
        }

        #[test]
        fn round_trips_through_every_syntax(s in arb_signal()) {
            let dotted = Some(format!("{}.m", s.symbol));
            for (body, raw) in [(render_json(&s), None), (render_text(&s), None), (render_comma(&s), dotted)] {
                let back = parse(body.as_bytes()).map_err(|e| TestCaseError::fail(format!("{body:?}: {e}")))?;
                let want = ParsedSignal { raw_symbol: raw, ..s.clone() };
                prop_assert_eq!(&back, &want, "{}", body);
            }
        }
    }

    #[test]
    fn a_close_with_percent_is_partial_and_entries_ignore_it() {
        let j = ok(r#"{"action":"close_long","symbol":"EURUSD","percent":50}"#);
        assert_eq!(j.action, SignalAction::Close);
        assert_eq!(j.close, CloseTarget::Long);
        assert_eq!(j.close_percent, Some(50.0));
        let t = ok("close_short EURUSD pct=25");
        assert_eq!(t.close, CloseTarget::Short);
        assert_eq!(t.close_percent, Some(25.0));
        assert_eq!(ok("buy EURUSD percent=50").close_percent, None);
        assert_eq!(ok("close EURUSD").close_percent, None);
        for bad in [
            r#"{"action":"close","symbol":"EURUSD","percent":150}"#,
            r#"{"action":"close","symbol":"EURUSD","percent":0}"#,
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn pending_entry_words_with_price_or_an_explicit_offset() {
        for (w, a, t) in [
            ("buy_limit", SignalAction::Buy, OrderType::Limit),
            ("buylimit", SignalAction::Buy, OrderType::Limit),
            ("Buy-Stop", SignalAction::Buy, OrderType::Stop),
            ("sell_limit", SignalAction::Sell, OrderType::Limit),
            ("sellstop", SignalAction::Sell, OrderType::Stop),
        ] {
            let s = ok(&format!(
                r#"{{"action":"{w}","symbol":"EURUSD","price":1.08,"volume":0.1,"sl_pips":20}}"#
            ));
            assert_eq!((s.action, s.order_type), (a, Some(t)), "{w}");
            assert_eq!((s.entry_price, s.entry_offset), (Some(1.08), None));
            assert_eq!((s.volume, s.sl_pips), (Some(0.1), Some(20.0)));
            let text = ok(&format!("{w} EURUSD 0.1 entry_pips=15"));
            assert_eq!(text.order_type, Some(t));
            assert_eq!(
                text.entry_offset,
                Some(PriceDistance {
                    value: 15.0,
                    unit: PriceUnit::Pips
                })
            );
        }
        for (k, unit) in [
            ("entry_pips", PriceUnit::Pips),
            ("offset_points", PriceUnit::Points),
            ("entry_percent", PriceUnit::Percent),
            ("offset_pct", PriceUnit::Percent),
        ] {
            let s = ok(&format!(
                r#"{{"action":"sell_stop","symbol":"EURUSD","{k}":"0.5"}}"#
            ));
            assert_eq!(
                s.entry_offset.map(|o| (o.value, o.unit)),
                Some((0.5, unit)),
                "{k}"
            );
        }
        // The bar's close is never a pending order's price.
        let r = err(br#"{"action":"buy_limit","symbol":"EURUSD","close":1.08}"#);
        assert_eq!(r.reason.code(), "invalid_command");
        let s = ok(r#"{"action":"buy","symbol":"EURUSD","close":1.08}"#);
        assert_eq!((s.price, s.entry_price), (Some(1.08), None));
        // Exactly one entry; none or two are refused, never guessed.
        for bad in [
            r#"{"action":"buy_limit","symbol":"EURUSD"}"#,
            r#"{"action":"buy_limit","symbol":"EURUSD","price":1.08,"entry_pips":10}"#,
            r#"{"action":"buy_limit","symbol":"EURUSD","entry_pips":10,"entry_points":10}"#,
            r#"{"action":"buy","symbol":"EURUSD","entry_pips":10}"#,
            r#"{"action":"buy","symbol":"EURUSD","expiry_secs":60}"#,
        ] {
            assert_eq!(
                err(bad.as_bytes()).reason.code(),
                "invalid_command",
                "{bad}"
            );
        }
        // Stops on the wrong side of a limit's price.
        let r = err(br#"{"action":"buy_limit","symbol":"EURUSD","price":1.08,"sl":1.09}"#);
        assert_eq!(r.reason.code(), "invalid_stops");
        // Market position flat does not turn a pending order into a close.
        let s =
            ok(r#"{"action":"sell_limit","symbol":"EURUSD","price":1.2,"market_position":"flat"}"#);
        assert_eq!(s.action, SignalAction::Sell);
    }

    #[test]
    fn expiry_is_a_time_or_seconds_from_now() {
        let s = ok(
            r#"{"action":"buy_stop","symbol":"EURUSD","entry_pips":5,"expiry":"2030-01-02T03:04:05Z"}"#,
        );
        assert_eq!(
            s.expiry,
            Some(Expiry::At("2030-01-02T03:04:05Z".parse().unwrap()))
        );
        let s = ok(r#"{"action":"buy_stop","symbol":"EURUSD","entry_pips":5,"expiry":1893456000}"#);
        assert_eq!(
            s.expiry,
            Some(Expiry::At(
                DateTime::from_timestamp(1_893_456_000, 0).unwrap()
            ))
        );
        let s = ok("sell_limit EURUSD entry_points=50 expiry_secs=3600");
        assert_eq!(s.expiry, Some(Expiry::AfterSecs(3600)));
        for bad in ["\"tomorrow\"", "1893456000000", "12", "-5"] {
            let body = format!(
                r#"{{"action":"buy_stop","symbol":"EURUSD","entry_pips":5,"expiry":{bad}}}"#
            );
            assert_eq!(
                err(body.as_bytes()).reason.code(),
                "invalid_expiry",
                "{bad}"
            );
        }
        assert_eq!(
            err(br#"{"action":"buy_stop","symbol":"EURUSD","entry_pips":5,"expiry_secs":0}"#)
                .reason
                .code(),
            "invalid_number"
        );
    }

    #[test]
    fn modify_words_take_a_side_and_levels_in_explicit_units() {
        let s = ok(r#"{"action":"modify","symbol":"EURUSD","side":"buy","sl":1.082}"#);
        assert_eq!(
            (s.action, s.close),
            (SignalAction::Modify, CloseTarget::Long)
        );
        assert_eq!(
            s.new_sl,
            Some(StopLevel {
                value: 1.082,
                unit: PriceUnit::Price
            })
        );
        assert_eq!((s.sl, s.new_tp), (None, None));
        // Key order does not matter (`side` first).
        let s = ok(r#"{"side":"sell","action":"modify","symbol":"EURUSD","tp_pips":40}"#);
        assert_eq!(s.close, CloseTarget::Short);
        assert_eq!(
            s.new_tp.map(|l| (l.value, l.unit)),
            Some((40.0, PriceUnit::Pips))
        );
        for (w, target) in [
            ("modify", CloseTarget::Both),
            ("modify_long", CloseTarget::Long),
            ("modify_short", CloseTarget::Short),
            ("newsltplong", CloseTarget::Long),
            ("modify-sell", CloseTarget::Short),
        ] {
            let s = ok(&format!("{w} GBPUSD sl_points=150"));
            assert_eq!((s.action, s.close), (SignalAction::Modify, target), "{w}");
            assert_eq!(
                s.new_sl.map(|l| (l.value, l.unit)),
                Some((150.0, PriceUnit::Points))
            );
        }
        // Text: sl= is pips, sl_price= a price; sl_pct percent.
        let s = ok("modify_short EURUSD sl=25 tp_price=1.05");
        assert_eq!(s.new_sl.map(|l| l.unit), Some(PriceUnit::Pips));
        assert_eq!(
            s.new_tp.map(|l| (l.value, l.unit)),
            Some((1.05, PriceUnit::Price))
        );
        let s = ok(r#"{"action":"modify_long","symbol":"EURUSD","sl_pct":0.5}"#);
        assert_eq!(s.new_sl.map(|l| l.unit), Some(PriceUnit::Percent));
        for bad in [
            r#"{"action":"modify","symbol":"EURUSD"}"#,
            r#"{"action":"modify","symbol":"EURUSD","sl":1.08,"sl_pips":20}"#,
            r#"{"action":"modify_long","symbol":"EURUSD","side":"sell","sl":1.08}"#,
            r#"{"action":"modify","side":"close","symbol":"EURUSD","sl":1.08}"#,
        ] {
            assert!(
                matches!(
                    err(bad.as_bytes()).reason.code(),
                    "invalid_command" | "invalid_stops" | "unknown_action"
                ),
                "{bad}"
            );
        }
        assert_eq!(
            err(br#"{"action":"modify","symbol":"EURUSD"}"#)
                .reason
                .code(),
            "invalid_command"
        );
        // An entry's points / percent stop is a typed distance (converted at the
        // terminal), not a modify level.
        let s = ok(r#"{"action":"buy","symbol":"EURUSD","sl_points":100}"#);
        assert_eq!(
            (s.sl_distance.map(|d| (d.value, d.unit)), s.new_sl),
            (Some((100.0, PriceUnit::Points)), None)
        );
        // A modify's level given in two units is refused.
        assert_eq!(
            err(br#"{"action":"modify","symbol":"EURUSD","sl_pips":10,"sl_pct":0.5}"#)
                .reason
                .code(),
            "conflicting_fields"
        );
    }

    #[test]
    fn cancel_words_select_a_side() {
        for (body, target) in [
            (
                r#"{"action":"cancel","symbol":"EURUSD"}"#,
                CloseTarget::Both,
            ),
            (
                r#"{"action":"cancel","symbol":"EURUSD","side":"sell"}"#,
                CloseTarget::Short,
            ),
            ("cancel_long EURUSD", CloseTarget::Long),
            ("cancelshort EURUSD", CloseTarget::Short),
            ("a1,cancel_buy,EURUSD", CloseTarget::Long),
        ] {
            let s = ok(body);
            assert_eq!(
                (s.action, s.close),
                (SignalAction::Cancel, target),
                "{body}"
            );
        }
        assert_eq!(err(b"cancel").reason, Rejection::MissingSymbol);
        assert_eq!(ok("cancel_long EURUSD").dedup_action(), "cancel_long");
        assert_eq!(ok("modify EURUSD sl=1").dedup_action(), "modify");
    }

    #[test]
    fn partial_close_by_lots_is_explicit() {
        let s = ok(r#"{"action":"close_long","symbol":"EURUSD","close_volume":0.05}"#);
        assert_eq!((s.close_volume, s.close_percent), (Some(0.05), None));
        let s = ok("close_short EURUSD close_lots=0.1");
        assert_eq!(s.close_volume, Some(0.1));
        // TradingView's contracts on an exit alert is the order's size, not what to
        // keep: the generic volume keys keep meaning nothing on a close.
        let s = ok(
            r#"{"action":"close","symbol":"EURUSD","contracts":"0.5","market_position":"flat"}"#,
        );
        assert_eq!(s.close_volume, None);
        assert_eq!(ok("buy EURUSD close_volume=0.1").close_volume, None);
        let r = err(br#"{"action":"close","symbol":"EURUSD","percent":50,"close_volume":0.1}"#);
        assert_eq!(r.reason.code(), "invalid_command");
    }
}
