//! Human meanings of MT5 trade server return codes, for failed job messages.

/// What an MT5 `retcode` means, in words a trader understands.
pub fn retcode_meaning(retcode: u32) -> &'static str {
    match retcode {
        10004 => "requote",
        10006 => "request rejected",
        10007 => "request canceled by trader",
        10008 => "order placed",
        10009 => "request completed",
        10010 => "only part of the request was completed",
        10011 => "request processing error",
        10012 => "request canceled by timeout",
        10013 => "invalid request",
        10014 => "invalid volume",
        10015 => "invalid price",
        10016 => "invalid stops",
        10017 => "trade is disabled",
        10018 => "market is closed",
        10019 => "not enough money",
        10020 => "prices changed",
        10021 => "no quotes to process the request",
        10022 => "invalid order expiration date",
        10023 => "order state changed",
        10024 => "too frequent requests",
        10025 => "no changes in request",
        10026 => "autotrading disabled by server",
        10027 => "autotrading disabled by client terminal (enable Algo Trading)",
        10028 => "request locked for processing",
        10029 => "order or position frozen",
        10030 => "invalid order filling type",
        10031 => "no connection with the trade server",
        10032 => "operation allowed only for live accounts",
        10033 => "pending orders limit reached",
        10034 => "volume limit for the symbol reached",
        10035 => "incorrect or prohibited order type",
        10036 => "position already closed",
        10038 => "close volume exceeds the position volume",
        10039 => "a close order already exists for this position",
        10040 => "open positions limit reached",
        10041 => "pending order activation rejected",
        10042 => "only long positions allowed",
        10043 => "only short positions allowed",
        10044 => "only position closing allowed",
        10045 => "position closing allowed only by FIFO rule",
        _ => "unknown return code",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_codes_have_meanings() {
        assert_eq!(super::retcode_meaning(10019), "not enough money");
        assert_eq!(super::retcode_meaning(10018), "market is closed");
        assert_eq!(super::retcode_meaning(1), "unknown return code");
    }
}
