import { describe, expect, it } from 'vitest';
import { describeStopRule } from './stop-rule';
import type { StopRuleState } from './generated/types';

const base: StopRuleState = { ticket: 1, phase: 'armed', moves: 0, pip: 0.0001 };

describe('describeStopRule', () => {
  it('says nothing without rules', () => {
    expect(describeStopRule(null)).toBe('');
    expect(describeStopRule(undefined)).toBe('');
  });

  it('shows an armed breakeven in pips and a done one', () => {
    const armed = { ...base, breakeven: { trigger: 0.0015, offset: 0.0002, done: false } };
    expect(describeStopRule(armed)).toBe('BE armed at +15 pips (+2 pips)');
    const done = { ...armed, phase: 'triggered' as const, breakeven: { trigger: 0.0015, offset: 0, done: true } };
    expect(describeStopRule(done)).toBe('BE done');
  });

  it('shows a trailing stop waiting, then following with its SL', () => {
    const trailing = { activation: 0.002, distance: 0.002, step: 0.0005, active: false };
    expect(describeStopRule({ ...base, trailing })).toBe('trailing 20 pips from +20 pips');
    const on = { ...base, phase: 'trailing' as const, last_sl: 1.0842, trailing: { ...trailing, active: true } };
    expect(describeStopRule(on)).toBe('trailing 20 pips, SL 1.0842');
  });

  it('names ATR trailing', () => {
    const atr = { timeframe: 'H1' as const, period: 14, multiplier: 2, shift: 1 };
    const r = { ...base, trailing: { activation: 0, distance: 0, step: 0, atr, active: true } };
    expect(describeStopRule(r)).toBe('trailing 2×ATR(14, H1)');
  });
});
