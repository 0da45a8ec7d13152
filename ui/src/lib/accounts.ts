// Words for accounts (broker connections) and the terminals that serve them: the
// strategy form's account select and the dashboard's account list.
import type { AccountStatus, BrokerConnection, MarginMode } from './api';

/** "12345 @ Broker-Server · paper", or the connection's name before any terminal reported it. */
export function connectionLabel(c: BrokerConnection): string {
  if (c.login) {
    const mode = c.paper === null ? '' : c.paper ? ' · paper' : ' · live';
    return `${c.login} @ ${c.server ?? '?'}${mode}`;
  }
  const n = c.agents.length;
  return `${c.name} (${n} agent${n === 1 ? '' : 's'})`;
}

/** "Hedging" / "Netting" / "Exchange", or an em dash when the bridge does not say. */
export function marginLabel(m: MarginMode | null): string {
  if (!m) return '—';
  return m.charAt(0).toUpperCase() + m.slice(1);
}

/** "12345 @ Broker-Server" of a served terminal, or "Not connected". */
export function accountLine(a: AccountStatus): string {
  const t = a.terminal;
  if (!t.connected) return 'Not connected';
  return `${t.login ?? '?'} @ ${t.server ?? '?'}`;
}
