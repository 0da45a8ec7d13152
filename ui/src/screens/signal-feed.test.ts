import { describe, expect, it } from 'vitest';
import { isSignal, matches, outcomeLines, upsert } from './signal-feed';
import { signal } from '../test/fixtures';

describe('signal feed', () => {
  it('puts a new signal on top and replaces a known one in place', () => {
    const a = signal('a', { received_at: '2026-11-24T19:00:00Z' });
    const b = signal('b', { received_at: '2026-11-24T19:00:05Z', status: 'pending' });
    let list = upsert([a], b, {});
    expect(list.map((s) => s.id)).toEqual(['b', 'a']);
    list = upsert(list, { ...b, status: 'executed', fill_price: 1.1 }, {});
    expect(list.map((s) => s.id)).toEqual(['b', 'a']);
    expect(list[0]?.status).toBe('executed');
  });

  it('respects the active filter, dropping rows that stop matching', () => {
    const p = signal('p', { status: 'pending' });
    let list = upsert([], p, { status: 'pending' });
    expect(list).toHaveLength(1);
    list = upsert(list, { ...p, status: 'failed' }, { status: 'pending' });
    expect(list).toHaveLength(0);
    expect(matches(signal('x', { symbol: 'GBPUSD' }), { symbol: 'oanda:eurusd' })).toBe(false);
    expect(matches(signal('x', { symbol: 'EURUSD' }), { symbol: 'oanda:eurusd' })).toBe(true);
  });

  it('recognises signal payloads', () => {
    expect(isSignal(signal('a'))).toBe(true);
    expect(isSignal({ id: 'x' })).toBe(false);
    expect(isSignal(null)).toBe(false);
  });

  it('says what a netting order did and lists each position a close closed', () => {
    expect(
      outcomeLines('trade', {
        fill_price: 1.085,
        ticket: 7,
        order_id: 9,
        volume: 0.1,
        position_effect: 'reversed',
        closed: [{ ticket: 5, symbol: 'EURUSD', side: 'buy', volume: 0.1, price: 1.0849, pnl: -1.5 }],
      }),
    ).toEqual([
      'Closed #5 EURUSD buy 0.1 at 1.0849 (P&L −1.50)',
      'Reversed: the opposite position was closed and the new side opened — position #7, 0.1 lots at 1.085',
    ]);
    expect(outcomeLines('trade', { fill_price: 1.1, ticket: 3, order_id: 3, volume: 0.2, position_effect: 'added' })[0]).toMatch(
      /^Added to the open position \(netting\)/,
    );
    expect(
      outcomeLines('close_position', {
        closed_price: 1.2,
        pnl: 3,
        tickets: [1, 2],
        closed: [
          { ticket: 1, symbol: 'EURUSD', side: 'buy', volume: 0.1, price: 1.2, pnl: 1 },
          { ticket: 2, symbol: 'GBPUSD', side: 'sell', volume: 0.2, price: 1.3, pnl: 2 },
        ],
      }),
    ).toHaveLength(2);
    expect(outcomeLines('get_account', { balance: 1 })).toEqual([]);
  });

  it('says what pending orders, modifications and cancellations did, per position', () => {
    expect(
      outcomeLines('trade', { fill_price: 1.265, ticket: 0, order_id: 41, volume: 1, pending: true }),
    ).toEqual(['Pending order #41 placed: 1 lots at 1.265']);
    expect(
      outcomeLines('modify_position', {
        modified: [
          { ticket: 7, symbol: 'GBPUSD', side: 'sell', sl: 1.269, tp: 1.259 },
          { ticket: 8, symbol: 'GBPUSD', side: 'sell', sl: 1.27, tp: null },
        ],
      }),
    ).toEqual(['Modified #7 GBPUSD sell: SL 1.269, TP 1.259', 'Modified #8 GBPUSD sell: SL 1.27, TP —']);
    expect(
      outcomeLines('cancel_orders', {
        cancelled: [
          { ticket: 41, symbol: 'GBPUSD', side: 'sell', order_type: 'limit', volume: 0.1, price: 1.285, sl: null, tp: null, magic: 5, comment: '', expiry: null },
        ],
      }),
    ).toEqual(['Cancelled pending #41 GBPUSD sell limit 0.1 at 1.285']);
    expect(outcomeLines('trade', null)).toEqual([]);
  });
});
