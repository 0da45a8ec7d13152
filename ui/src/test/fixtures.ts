// Test data and a scripted fake backend on Tauri's mockIPC.
import { mockIPC } from '@tauri-apps/api/mocks';
import { emit } from '@tauri-apps/api/event';
import type { Account, EaProject, EaVersion, Job, Position, Signal, Status, Strategy, BrokerConnection } from '../lib/api';

export const NOW = '2026-11-24T19:00:00Z';

export const pairedStatus = (over: Partial<Status> = {}): Status => ({
  paired: true,
  agent_id: '00000000-0000-0000-0000-0000000000a1',
  agent_name: 'Trading PC',
  server_url: 'http://127.0.0.1:8080',
  server_connected: true,
  terminal: {
    connected: true,
    paper: true,
    login: '5001',
    server: 'Paper-Demo',
    company: null,
    margin_mode: 'hedging',
    account_kind: 'demo',
  },
  paused: false,
  pause_requested: false,
  last_error: null,
  version: '0.1.0',
  bridge_port: null,
  accounts: [],
  seq: 0,
  ...over,
});

/** A terminal status (fields the test does not name are empty). */
export const terminal = (over: Partial<Status['terminal']> = {}): Status['terminal'] => ({
  connected: false,
  paper: false,
  login: null,
  server: null,
  company: null,
  margin_mode: null,
  account_kind: null,
  ...over,
});

export const unpairedStatus: Status = {
  paired: false,
  agent_id: null,
  agent_name: null,
  server_url: null,
  server_connected: false,
  terminal: terminal(),
  paused: false,
  pause_requested: false,
  last_error: null,
  version: '0.1.0',
  bridge_port: null,
  accounts: [],
  seq: 0,
};

export const account: Account = {
  balance: 10000,
  equity: 10042.5,
  margin_used: 120,
  margin_available: 9922.5,
  currency: 'USD',
  leverage: 100,
};

export const position = (ticket: number, over: Partial<Position> = {}): Position => ({
  id: String(ticket),
  ticket,
  symbol: 'EURUSD',
  side: 'buy',
  volume: 0.1,
  open_price: 1.08,
  current_price: 1.0842,
  sl: null,
  tp: null,
  pnl: 42.5,
  comment: '',
  magic: 0,
  identifier: ticket,
  ...over,
});

export const job = (id: string, over: Partial<Job> = {}): Job => ({
  id,
  job_type: 'trade',
  status: 'completed',
  agent_id: null,
  input_data: {},
  output_data: null,
  error_message: null,
  attempts: 1,
  expires_at: null,
  created_at: NOW,
  claimed_at: NOW,
  completed_at: NOW,
  ...over,
});

export const connection: BrokerConnection = {
  id: 'c1',
  name: 'Paper broker',
  broker_type: 'mt5',
  is_active: true,
  agents: [],
  login: null,
  server: null,
  paper: null,
  created_at: NOW,
  updated_at: NOW,
};

/** One served terminal's account as the status reports it. */
export const accountStatus = (
  name: string,
  over: Partial<Status['accounts'][number]> = {},
): Status['accounts'][number] => ({
  name,
  port: 18765,
  broker_connection_id: null,
  terminal: terminal(),
  balance: null,
  equity: null,
  currency: null,
  ...over,
});

export const strategy = (id: string, over: Partial<Strategy> = {}): Strategy => ({
  id,
  name: `Strategy ${id}`,
  broker_connection_id: 'c1',
  allowed_pairs: null,
  risk_override_pct: null,
  is_enabled: true,
  magic: 100001,
  close_scope: 'strategy',
  opposite_entry: 'reverse',
  webhook_url: `http://127.0.0.1:8080/api/v1/webhooks/tv/secret-${id}`,
  alert_dialect: 'auto',
  pineconnector_license_id: null,
  pc_volume_type: 'lots',
  pc_target_type: 'pips',
  pc_pending_entry: 'pips',
  dedup_window_secs: 300,
  execution: {
    slippage_points: 20,
    max_positions: null,
    max_spread_points: null,
    sessions: [],
    session_days: [],
    session_tz: 'UTC',
    min_equity: null,
    min_free_margin: null,
    pc_account_filter: 'equity',
  },
  created_at: NOW,
  updated_at: NOW,
  ...over,
});

export const signal = (id: string, over: Partial<Signal> = {}): Signal => ({
  id,
  strategy_id: 's1',
  symbol: 'EURUSD',
  action: 'buy',
  price: 1.08,
  status: 'executed',
  fill_price: 1.0801,
  broker_order_id: '9001',
  error_message: null,
  job_id: `job-${id}`,
  received_at: NOW,
  resolved_at: NOW,
  ...over,
});

export const project = (id: string, over: Partial<EaProject> = {}): EaProject => ({
  id,
  name: `Project ${id}`,
  description: null,
  current_version_id: 'v1',
  latest_version_number: 2,
  version_count: 2,
  created_at: NOW,
  updated_at: NOW,
  ...over,
});

export const version = (id: string, n: number, over: Partial<EaVersion> = {}): EaVersion => ({
  id,
  ea_project_id: 'p1',
  version_number: n,
  status: 'compiled',
  compilation_error: null,
  is_current: false,
  created_at: NOW,
  updated_at: NOW,
  ...over,
});

export type Handler = (args: Record<string, unknown>) => unknown;

/** Installs a fake backend; returns the log of (command, args) calls. */
export function backend(handlers: Record<string, Handler | unknown>): { calls: [string, Record<string, unknown>][] } {
  const calls: [string, Record<string, unknown>][] = [];
  mockIPC(
    (cmd, payload) => {
      const args = (payload ?? {}) as Record<string, unknown>;
      calls.push([cmd, args]);
      if (!(cmd in handlers)) throw { code: 'internal', message: `unmocked command ${cmd}` };
      const h = handlers[cmd];
      return typeof h === 'function' ? (h as Handler)(args) : h;
    },
    { shouldMockEvents: true },
  );
  return { calls };
}

export const callsOf = (log: { calls: [string, Record<string, unknown>][] }, cmd: string) =>
  log.calls.filter(([c]) => c === cmd).map(([, a]) => a);

export { emit };
