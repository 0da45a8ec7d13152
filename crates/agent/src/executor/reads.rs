//! Terminal reads: `get_positions`, `get_account`, `get_candles`. They fail fast
//! when the terminal is not connected.

use companion_protocol::{
    AccountOutput, CandlesInput, CandlesOutput, JobResultRequest, PositionsOutput,
};
use companion_terminal::Terminal;

use super::{completed, describe_terminal_error, failed, Executor};
use crate::toolchain::Toolchain;

impl<T: Terminal + 'static, C: Toolchain + 'static> Executor<T, C> {
    pub(super) async fn get_positions(&self) -> JobResultRequest {
        if let Err(r) = self.require_connected().await {
            return r;
        }
        match self.terminal.positions().await {
            Ok(positions) => {
                // Pending orders too, when the terminal lists them (an older bridge
                // EA cannot: the positions are still the answer).
                let orders = match self.terminal.orders().await {
                    Ok(o) => o,
                    Err(e) => {
                        tracing::debug!(error = %e, "pending orders not listed");
                        Vec::new()
                    }
                };
                completed(&PositionsOutput { positions, orders })
            }
            Err(e) => failed(describe_terminal_error(&e)),
        }
    }

    pub(super) async fn get_account(&self) -> JobResultRequest {
        if let Err(r) = self.require_connected().await {
            return r;
        }
        match self.terminal.account().await {
            Ok(a) => completed::<AccountOutput>(&a),
            Err(e) => failed(describe_terminal_error(&e)),
        }
    }

    pub(super) async fn get_candles(&self, input: CandlesInput) -> JobResultRequest {
        if input.count == 0 || input.count > 50_000 {
            return failed(format!(
                "invalid count {}: ask for 1 to 50000 candles",
                input.count
            ));
        }
        if let Err(r) = self.require_connected().await {
            return r;
        }
        match self
            .terminal
            .candles(&input.symbol, input.timeframe, input.count)
            .await
        {
            Ok(candles) => completed(&CandlesOutput { candles }),
            Err(e) => failed(format!(
                "cannot read {} candles: {}",
                input.symbol,
                describe_terminal_error(&e)
            )),
        }
    }
}
