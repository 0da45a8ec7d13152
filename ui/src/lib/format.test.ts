import { describe, expect, it } from 'vitest';
import { age, duration, money, parsePairs, price, signed } from './format';

describe('format', () => {
  it('normalises pair spellings like the server does', () => {
    expect(parsePairs('OANDA:eurusd, gbp/usd\nEURUSD.m  xauusd;usd-jpy')).toEqual(['EURUSD', 'GBPUSD', 'XAUUSD', 'USDJPY']);
    expect(parsePairs('  ,, ')).toEqual([]);
  });

  it('formats money, signed P&L and prices', () => {
    expect(money(10042.5)).toBe('10,042.50');
    expect(money(null)).toBe('—');
    expect(signed(12.3)).toBe('+12.30');
    expect(signed(-4)).toBe('−4.00');
    expect(price(1.08)).toBe('1.08');
    expect(price(1.08423)).toBe('1.08423');
    expect(price(null)).toBe('—');
  });

  it('describes ages and durations', () => {
    const now = new Date('2026-11-24T19:10:00Z');
    expect(age('2026-11-24T19:09:30Z', now)).toBe('30 s ago');
    expect(age('2026-11-24T17:10:00Z', now)).toBe('2 h ago');
    expect(duration('2026-11-24T19:00:00.000Z', '2026-11-24T19:00:00.840Z')).toBe('840 ms');
    expect(duration('2026-11-24T19:00:00Z', null)).toBe('—');
  });
});
