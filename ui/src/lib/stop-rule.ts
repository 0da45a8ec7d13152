// Words for a position's breakeven/trailing state (the terminal's StopRuleState):
// "BE armed at +15 pips", "BE done", "trailing 20 pips, SL 1.08420".
import type { StopRuleState } from './generated/types';

/** Distance in pips when the rule knows the pip size, else in price. */
function dist(v: number, pip: number): string {
  if (pip > 0) {
    const p = v / pip;
    return `${Number.isInteger(Math.round(p * 10) / 10) ? Math.round(p) : (Math.round(p * 10) / 10).toFixed(1)} pips`;
  }
  return v.toString();
}

/** One short line per rule, joined with " · ". */
export function describeStopRule(r: StopRuleState | null | undefined): string {
  if (!r) return '';
  const parts: string[] = [];
  const be = r.breakeven;
  if (be) {
    const off = be.offset > 0 ? ` (+${dist(be.offset, r.pip)})` : '';
    parts.push(be.done ? `BE done${off}` : `BE armed at +${dist(be.trigger, r.pip)}${off}`);
  }
  const tr = r.trailing;
  if (tr) {
    const how = tr.atr ? `${tr.atr.multiplier}×ATR(${tr.atr.period}, ${tr.atr.timeframe})` : dist(tr.distance, r.pip);
    if (tr.active) {
      parts.push(`trailing ${how}${r.last_sl != null ? `, SL ${r.last_sl.toFixed(5).replace(/0+$/, '').replace(/\.$/, '')}` : ''}`);
    } else {
      parts.push(`trailing ${how} from +${dist(tr.activation, r.pip)}`);
    }
  }
  return parts.join(' · ');
}
