import { describe, expect, it } from 'vitest';
import { isSignal, matches, upsert } from './signal-feed';
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
});
