// Formatting helpers shared by the screens: money, prices, times, relative ages.

export function money(value: number | null | undefined, currency = ''): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  const s = value.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  return currency ? `${s} ${currency}` : s;
}

/** Prices keep up to 5 decimals (FX) but drop trailing zeros beyond 2. */
export function price(value: number | null | undefined): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  const fixed = value.toFixed(5).replace(/0{1,3}$/, '');
  return fixed;
}

export function signed(value: number): string {
  const s = money(Math.abs(value));
  return value > 0 ? `+${s}` : value < 0 ? `−${s}` : s;
}

export function dateTime(ts: string | null | undefined): string {
  if (!ts) return '—';
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return '—';
  return d.toLocaleString('en-GB', {
    year: 'numeric',
    month: 'short',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}

export function timeOnly(ts: string | null | undefined): string {
  if (!ts) return '—';
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return '—';
  return d.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** "3 s", "5 min", "2 h", "4 d" between two instants. */
export function age(from: string | null | undefined, now: Date = new Date()): string {
  if (!from) return '—';
  const ms = now.getTime() - new Date(from).getTime();
  if (Number.isNaN(ms)) return '—';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

/** Milliseconds between two timestamps as "840 ms" / "1.2 s"; "—" when either is missing. */
export function duration(from: string | null | undefined, to: string | null | undefined): string {
  if (!from || !to) return '—';
  const ms = new Date(to).getTime() - new Date(from).getTime();
  if (Number.isNaN(ms)) return '—';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60000)} min`;
}

/** Parses "EURUSD, oanda:gbpusd\nUSDJPY" into normalised, de-duplicated symbols. */
export function parsePairs(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split(/[\s,;]+/)) {
    let s = raw.trim().toUpperCase();
    if (!s) continue;
    const colon = s.lastIndexOf(':');
    if (colon >= 0) s = s.slice(colon + 1);
    s = s.replace(/[/\-_]/g, '');
    const dot = s.indexOf('.');
    if (dot > 0) s = s.slice(0, dot);
    if (s && !out.includes(s)) out.push(s);
  }
  return out;
}

export function jobLabel(t: string): string {
  return t.replace(/_/g, ' ');
}
