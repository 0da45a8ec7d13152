//! MT5 return codes: the trade server's `TRADE_RETCODE_*` and the runtime errors the
//! bridge uses, with their meaning in words a trader understands. The one table the
//! bridge, the paper terminal and the agent's failed-job messages share.

/// TRADE_RETCODE_REQUOTE
pub const REQUOTE: u32 = 10004;
/// TRADE_RETCODE_REJECT
pub const REJECT: u32 = 10006;
/// TRADE_RETCODE_DONE
pub const DONE: u32 = 10009;
/// TRADE_RETCODE_ERROR (common error)
pub const ERROR: u32 = 10011;
/// TRADE_RETCODE_INVALID (invalid request)
pub const INVALID: u32 = 10013;
/// TRADE_RETCODE_INVALID_VOLUME
pub const INVALID_VOLUME: u32 = 10014;
/// TRADE_RETCODE_INVALID_PRICE
pub const INVALID_PRICE: u32 = 10015;
/// TRADE_RETCODE_INVALID_EXPIRATION
pub const INVALID_EXPIRATION: u32 = 10022;
/// TRADE_RETCODE_INVALID_STOPS
pub const INVALID_STOPS: u32 = 10016;
/// TRADE_RETCODE_TRADE_DISABLED
pub const TRADE_DISABLED: u32 = 10017;
/// TRADE_RETCODE_MARKET_CLOSED
pub const MARKET_CLOSED: u32 = 10018;
/// TRADE_RETCODE_NO_MONEY
pub const NO_MONEY: u32 = 10019;
/// TRADE_RETCODE_CLIENT_DISABLES_AT (autotrading disabled in the terminal)
pub const AUTOTRADING_DISABLED: u32 = 10027;
/// TRADE_RETCODE_INVALID_FILL: the symbol does not allow the order's filling policy.
pub const INVALID_FILL: u32 = 10030;
/// TRADE_RETCODE_POSITION_CLOSED
pub const POSITION_CLOSED: u32 = 10036;
/// TRADE_RETCODE_LONG_ONLY
pub const LONG_ONLY: u32 = 10042;
/// TRADE_RETCODE_SHORT_ONLY
pub const SHORT_ONLY: u32 = 10043;
/// TRADE_RETCODE_CLOSE_ONLY
pub const CLOSE_ONLY: u32 = 10044;
/// ERR_WRONG_PARAMETER: the request's arguments are missing or malformed.
pub const BAD_ARGS: u32 = 4003;
/// The bridge's own code for an unknown command, in MQL5's user-error range
/// (65536 and up) so it cannot be mistaken for MT5's 4014 (function not allowed,
/// which is also what a socket call without the URL permission fails with).
pub const UNKNOWN_COMMAND: u32 = 65601;
/// TRADE_RETCODE_PRICE_OFF: no quotes (the EA's answer when a symbol has no bid/ask yet).
pub const NO_QUOTES: u32 = 10021;
/// ERR_CHART_WRONG_ID
pub const CHART_WRONG_ID: u32 = 4101;
/// ERR_MARKET_UNKNOWN_SYMBOL
pub const UNKNOWN_SYMBOL: u32 = 4301;
/// ERR_TRADE_POSITION_NOT_FOUND
pub const POSITION_NOT_FOUND: u32 = 4753;

/// What a return code means, in words a trader understands (for messages).
pub fn describe(code: u32) -> &'static str {
    match code {
        REQUOTE => "requote",
        REJECT => "request rejected",
        10007 => "request canceled by trader",
        10008 => "order placed",
        DONE => "request completed",
        10010 => "only part of the request was completed",
        ERROR => "request processing error",
        10012 => "request canceled by timeout",
        INVALID => "invalid request",
        INVALID_VOLUME => "invalid volume",
        INVALID_PRICE => "invalid price",
        INVALID_STOPS => "invalid stops",
        TRADE_DISABLED => "trade is disabled",
        MARKET_CLOSED => "market is closed",
        NO_MONEY => "not enough money",
        10020 => "prices changed",
        NO_QUOTES => "no quotes to process the request",
        INVALID_EXPIRATION => "invalid order expiration date",
        10023 => "order state changed",
        10024 => "too frequent requests",
        10025 => "no changes in request",
        10026 => "autotrading disabled by server",
        AUTOTRADING_DISABLED => "autotrading disabled by client terminal (enable Algo Trading)",
        10028 => "request locked for processing",
        10029 => "order or position frozen",
        INVALID_FILL => "invalid order filling type",
        10031 => "no connection with the trade server",
        10032 => "operation allowed only for live accounts",
        10033 => "pending orders limit reached",
        10034 => "volume limit for the symbol reached",
        10035 => "incorrect or prohibited order type",
        POSITION_CLOSED => "position already closed",
        10038 => "close volume exceeds the position volume",
        10039 => "a close order already exists for this position",
        10040 => "open positions limit reached",
        10041 => "pending order activation rejected",
        LONG_ONLY => "only long positions allowed",
        SHORT_ONLY => "only short positions allowed",
        CLOSE_ONLY => "only position closing allowed",
        10045 => "position closing allowed only by FIFO rule",
        BAD_ARGS => "wrong parameters",
        UNKNOWN_COMMAND => "unknown command (the bridge EA is older than the agent: reinstall it with `companion-agent terminal setup`)",
        4014 => "function not allowed (sockets: allow 127.0.0.1 in Tools > Options > Expert Advisors)",
        CHART_WRONG_ID => "wrong chart id",
        UNKNOWN_SYMBOL => "unknown symbol",
        POSITION_NOT_FOUND => "position not found",
        _ => "unknown return code",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_codes_have_meanings() {
        assert_eq!(super::describe(10019), "not enough money");
        assert_eq!(super::describe(10018), "market is closed");
        assert_eq!(super::describe(1), "unknown return code");
    }
}
