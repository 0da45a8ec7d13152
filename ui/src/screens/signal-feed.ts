// Pure helpers of the live signal feed: filter matching, merging pushed updates, and
// a trading job's outcome in words.
import type {
  CancelOrdersOutput,
  ClosedPosition,
  ClosePositionResult as ClosePositionOutput,
  JobType,
  ModifyPositionOutput,
  PositionEffect,
  Signal,
  SignalFilter,
  TradeOutput,
} from '../lib/api';
import { parsePairs, price, signed } from '../lib/format';

export function matches(s: Signal, f: SignalFilter): boolean {
  if (f.strategy_id && s.strategy_id !== f.strategy_id) return false;
  if (f.status && s.status !== f.status) return false;
  if (f.symbol) {
    const want = parsePairs(f.symbol)[0];
    if (want && s.symbol.toUpperCase() !== want) return false;
  }
  if (f.from && s.received_at < f.from) return false;
  if (f.to && s.received_at >= f.to) return false;
  return true;
}

/** Inserts or replaces `s` in a newest-first list; drops it when it no longer matches. */
export function upsert(list: Signal[], s: Signal, f: SignalFilter): Signal[] {
  const i = list.findIndex((x) => x.id === s.id);
  if (!matches(s, f)) return i >= 0 ? list.filter((x) => x.id !== s.id) : list;
  if (i >= 0) {
    const copy = list.slice();
    copy[i] = { ...list[i], ...s };
    return copy;
  }
  const out = [s, ...list];
  out.sort((a, b) => (a.received_at < b.received_at ? 1 : a.received_at > b.received_at ? -1 : 0));
  return out;
}

export function isSignal(v: unknown): v is Signal {
  return !!v && typeof v === 'object' && 'id' in v && 'strategy_id' in v && 'status' in v && 'received_at' in v;
}

const EFFECT_WORDS: Record<PositionEffect, string> = {
  opened: 'Opened a new position',
  added: 'Added to the open position (netting)',
  reduced: 'Reduced the opposite position (netting)',
  closed: 'Closed the opposite position: the account is flat on the symbol (netting)',
  reversed: 'Reversed: the opposite position was closed and the new side opened',
};

function closedLine(c: ClosedPosition): string {
  return `Closed #${c.ticket} ${c.symbol} ${c.side} ${c.volume} at ${price(c.price)} (P&L ${signed(c.pnl)})`;
}

/**
 * What a trading job did, in words, from its output: the position effect of an order
 * and each position closed (by a close signal, or by `reverse` before an entry).
 */
export function outcomeLines(jobType: JobType, output: unknown): string[] {
  if (!output || typeof output !== 'object') return [];
  if (jobType === 'trade') {
    const o = output as Partial<TradeOutput>;
    const lines = (o.closed ?? []).map(closedLine);
    if (o.pending) {
      lines.push(`Pending order #${o.order_id ?? '?'} placed: ${o.volume ?? '?'} lots at ${price(o.fill_price)}`);
    } else if (o.position_effect) {
      lines.push(`${EFFECT_WORDS[o.position_effect]} — position #${o.ticket ?? '?'}, ${o.volume ?? '?'} lots at ${price(o.fill_price)}`);
    }
    return lines;
  }
  if (jobType === 'close_position') {
    const o = output as Partial<ClosePositionOutput>;
    return (o.closed ?? []).map(closedLine);
  }
  if (jobType === 'modify_position') {
    const o = output as Partial<ModifyPositionOutput>;
    return (o.modified ?? []).map(
      (m) => `Modified #${m.ticket} ${m.symbol} ${m.side}: SL ${price(m.sl)}, TP ${price(m.tp)}`,
    );
  }
  if (jobType === 'cancel_orders') {
    const o = output as Partial<CancelOrdersOutput>;
    return (o.cancelled ?? []).map(
      (c) => `Cancelled pending #${c.ticket} ${c.symbol} ${c.side} ${c.order_type} ${c.volume} at ${price(c.price)}`,
    );
  }
  return [];
}
