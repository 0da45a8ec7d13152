//! The PineConnector alert dialect: `LicenseID,Command,Symbol,Others`, e.g.
//! `60123456789,sell,GBPJPY,sl=50,risk=1`. [`parse_message`] reads a message into a
//! typed [`PineMessage`] (every command word and parameter of PineConnector's
//! syntax guide, values as sent); [`interpret`] applies the strategy's settings
//! ([`PineSettings`]: licence, Volume Type, Target Type) and gives what Companion
//! executes today ([`PineOutcome`]) or a [`PineError`] saying precisely why not.
//! [`read`] does both for a webhook body and says whether the body is PineConnector
//! at all. The licence is never a signal id. Pure: no I/O, never panics.

use companion_protocol::{
    AlertDialect, OrderType, PcAccountFilter, PcPendingEntry, PcTargetType, PcVolumeType,
    PriceDistance, PriceUnit, SignalAction, StopLevel, VolumeSpec,
};

use super::parse::{
    valid_symbol, CloseTarget, ParsedSignal, ALL_SYMBOLS, MAX_COMMENT_LEN, MAX_PIPS, MAX_POINTS,
    MAX_PRICE, MAX_RISK_MONEY, MAX_RISK_PCT, MAX_STOP_PERCENT, MAX_VOLUME_LOTS, MAX_VOLUME_PERCENT,
    MIN_RISK_PCT,
};

/// Longest licence id accepted (PineConnector's are about 11 digits).
pub const MAX_LICENSE_LEN: usize = 32;

/// A PineConnector command word (position 2 of the message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PineCommand {
    /// `buy`, `long`, `bull`, `bullish`: market buy.
    Buy,
    /// `sell`, `short`, `bear`, `bearish`: market sell.
    Sell,
    BuyLimit,
    BuyStop,
    SellLimit,
    SellStop,
    /// Close the symbol's buy positions.
    CloseLong,
    /// Close the symbol's sell positions.
    CloseShort,
    /// Close the symbol's buy and sell positions.
    CloseLongShort,
    /// Close buys, then buy.
    CloseLongBuy,
    /// Close sells, then sell.
    CloseShortSell,
    /// Close every position.
    CloseAll,
    /// Close every position, then pause.
    CloseAllEaOff,
    /// Cancel pending buy orders.
    CancelLong,
    /// Cancel pending sell orders.
    CancelShort,
    /// New stop loss / take profit for open buys.
    NewSlTpLong,
    /// New stop loss / take profit for open sells.
    NewSlTpShort,
    /// Resume (the strategy is enabled).
    EaOn,
    /// Pause (the strategy is disabled).
    EaOff,
}

impl PineCommand {
    /// Every command, in the order of docs/webhook.md.
    pub const ALL: [PineCommand; 19] = [
        PineCommand::Buy,
        PineCommand::Sell,
        PineCommand::BuyLimit,
        PineCommand::BuyStop,
        PineCommand::SellLimit,
        PineCommand::SellStop,
        PineCommand::CloseLong,
        PineCommand::CloseShort,
        PineCommand::CloseLongShort,
        PineCommand::CloseLongBuy,
        PineCommand::CloseShortSell,
        PineCommand::CloseAll,
        PineCommand::CloseAllEaOff,
        PineCommand::CancelLong,
        PineCommand::CancelShort,
        PineCommand::NewSlTpLong,
        PineCommand::NewSlTpShort,
        PineCommand::EaOn,
        PineCommand::EaOff,
    ];

    /// The command a word names (case-insensitive), synonyms included.
    pub fn from_word(word: &str) -> Option<PineCommand> {
        let w = word.trim().to_ascii_lowercase();
        Some(match w.as_str() {
            "buy" | "long" | "bull" | "bullish" => PineCommand::Buy,
            "sell" | "short" | "bear" | "bearish" => PineCommand::Sell,
            "buylimit" => PineCommand::BuyLimit,
            "buystop" => PineCommand::BuyStop,
            "selllimit" => PineCommand::SellLimit,
            "sellstop" => PineCommand::SellStop,
            "closelong" => PineCommand::CloseLong,
            "closeshort" => PineCommand::CloseShort,
            "closelongshort" => PineCommand::CloseLongShort,
            "closelongbuy" => PineCommand::CloseLongBuy,
            "closeshortsell" => PineCommand::CloseShortSell,
            "closeall" => PineCommand::CloseAll,
            "closealleaoff" => PineCommand::CloseAllEaOff,
            "cancellong" => PineCommand::CancelLong,
            "cancelshort" => PineCommand::CancelShort,
            "newsltplong" => PineCommand::NewSlTpLong,
            "newsltpshort" => PineCommand::NewSlTpShort,
            "eaon" => PineCommand::EaOn,
            "eaoff" => PineCommand::EaOff,
            _ => return None,
        })
    }

    /// The canonical word.
    pub fn as_str(self) -> &'static str {
        match self {
            PineCommand::Buy => "buy",
            PineCommand::Sell => "sell",
            PineCommand::BuyLimit => "buylimit",
            PineCommand::BuyStop => "buystop",
            PineCommand::SellLimit => "selllimit",
            PineCommand::SellStop => "sellstop",
            PineCommand::CloseLong => "closelong",
            PineCommand::CloseShort => "closeshort",
            PineCommand::CloseLongShort => "closelongshort",
            PineCommand::CloseLongBuy => "closelongbuy",
            PineCommand::CloseShortSell => "closeshortsell",
            PineCommand::CloseAll => "closeall",
            PineCommand::CloseAllEaOff => "closealleaoff",
            PineCommand::CancelLong => "cancellong",
            PineCommand::CancelShort => "cancelshort",
            PineCommand::NewSlTpLong => "newsltplong",
            PineCommand::NewSlTpShort => "newsltpshort",
            PineCommand::EaOn => "eaon",
            PineCommand::EaOff => "eaoff",
        }
    }

    /// The action logged in `tv_signals.action` for this command.
    fn logged_action(self) -> SignalAction {
        match self {
            PineCommand::Buy
            | PineCommand::BuyLimit
            | PineCommand::BuyStop
            | PineCommand::CloseLongBuy => SignalAction::Buy,
            PineCommand::Sell
            | PineCommand::SellLimit
            | PineCommand::SellStop
            | PineCommand::CloseShortSell => SignalAction::Sell,
            PineCommand::CloseLong
            | PineCommand::CloseShort
            | PineCommand::CloseLongShort
            | PineCommand::CloseAll
            | PineCommand::CloseAllEaOff => SignalAction::Close,
            PineCommand::CancelLong | PineCommand::CancelShort => SignalAction::Cancel,
            PineCommand::NewSlTpLong | PineCommand::NewSlTpShort => SignalAction::Modify,
            PineCommand::EaOn | PineCommand::EaOff => SignalAction::Unknown,
        }
    }

    /// Commands that act on every symbol (the symbol field is optional).
    fn symbol_optional(self) -> bool {
        matches!(
            self,
            PineCommand::EaOn
                | PineCommand::EaOff
                | PineCommand::CloseAll
                | PineCommand::CloseAllEaOff
        )
    }
}

/// A parameter name (the `name=` of the "Others" fields), case-insensitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PineParam {
    Risk,
    Sl,
    Tp,
    Price,
    Comment,
    Spread,
    AccFilter,
    BeTrigger,
    BeOffset,
    TrailTrig,
    TrailDist,
    TrailStep,
    AtrTimeframe,
    AtrTrigger,
    AtrPeriod,
    AtrMultiplier,
    AtrShift,
    Secret,
    VolLots,
    VolDollar,
    SlPips,
    TpPips,
    SlPrice,
    TpPrice,
    SlPct,
    TpPct,
}

impl PineParam {
    pub const ALL: [PineParam; 26] = [
        PineParam::Risk,
        PineParam::Sl,
        PineParam::Tp,
        PineParam::Price,
        PineParam::Comment,
        PineParam::Spread,
        PineParam::AccFilter,
        PineParam::BeTrigger,
        PineParam::BeOffset,
        PineParam::TrailTrig,
        PineParam::TrailDist,
        PineParam::TrailStep,
        PineParam::AtrTimeframe,
        PineParam::AtrTrigger,
        PineParam::AtrPeriod,
        PineParam::AtrMultiplier,
        PineParam::AtrShift,
        PineParam::Secret,
        PineParam::VolLots,
        PineParam::VolDollar,
        PineParam::SlPips,
        PineParam::TpPips,
        PineParam::SlPrice,
        PineParam::TpPrice,
        PineParam::SlPct,
        PineParam::TpPct,
    ];

    pub fn from_name(name: &str) -> Option<PineParam> {
        let n = name.trim().to_ascii_lowercase();
        PineParam::ALL.into_iter().find(|p| p.as_str() == n)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PineParam::Risk => "risk",
            PineParam::Sl => "sl",
            PineParam::Tp => "tp",
            PineParam::Price => "price",
            PineParam::Comment => "comment",
            PineParam::Spread => "spread",
            PineParam::AccFilter => "accfilter",
            PineParam::BeTrigger => "betrigger",
            PineParam::BeOffset => "beoffset",
            PineParam::TrailTrig => "trailtrig",
            PineParam::TrailDist => "traildist",
            PineParam::TrailStep => "trailstep",
            PineParam::AtrTimeframe => "atrtimeframe",
            PineParam::AtrTrigger => "atrtrigger",
            PineParam::AtrPeriod => "atrperiod",
            PineParam::AtrMultiplier => "atrmultiplier",
            PineParam::AtrShift => "atrshift",
            PineParam::Secret => "secret",
            PineParam::VolLots => "vol_lots",
            PineParam::VolDollar => "vol_dollar",
            PineParam::SlPips => "sl_pips",
            PineParam::TpPips => "tp_pips",
            PineParam::SlPrice => "sl_price",
            PineParam::TpPrice => "tp_price",
            PineParam::SlPct => "sl_pct",
            PineParam::TpPct => "tp_pct",
        }
    }

    /// Why Companion does not execute this parameter yet; `None` = it does.
    fn unsupported_because(self) -> Option<&'static str> {
        Some(match self {
            PineParam::Risk
            | PineParam::Sl
            | PineParam::Tp
            | PineParam::Comment
            | PineParam::Price
            | PineParam::VolLots
            | PineParam::VolDollar
            | PineParam::SlPips
            | PineParam::TpPips
            | PineParam::SlPrice
            | PineParam::TpPrice
            | PineParam::SlPct
            | PineParam::TpPct
            | PineParam::Spread
            | PineParam::AccFilter => return None,
            // Breakeven and trailing (pips, or ATR) run beside the terminal.
            PineParam::BeTrigger
            | PineParam::BeOffset
            | PineParam::TrailTrig
            | PineParam::TrailDist
            | PineParam::TrailStep
            | PineParam::AtrTimeframe
            | PineParam::AtrPeriod
            | PineParam::AtrMultiplier
            | PineParam::AtrShift => return None,
            PineParam::AtrTrigger => "atrtrigger= (when the ATR trailing stop starts) is not supported: its unit could not be confirmed from PineConnector's documentation; leave it out (the ATR trailing stop then starts at once) or use trailtrig= in pips",
            PineParam::Secret => "secret= is PineConnector's own key; Companion's webhook URL is the secret, remove secret=",
        })
    }
}

/// Every parameter of a message, with the unit it was sent in.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PineParams {
    /// `risk=`: its unit is the strategy's Volume Type ([`PcVolumeType`]).
    pub risk: Option<f64>,
    /// `sl=` / `tp=`: their unit is the strategy's Target Type ([`PcTargetType`]).
    pub sl: Option<f64>,
    pub tp: Option<f64>,
    /// `price=`: a pending order's entry (its unit is the EA's "Pending Order Entry").
    pub price: Option<f64>,
    /// `comment=` (surrounding quotes removed).
    pub comment: Option<String>,
    /// `spread=`: maximum spread in pips.
    pub spread: Option<f64>,
    /// `accfilter=`: minimum balance / equity / margin (per the EA's Account Filter).
    pub accfilter: Option<f64>,
    /// `betrigger=` / `beoffset=`: breakeven trigger and offset, pips.
    pub be_trigger_pips: Option<f64>,
    pub be_offset_pips: Option<f64>,
    /// `trailtrig=` / `traildist=` / `trailstep=`: pips trailing stop, pips.
    pub trail_trigger_pips: Option<f64>,
    pub trail_distance_pips: Option<f64>,
    pub trail_step_pips: Option<f64>,
    /// `atrtimeframe=` (a timeframe in minutes or a word, as sent).
    pub atr_timeframe: Option<String>,
    /// `atrtrigger=`, `atrperiod=`, `atrmultiplier=`, `atrshift=`.
    pub atr_trigger: Option<f64>,
    pub atr_period: Option<f64>,
    pub atr_multiplier: Option<f64>,
    pub atr_shift: Option<f64>,
    /// `secret=` (PineConnector's key; never stored beyond the raw payload).
    pub secret: Option<String>,
    /// Explicit-unit parameters: `vol_lots=` lots, `vol_dollar=` account currency,
    /// `sl_pips=`/`tp_pips=` pips, `sl_price=`/`tp_price=` prices, `sl_pct=`/`tp_pct=` percent.
    pub vol_lots: Option<f64>,
    pub vol_dollar: Option<f64>,
    pub sl_pips: Option<f64>,
    pub tp_pips: Option<f64>,
    pub sl_price: Option<f64>,
    pub tp_price: Option<f64>,
    pub sl_pct: Option<f64>,
    pub tp_pct: Option<f64>,
    /// The parameter names present, in message order.
    pub present: Vec<PineParam>,
}

/// A PineConnector message as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct PineMessage {
    /// Digits; identifies the sender's PineConnector licence, never the signal.
    pub license_id: String,
    pub command: PineCommand,
    /// The command word as sent (`bullish`, `BUY`, ...).
    pub command_word: String,
    /// Normalised symbol; `None` only for `eaon`, `eaoff`, `closeall`, `closealleaoff`.
    pub symbol: Option<String>,
    pub params: PineParams,
}

/// The strategy settings that decide what a message means.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PineSettings {
    pub dialect: AlertDialect,
    /// When set, messages with another licence are refused.
    pub license_id: Option<String>,
    pub volume_type: PcVolumeType,
    pub target_type: PcTargetType,
    /// What a pending order's `price=` means (the EA's "Pending Order Entry").
    pub pending_entry: PcPendingEntry,
    /// What `accfilter=` is a minimum of.
    pub account_filter: PcAccountFilter,
}

/// What a PineConnector message becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum PineOutcome {
    /// A market entry or a close (its `close` says which positions: `closelong` =
    /// the buys) through the normal pipeline.
    Signal(Box<ParsedSignal>),
    /// `eaon` (true) / `eaoff` (false): set the strategy's `is_enabled`.
    SetEnabled(bool),
}

/// Why a PineConnector message is refused. `code()` is stable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PineError {
    #[error("unreplaced TradingView placeholder {0}")]
    Placeholder(String),
    #[error("this strategy accepts PineConnector alerts only (LicenseID,Command,Symbol,Others, e.g. 60123456789,buy,EURUSD,risk=0.1)")]
    NotPineConnector,
    #[error("the licence id must be digits (position 1 of LicenseID,Command,Symbol,Others)")]
    InvalidLicense,
    #[error("licence {0} is not this strategy's PineConnector licence")]
    LicenseMismatch(String),
    #[error("unknown PineConnector command {0:?}")]
    UnknownCommand(String),
    #[error("no symbol: PineConnector messages are LicenseID,Command,Symbol,Others")]
    MissingSymbol,
    #[error("invalid symbol {0:?}")]
    InvalidSymbol(String),
    #[error("unknown PineConnector parameter {0:?}")]
    UnknownParam(String),
    #[error("{0}= is given twice")]
    RepeatedParam(&'static str),
    #[error(
        "risk= is {0} lost at the stop loss (the strategy's PineConnector Volume Type): add sl="
    )]
    MissingStop(&'static str),
    #[error("invalid {field}: {value:?} ({why})")]
    InvalidNumber {
        field: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("{0}")]
    UnsupportedCommand(String),
    #[error("{0}")]
    UnsupportedParam(String),
    #[error("{0}")]
    UnsupportedSetting(String),
    #[error("{0}")]
    Conflict(&'static str),
    #[error("{0}")]
    MissingParam(&'static str),
}

impl PineError {
    pub fn code(&self) -> &'static str {
        match self {
            PineError::Placeholder(_) => "placeholder",
            PineError::NotPineConnector => "not_pineconnector",
            PineError::InvalidLicense => "invalid_license",
            PineError::LicenseMismatch(_) => "license_mismatch",
            PineError::UnknownCommand(_) => "unknown_action",
            PineError::MissingSymbol => "missing_symbol",
            PineError::InvalidSymbol(_) => "invalid_symbol",
            PineError::UnknownParam(_) | PineError::RepeatedParam(_) => "unknown_param",
            PineError::InvalidNumber { field, .. } if *field == "volume" => "invalid_volume",
            PineError::InvalidNumber { .. } => "invalid_number",
            PineError::UnsupportedCommand(_) => "unsupported_command",
            PineError::UnsupportedParam(_) => "unsupported_param",
            PineError::UnsupportedSetting(_) => "unsupported_setting",
            PineError::Conflict(_) => "conflicting_params",
            PineError::MissingParam(_) => "missing_param",
            PineError::MissingStop(_) => "missing_stop",
        }
    }
}

/// A refused message and what could be read of it (for the `tv_signals` row).
#[derive(Debug, Clone, PartialEq)]
pub struct PineRejected {
    pub error: PineError,
    pub action: Option<SignalAction>,
    pub symbol: Option<String>,
}

impl std::fmt::Display for PineRejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error.code(), self.error)
    }
}

/// True when `text` is shaped `<digits>,<PineConnector command>,...`: such a
/// message is PineConnector whatever the strategy's dialect.
pub fn recognise(text: &str) -> bool {
    let mut fields = text.trim().split(',');
    let (Some(license), Some(command)) = (fields.next(), fields.next()) else {
        return false;
    };
    is_license_id(license) && PineCommand::from_word(command).is_some()
}

/// Digits only, 1 to [`MAX_LICENSE_LEN`] of them (surrounding spaces allowed).
pub fn is_license_id(field: &str) -> bool {
    let f = field.trim();
    !f.is_empty() && f.len() <= MAX_LICENSE_LEN && f.bytes().all(|b| b.is_ascii_digit())
}

/// Reads a webhook body as PineConnector when it is one (or when the strategy
/// accepts PineConnector only); `None` = not PineConnector, use the other syntaxes.
pub fn read(body: &[u8], settings: &PineSettings) -> Option<Result<PineOutcome, PineRejected>> {
    let text = std::str::from_utf8(body).ok().map(|t| {
        let t = t.trim_start_matches('\u{feff}').trim();
        // TradingView users sometimes wrap the message in quotes.
        t.strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .unwrap_or(t)
            .trim()
    });
    let is_pine = text.is_some_and(recognise);
    if !is_pine && settings.dialect == AlertDialect::Auto {
        return None;
    }
    let refuse = |error| PineRejected {
        error,
        action: None,
        symbol: None,
    };
    let Some(text) = text.filter(|_| is_pine) else {
        // PineConnector mode: a licence-first message with an unknown command gets
        // the precise reason; anything else is not PineConnector.
        let licence_first =
            text.is_some_and(|t| t.contains(',') && t.split(',').next().is_some_and(is_license_id));
        return Some(Err(match text.map(parse_message) {
            Some(Err(r)) if licence_first => r,
            _ => refuse(PineError::NotPineConnector),
        }));
    };
    Some(parse_message(text).and_then(|m| {
        interpret(&m, settings).map_err(|error| PineRejected {
            error,
            action: Some(m.command.logged_action()).filter(|a| *a != SignalAction::Unknown),
            symbol: m.symbol.clone(),
        })
    }))
}

/// Parses `LicenseID,Command,Symbol,Others` into a [`PineMessage`] (no settings).
pub fn parse_message(text: &str) -> Result<PineMessage, PineRejected> {
    let mut partial = PineRejected {
        error: PineError::NotPineConnector,
        action: None,
        symbol: None,
    };
    let fail = |mut p: PineRejected, e| {
        p.error = e;
        Err(p)
    };
    if let Some(p) = find_placeholder(text) {
        return fail(partial, PineError::Placeholder(p));
    }
    let mut fields = text.split(',').map(str::trim);
    let license = fields.next().unwrap_or_default();
    if !is_license_id(license) {
        return fail(partial, PineError::InvalidLicense);
    }
    let word = fields.next().unwrap_or_default();
    let Some(command) = PineCommand::from_word(word) else {
        return fail(partial, PineError::UnknownCommand(clip(word, 64)));
    };
    partial.action = Some(command.logged_action()).filter(|a| *a != SignalAction::Unknown);
    let rest: Vec<&str> = fields.filter(|f| !f.is_empty()).collect();
    let (symbol_field, others) = match rest.split_first() {
        Some((first, others)) if !first.contains('=') => (Some(*first), others),
        _ => (None, rest.as_slice()),
    };
    let symbol = match symbol_field {
        Some(raw) => match valid_symbol(raw) {
            Some(s) => Some(s),
            // `LicenseID,eaon,eaon` is in PineConnector's own guide: the third field
            // of a command that needs no symbol is not checked.
            None if command.symbol_optional() => None,
            None => return fail(partial, PineError::InvalidSymbol(clip(raw, 64))),
        },
        None if command.symbol_optional() => None,
        None => return fail(partial, PineError::MissingSymbol),
    };
    partial.symbol = symbol.clone();
    let mut params = PineParams::default();
    for field in others {
        let Some((name, value)) = field.split_once('=') else {
            return fail(partial, PineError::UnknownParam(clip(field, 64)));
        };
        let Some(param) = PineParam::from_name(name) else {
            return fail(partial, PineError::UnknownParam(clip(name.trim(), 64)));
        };
        if params.present.contains(&param) {
            return fail(partial, PineError::RepeatedParam(param.as_str()));
        }
        if let Err(e) = set_param(&mut params, param, value.trim()) {
            return fail(partial, e);
        }
        params.present.push(param);
    }
    Ok(PineMessage {
        license_id: license.to_string(),
        command,
        command_word: clip(word, 64),
        symbol,
        params,
    })
}

fn set_param(p: &mut PineParams, param: PineParam, value: &str) -> Result<(), PineError> {
    let name = param.as_str();
    let num = |max: f64| number(name, value, max);
    match param {
        PineParam::Comment => {
            let c = value.trim_matches(|c| c == '"' || c == '\'').trim();
            if !c.is_empty() {
                p.comment = Some(clip(c, MAX_COMMENT_LEN));
            }
        }
        PineParam::Secret => p.secret = Some(clip(value, 128)),
        PineParam::AtrTimeframe => {
            if value.is_empty()
                || value.len() > 16
                || !value.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                return Err(PineError::InvalidNumber {
                    field: "atrtimeframe",
                    value: clip(value, 64),
                    why: "a timeframe such as 15 or H1",
                });
            }
            p.atr_timeframe = Some(value.to_string());
        }
        PineParam::Risk => p.risk = Some(num(f64::MAX)?),
        PineParam::Sl => p.sl = Some(num(MAX_PRICE)?),
        PineParam::Tp => p.tp = Some(num(MAX_PRICE)?),
        PineParam::Price => p.price = Some(num(MAX_PRICE)?),
        PineParam::Spread => p.spread = Some(num(MAX_PIPS)?),
        PineParam::AccFilter => p.accfilter = Some(num(1e12)?),
        PineParam::BeTrigger => p.be_trigger_pips = Some(num(MAX_PIPS)?),
        PineParam::BeOffset => p.be_offset_pips = Some(non_negative(name, value)?),
        PineParam::TrailTrig => p.trail_trigger_pips = Some(non_negative(name, value)?),
        PineParam::TrailDist => p.trail_distance_pips = Some(num(MAX_PIPS)?),
        PineParam::TrailStep => p.trail_step_pips = Some(non_negative(name, value)?),
        PineParam::AtrTrigger => p.atr_trigger = Some(num(MAX_PIPS)?),
        PineParam::AtrPeriod => p.atr_period = Some(num(10_000.0)?),
        PineParam::AtrMultiplier => p.atr_multiplier = Some(num(1_000.0)?),
        PineParam::AtrShift => p.atr_shift = Some(non_negative(name, value)?),
        PineParam::VolLots => p.vol_lots = Some(number("volume", value, MAX_VOLUME_LOTS)?),
        PineParam::VolDollar => p.vol_dollar = Some(num(1e12)?),
        PineParam::SlPips => p.sl_pips = Some(num(MAX_PIPS)?),
        PineParam::TpPips => p.tp_pips = Some(num(MAX_PIPS)?),
        PineParam::SlPrice => p.sl_price = Some(num(MAX_PRICE)?),
        PineParam::TpPrice => p.tp_price = Some(num(MAX_PRICE)?),
        PineParam::SlPct => p.sl_pct = Some(num(100.0)?),
        PineParam::TpPct => p.tp_pct = Some(num(1_000.0)?),
    }
    Ok(())
}

/// A finite number in (0, max].
fn number(field: &'static str, value: &str, max: f64) -> Result<f64, PineError> {
    let bad = |why| PineError::InvalidNumber {
        field,
        value: clip(value, 64),
        why,
    };
    let x: f64 = value.parse().map_err(|_| bad("not a number"))?;
    if !x.is_finite() {
        return Err(bad("not a number"));
    }
    if x <= 0.0 {
        return Err(bad("must be positive"));
    }
    if x > max {
        return Err(bad("too large"));
    }
    Ok(x)
}

/// A finite number in [0, MAX_PIPS].
fn non_negative(field: &'static str, value: &str) -> Result<f64, PineError> {
    if value.parse::<f64>().is_ok_and(|x| x == 0.0) {
        return Ok(0.0);
    }
    number(field, value, MAX_PIPS)
}

/// Applies the strategy's settings: what Companion executes, or why not.
pub fn interpret(m: &PineMessage, settings: &PineSettings) -> Result<PineOutcome, PineError> {
    if let Some(own) = settings.license_id.as_deref() {
        if own.trim() != m.license_id {
            return Err(PineError::LicenseMismatch(m.license_id.clone()));
        }
    }
    let p = &m.params;
    let word = m.command.as_str();
    let mut order_type = None;
    let mut close_same_side = false;
    let mut then_pause = false;
    let (action, close) = match m.command {
        PineCommand::Buy => (SignalAction::Buy, CloseTarget::Both),
        PineCommand::Sell => (SignalAction::Sell, CloseTarget::Both),
        PineCommand::BuyLimit | PineCommand::BuyStop => {
            order_type = Some(pending_type(m.command));
            (SignalAction::Buy, CloseTarget::Both)
        }
        PineCommand::SellLimit | PineCommand::SellStop => {
            order_type = Some(pending_type(m.command));
            (SignalAction::Sell, CloseTarget::Both)
        }
        // Close the strategy's positions of the same side, then enter again: one
        // trade job that closes first (`close_same_side`).
        PineCommand::CloseLongBuy => {
            close_same_side = true;
            (SignalAction::Buy, CloseTarget::Both)
        }
        PineCommand::CloseShortSell => {
            close_same_side = true;
            (SignalAction::Sell, CloseTarget::Both)
        }
        PineCommand::CloseLong => (SignalAction::Close, CloseTarget::Long),
        PineCommand::CloseShort => (SignalAction::Close, CloseTarget::Short),
        PineCommand::CloseLongShort => (SignalAction::Close, CloseTarget::Both),
        // Every position of the strategy on every symbol (a symbol is only logged).
        PineCommand::CloseAll => (SignalAction::Close, CloseTarget::All),
        // The closeall job is queued, then the strategy is paused.
        PineCommand::CloseAllEaOff => {
            then_pause = true;
            (SignalAction::Close, CloseTarget::All)
        }
        PineCommand::CancelLong => (SignalAction::Cancel, CloseTarget::Long),
        PineCommand::CancelShort => (SignalAction::Cancel, CloseTarget::Short),
        PineCommand::NewSlTpLong => (SignalAction::Modify, CloseTarget::Long),
        PineCommand::NewSlTpShort => (SignalAction::Modify, CloseTarget::Short),
        PineCommand::EaOn | PineCommand::EaOff => {
            if let Some(param) = p.present.first() {
                return Err(PineError::UnsupportedParam(format!(
                    "{}= means nothing for {word}",
                    param.as_str()
                )));
            }
            return Ok(PineOutcome::SetEnabled(m.command == PineCommand::EaOn));
        }
    };
    let symbol = match (&m.symbol, close) {
        (Some(s), _) => s.clone(),
        (None, CloseTarget::All) if action == SignalAction::Close => ALL_SYMBOLS.to_string(),
        (None, _) => return Err(PineError::MissingSymbol),
    };
    for param in &p.present {
        if let Some(why) = param.unsupported_because() {
            return Err(PineError::UnsupportedParam(why.to_string()));
        }
    }
    let mut s = ParsedSignal::new(action, symbol);
    s.close = close;
    s.comment = p.comment.clone();
    s.close_same_side = close_same_side;
    s.then_pause = then_pause;
    if matches!(action, SignalAction::Close | SignalAction::Cancel) {
        if let Some(param) = p.present.iter().find(|q| **q != PineParam::Comment) {
            return Err(PineError::UnsupportedParam(format!(
                "{}= on {word}: {word} takes no parameters but comment= (a close closes the whole positions)",
                param.as_str()
            )));
        }
        return Ok(PineOutcome::Signal(Box::new(s)));
    }
    if action == SignalAction::Modify {
        return modify(s, p, settings, word);
    }
    // Entries: price= only on pending orders, and required there.
    match (order_type, p.price) {
        (Some(t), Some(price)) => {
            s.order_type = Some(t);
            match settings.pending_entry {
                PcPendingEntry::Price => {
                    s.entry_price = Some(price);
                    s.price = Some(price);
                }
                PcPendingEntry::Pips => {
                    s.entry_offset = Some(pips_or_percent(price, PriceUnit::Pips)?)
                }
                PcPendingEntry::Percentage => {
                    s.entry_offset = Some(pips_or_percent(price, PriceUnit::Percent)?)
                }
            }
        }
        (Some(_), None) => {
            return Err(PineError::MissingParam(
                "price= is required for pending orders (buylimit, buystop, selllimit, sellstop): the entry, in the strategy's Pending Order Entry unit",
            ))
        }
        (None, Some(_)) => {
            return Err(PineError::UnsupportedParam(format!(
                "price= on {word}: price= is the entry of a pending order (buylimit, buystop, selllimit, sellstop); a market order takes the market price"
            )))
        }
        (None, None) => {}
    }
    // Volume: risk= in the strategy's Volume Type, or vol_lots= (lots) / vol_dollar=
    // (account currency lost at the stop).
    let sizes = [p.risk, p.vol_lots, p.vol_dollar];
    if sizes.iter().filter(|x| x.is_some()).count() > 1 {
        return Err(PineError::Conflict(
            "risk=, vol_lots= and vol_dollar= each give the volume; send one",
        ));
    }
    if let Some(lots) = p.vol_lots {
        s.volume = Some(lots);
    }
    if let Some(amount) = p.vol_dollar {
        s.volume_spec = Some(risk_money(amount)?);
    }
    if let Some(risk) = p.risk {
        volume_from_risk(&mut s, risk, settings.volume_type)?;
    }
    // Stops: sl= / tp= in the strategy's Target Type, or the explicit-unit names.
    for (name, explicit_pips, explicit_price, explicit_pct, bare) in [
        ("sl", p.sl_pips, p.sl_price, p.sl_pct, p.sl),
        ("tp", p.tp_pips, p.tp_price, p.tp_pct, p.tp),
    ] {
        let given = [
            explicit_pips.is_some(),
            explicit_price.is_some(),
            explicit_pct.is_some(),
            bare.is_some(),
        ];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(PineError::Conflict(if name == "sl" {
                "the stop loss is given twice (sl=, sl_pips=, sl_price=, sl_pct=); send one"
            } else {
                "the take profit is given twice (tp=, tp_pips=, tp_price=, tp_pct=); send one"
            }));
        }
        let field = if name == "sl" { "sl" } else { "tp" };
        let stop = match (bare, settings.target_type) {
            (Some(v), t) => target(field, v, t)?,
            (None, _) => match (explicit_pips, explicit_price, explicit_pct) {
                (Some(v), _, _) => target(field, v, PcTargetType::Pips)?,
                (_, Some(v), _) => target(field, v, PcTargetType::Price)?,
                (_, _, Some(v)) => target(field, v, PcTargetType::Percentage)?,
                _ => Stop::None,
            },
        };
        let (pips, price, distance) = match stop {
            Stop::None => (None, None, None),
            Stop::Pips(v) => (Some(v), None, None),
            Stop::Price(v) => (None, Some(v), None),
            Stop::Distance(d) => (None, None, Some(d)),
        };
        if name == "sl" {
            (s.sl_pips, s.sl, s.sl_distance) = (pips, price, distance);
        } else {
            (s.tp_pips, s.tp, s.tp_distance) = (pips, price, distance);
        }
    }
    // PineConnector: "sl= syntax is required" for the types lost at the stop.
    let no_stop = s.sl.is_none() && s.sl_pips.is_none() && s.sl_distance.is_none();
    if p.risk.is_some() && no_stop {
        let what = match settings.volume_type {
            PcVolumeType::DollarRisk => Some("an amount of the account currency"),
            PcVolumeType::PercentBalanceRisk => Some("a percent of the balance"),
            PcVolumeType::PercentEquityRisk => Some("a percent of the equity"),
            _ => None,
        };
        if let Some(what) = what {
            return Err(PineError::MissingStop(what));
        }
    }
    if p.vol_dollar.is_some() && no_stop {
        return Err(PineError::MissingStop("an amount of the account currency"));
    }
    // Per-alert filters: spread= (pips) and accfilter= (the strategy's basis).
    s.max_spread = p.spread.map(|value| PriceDistance {
        value,
        unit: PriceUnit::Pips,
    });
    s.account_min = p.accfilter;
    (s.breakeven, s.trailing) = pine_rules(p)?;
    Ok(PineOutcome::Signal(Box::new(s)))
}

/// An SL or TP as the message gave it.
enum Stop {
    None,
    Pips(f64),
    Price(f64),
    /// Points or percent: converted by the agent at the terminal.
    Distance(PriceDistance),
}

/// A bare `sl=` / `tp=` value in `unit` (the strategy's Target Type or an
/// explicit-unit parameter).
fn target(field: &'static str, v: f64, unit: PcTargetType) -> Result<Stop, PineError> {
    let bad = |why| PineError::InvalidNumber {
        field,
        value: v.to_string(),
        why,
    };
    Ok(match unit {
        PcTargetType::Pips if v > MAX_PIPS => {
            return Err(bad(
                "a distance in pips (the strategy's PineConnector Target Type) of at most 100000",
            ))
        }
        PcTargetType::Pips => Stop::Pips(v),
        PcTargetType::Price => Stop::Price(v),
        PcTargetType::Points if v > MAX_POINTS => {
            return Err(bad("a distance in points of at most 10000000"))
        }
        PcTargetType::Points => Stop::Distance(PriceDistance {
            value: v,
            unit: PriceUnit::Points,
        }),
        PcTargetType::Percentage if v > MAX_STOP_PERCENT => {
            return Err(bad("a distance in percent of the price of at most 1000"))
        }
        PcTargetType::Percentage => Stop::Distance(PriceDistance {
            value: v,
            unit: PriceUnit::Percent,
        }),
    })
}

fn risk_money(amount: f64) -> Result<VolumeSpec, PineError> {
    if amount > MAX_RISK_MONEY {
        return Err(PineError::InvalidNumber {
            field: "risk",
            value: amount.to_string(),
            why: "an amount of the account currency of at most 1000000000",
        });
    }
    Ok(VolumeSpec::RiskMoney { amount })
}

/// `risk=` in the strategy's Volume Type.
fn volume_from_risk(
    s: &mut ParsedSignal,
    risk: f64,
    volume_type: PcVolumeType,
) -> Result<(), PineError> {
    let percent = |max: f64, what: &'static str| {
        if risk > max || (max == MAX_RISK_PCT && risk < MIN_RISK_PCT) {
            Err(PineError::InvalidNumber {
                field: "risk",
                value: risk.to_string(),
                why: what,
            })
        } else {
            Ok(risk)
        }
    };
    match volume_type {
        PcVolumeType::Lots => {
            if risk > MAX_VOLUME_LOTS {
                return Err(PineError::InvalidNumber {
                    field: "volume",
                    value: risk.to_string(),
                    why: "risk= is in lots (the strategy's PineConnector Volume Type) and must be at most 1000",
                });
            }
            s.volume = Some(risk);
        }
        PcVolumeType::PercentBalanceRisk => {
            s.risk_pct = Some(percent(
                MAX_RISK_PCT,
                "risk= is percent of balance (the strategy's PineConnector Volume Type) and must be 0.1 to 10",
            )?);
        }
        PcVolumeType::PercentEquityRisk => {
            let percent = percent(
                MAX_RISK_PCT,
                "risk= is percent of equity (the strategy's PineConnector Volume Type) and must be 0.1 to 10",
            )?;
            s.volume_spec = Some(VolumeSpec::EquityRisk { percent });
        }
        PcVolumeType::DollarRisk => s.volume_spec = Some(risk_money(risk)?),
        PcVolumeType::PercentBalanceLots => {
            let percent = percent(
                MAX_VOLUME_PERCENT,
                "risk= is percent of balance as lots (the strategy's PineConnector Volume Type) and must be at most 100",
            )?;
            s.volume_spec = Some(VolumeSpec::BalanceLots { percent });
        }
        PcVolumeType::PercentBalanceMargin => {
            let percent = percent(
                MAX_VOLUME_PERCENT,
                "risk= is percent of balance as margin (the strategy's PineConnector Volume Type) and must be at most 100",
            )?;
            s.volume_spec = Some(VolumeSpec::BalanceMargin { percent });
        }
    }
    Ok(())
}

/// `betrigger=`, `beoffset=` (pips), `trailtrig=`, `traildist=`, `trailstep=`
/// (pips) and the ATR trailing stop (`atrtimeframe=`, `atrperiod=`,
/// `atrmultiplier=`, `atrshift=`) as typed rules.
fn pine_rules(
    p: &PineParams,
) -> Result<
    (
        Option<companion_protocol::BreakevenSpec>,
        Option<companion_protocol::TrailingSpec>,
    ),
    PineError,
> {
    use super::stop_rules::{timeframe, RuleFields};
    let whole = |field: &'static str, x: Option<f64>| -> Result<Option<u32>, PineError> {
        match x {
            None => Ok(None),
            Some(v) if v.fract() == 0.0 && (0.0..=10_000.0).contains(&v) => Ok(Some(v as u32)),
            Some(v) => Err(PineError::InvalidNumber {
                field,
                value: v.to_string(),
                why: "a whole number",
            }),
        }
    };
    let atr_timeframe = match &p.atr_timeframe {
        None => None,
        Some(t) => Some(timeframe(t).ok_or_else(|| PineError::InvalidNumber {
            field: "atrtimeframe",
            value: clip(t, 64),
            why: "a timeframe in minutes (1, 5, 15, 30, 60, 240, 1440) or M1…MN1",
        })?),
    };
    let fields = RuleFields {
        be_trigger_pips: p.be_trigger_pips,
        be_offset_pips: p.be_offset_pips,
        trail_trigger_pips: p.trail_trigger_pips,
        trail_dist_pips: p.trail_distance_pips,
        trail_step_pips: p.trail_step_pips,
        atr_timeframe,
        atr_period: whole("atrperiod", p.atr_period)?,
        atr_multiplier: p.atr_multiplier,
        atr_shift: whole("atrshift", p.atr_shift)?,
    };
    fields.build().map_err(PineError::Conflict)
}

fn pending_type(c: PineCommand) -> OrderType {
    match c {
        PineCommand::BuyLimit | PineCommand::SellLimit => OrderType::Limit,
        _ => OrderType::Stop,
    }
}

/// A pending order's distance from the current price, checked.
fn pips_or_percent(value: f64, unit: PriceUnit) -> Result<PriceDistance, PineError> {
    let max = if unit == PriceUnit::Percent {
        100.0
    } else {
        MAX_PIPS
    };
    if value > max {
        return Err(PineError::InvalidNumber {
            field: "price",
            value: value.to_string(),
            why: "price= is a distance from the current price (the strategy's Pending Order Entry) and too large",
        });
    }
    Ok(PriceDistance { value, unit })
}

/// `newsltplong` / `newsltpshort`: new SL / TP for the strategy's open positions of
/// one side, `sl=` / `tp=` in the strategy's Target Type (distances from the
/// position's open price, or prices), or the explicit-unit names.
fn modify(
    mut s: ParsedSignal,
    p: &PineParams,
    settings: &PineSettings,
    word: &str,
) -> Result<PineOutcome, PineError> {
    if let Some(param) = p.present.iter().find(|q| {
        !matches!(
            q,
            PineParam::Comment
                | PineParam::Sl
                | PineParam::Tp
                | PineParam::SlPips
                | PineParam::TpPips
                | PineParam::SlPrice
                | PineParam::TpPrice
        )
    }) {
        return Err(PineError::UnsupportedParam(format!(
            "{}= on {word}: {word} takes sl= and tp= (and comment=)",
            param.as_str()
        )));
    }
    let unit = match settings.target_type {
        PcTargetType::Pips => PriceUnit::Pips,
        PcTargetType::Price => PriceUnit::Price,
        PcTargetType::Points => PriceUnit::Points,
        PcTargetType::Percentage => PriceUnit::Percent,
    };
    for (name, bare, pips, price) in [
        ("sl", p.sl, p.sl_pips, p.sl_price),
        ("tp", p.tp, p.tp_pips, p.tp_price),
    ] {
        let given: Vec<StopLevel> = [
            bare.map(|value| StopLevel { value, unit }),
            pips.map(|value| StopLevel {
                value,
                unit: PriceUnit::Pips,
            }),
            price.map(|value| StopLevel {
                value,
                unit: PriceUnit::Price,
            }),
        ]
        .into_iter()
        .flatten()
        .collect();
        let level = match given.as_slice() {
            [] => None,
            [one] => Some(*one),
            _ => {
                return Err(PineError::Conflict(if name == "sl" {
                    "the stop loss is given twice (sl=, sl_pips=, sl_price=); send one"
                } else {
                    "the take profit is given twice (tp=, tp_pips=, tp_price=); send one"
                }))
            }
        };
        if name == "sl" {
            s.new_sl = level;
        } else {
            s.new_tp = level;
        }
    }
    if s.new_sl.is_none() && s.new_tp.is_none() {
        return Err(PineError::MissingParam(
            "newsltplong / newsltpshort need sl= or tp= (the new stop loss / take profit, in the strategy's Target Type)",
        ));
    }
    Ok(PineOutcome::Signal(Box::new(s)))
}

fn find_placeholder(text: &str) -> Option<String> {
    let start = text.find("{{")?;
    let rest = &text[start..];
    let end = rest.find("}}")?;
    Some(rest[..end + 2].chars().take(64).collect())
}

fn clip(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

#[cfg(test)]
#[path = "pineconnector_tests.rs"]
mod tests;
