import { describe, expect, it } from 'vitest';
import { lossLimitView } from './trading-day';
import type { TradingDay } from './api';

const day = (over: Partial<TradingDay> = {}): TradingDay => ({
  broker_connection_id: 'c1',
  trading_day_tz: 'Europe/Berlin',
  day_start: '2026-11-29T23:00:00Z',
  realised_pnl: 0,
  from_terminal: true,
  deals: 0,
  balance: 10000,
  daily_loss_limit_pct: 5,
  loss_limit: 500,
  ...over,
});

describe('lossLimitView', () => {
  it('shows the share of the limit a loss used', () => {
    const v = lossLimitView(day({ realised_pnl: -125 }));
    expect(v.realised).toBe('−125.00');
    expect(v.usedPct).toBe(25);
    expect(v.reached).toBe(false);
    expect(v.note).toBe('since 00:00 Europe/Berlin · loss limit 500.00 (5 %), 25 % used');
  });

  it('says when the limit is reached', () => {
    const v = lossLimitView(day({ realised_pnl: -600 }));
    expect(v.usedPct).toBe(100);
    expect(v.reached).toBe(true);
    expect(v.note).toContain('new entries are refused until 00:00 Europe/Berlin');
  });

  it('uses nothing of the limit with a profit, and says when the balance is unknown', () => {
    expect(lossLimitView(day({ realised_pnl: 80 })).usedPct).toBe(0);
    const v = lossLimitView(day({ loss_limit: null, balance: null, realised_pnl: -10 }));
    expect(v.reached).toBe(false);
    expect(v.note).toContain('balance not known yet');
  });
});
