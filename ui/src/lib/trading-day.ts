// Today's realised P&L against the daily loss limit, in words (dashboard card).
import type { TradingDay } from './api';
import { money, signed } from './format';

export interface LossLimitView {
  /** `+12.00` / `−40.00`. */
  realised: string;
  /** Share of the loss limit used, 0–100 (0 with a profit or an unknown limit). */
  usedPct: number;
  reached: boolean;
  /** One line under the figure. */
  note: string;
}

export function lossLimitView(day: TradingDay): LossLimitView {
  const loss = Math.max(0, -day.realised_pnl);
  const since = `since 00:00 ${day.trading_day_tz}`;
  if (day.loss_limit === null || day.loss_limit <= 0) {
    return {
      realised: signed(day.realised_pnl),
      usedPct: 0,
      reached: false,
      note: `${since} · limit ${day.daily_loss_limit_pct} % of the balance (balance not known yet)`,
    };
  }
  const usedPct = Math.min(100, (loss / day.loss_limit) * 100);
  const reached = loss >= day.loss_limit;
  return {
    realised: signed(day.realised_pnl),
    usedPct,
    reached,
    note: reached
      ? `Limit ${money(day.loss_limit)} reached — new entries are refused until 00:00 ${day.trading_day_tz}`
      : `${since} · loss limit ${money(day.loss_limit)} (${day.daily_loss_limit_pct} %), ${Math.round(usedPct)} % used`,
  };
}
