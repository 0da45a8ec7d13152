// Pure helpers of the live signal feed: filter matching and merging pushed updates.
import type { Signal, SignalFilter } from '../lib/api';
import { parsePairs } from '../lib/format';

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
