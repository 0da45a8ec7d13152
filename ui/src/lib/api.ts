// The one place the UI talks to the Rust side: every Tauri `invoke` and `listen`
// lives here, typed. Screens import these functions, never `@tauri-apps/api` directly.
// The contract (command names, argument and result shapes) is mirrored by
// `src-tauri/src/commands.rs`; keep both in step.

import { invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';

// ---------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------

export type Uuid = string;
/** RFC 3339 UTC timestamp. */
export type Timestamp = string;

export interface TerminalStatus {
  connected: boolean;
  /** True when the terminal is the paper terminal (simulated money). */
  paper: boolean;
  login?: string | null;
  server?: string | null;
  company?: string | null;
}

export interface Status {
  paired: boolean;
  agent_id?: Uuid | null;
  agent_name?: string | null;
  server_url?: string | null;
  server_connected: boolean;
  terminal: TerminalStatus;
  /** The agent runtime has stopped claiming jobs (true once it has parked). */
  paused: boolean;
  /** Pause was asked for; until `paused` follows, a request already in flight may still bring one job. */
  pause_requested?: boolean;
  last_error?: string | null;
  version: string;
  /** Loopback port the bridge EA connects to, when the runtime listens. */
  bridge_port?: number | null;
  /** Increases with every change; an older snapshot never replaces a newer one. */
  seq?: number;
}

export type Side = 'buy' | 'sell';

export interface Account {
  balance: number;
  equity: number;
  margin_used: number;
  margin_available: number;
  currency: string;
  leverage: number;
}

export interface Position {
  id: string;
  ticket: number;
  symbol: string;
  side: Side;
  volume: number;
  open_price: number;
  current_price: number;
  sl: number | null;
  tp: number | null;
  pnl: number;
  comment: string;
  magic: number;
}

export interface ClosePositionResult {
  closed_price: number;
  pnl: number;
  tickets?: number[];
}

export type JobType =
  | 'compile'
  | 'deploy'
  | 'run'
  | 'stop'
  | 'test'
  | 'trade'
  | 'get_positions'
  | 'get_account'
  | 'get_candles'
  | 'close_position';

export type JobStatus = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface Job {
  id: Uuid;
  job_type: JobType;
  status: JobStatus;
  agent_id: Uuid | null;
  input_data: unknown;
  output_data: unknown;
  error_message: string | null;
  attempts: number;
  expires_at: Timestamp | null;
  created_at: Timestamp;
  claimed_at: Timestamp | null;
  completed_at: Timestamp | null;
}

export type Timeframe = 'M1' | 'M5' | 'M15' | 'M30' | 'H1' | 'H4' | 'D1' | 'W1' | 'MN1';
export const TIMEFRAMES: Timeframe[] = ['M1', 'M5', 'M15', 'M30', 'H1', 'H4', 'D1', 'W1', 'MN1'];

export interface Candle {
  /** Bar open time, Unix seconds UTC. */
  time: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

export interface Strategy {
  id: Uuid;
  name: string;
  broker_connection_id: Uuid;
  /** `null` = every pair allowed. */
  allowed_pairs: string[] | null;
  /** `null` = the account's default risk. */
  risk_override_pct: number | null;
  is_enabled: boolean;
  webhook_url: string;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** Create and update both send the whole editable state. */
export interface StrategyInput {
  name: string;
  broker_connection_id: Uuid;
  allowed_pairs: string[] | null;
  risk_override_pct: number | null;
  is_enabled: boolean;
}

export interface AgentSummary {
  id: Uuid;
  agent_name: string;
  status: 'online' | 'paused' | 'offline';
  last_heartbeat: Timestamp | null;
  app_version: string | null;
}

export interface BrokerConnection {
  id: Uuid;
  name: string;
  broker_type: string;
  is_active: boolean;
  agents: AgentSummary[];
}

export type SignalStatus = 'pending' | 'executed' | 'failed' | 'discarded';
export type SignalAction = 'buy' | 'sell' | 'close' | 'unknown';

export interface Signal {
  id: Uuid;
  strategy_id: Uuid;
  symbol: string;
  action: SignalAction;
  price: number | null;
  status: SignalStatus;
  fill_price: number | null;
  broker_order_id: string | null;
  error_message: string | null;
  job_id: Uuid | null;
  received_at: Timestamp;
  resolved_at: Timestamp | null;
  raw_payload?: unknown;
}

export interface SignalFilter {
  strategy_id?: Uuid | null;
  status?: SignalStatus | null;
  symbol?: string | null;
  from?: Timestamp | null;
  to?: Timestamp | null;
}

export interface SignalPage {
  items: Signal[];
  next_cursor: string | null;
}

export interface SignalDetail {
  signal: Signal;
  job: Job | null;
}

export type EaVersionStatus = 'draft' | 'compiling' | 'compiled' | 'failed';

export interface EaProject {
  id: Uuid;
  name: string;
  description: string | null;
  current_version_id: Uuid | null;
  latest_version_number: number | null;
  version_count: number;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface EaVersion {
  id: Uuid;
  ea_project_id: Uuid;
  version_number: number;
  status: EaVersionStatus;
  compilation_error: string | null;
  is_current: boolean;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface EaVersionSource {
  id: Uuid;
  ea_project_id: Uuid;
  version_number: number;
  source_code: string;
}

export type EaJobType = 'compile' | 'deploy' | 'test';

export type EaJobParams = DeployParams | TestParams | Record<string, unknown>;

export interface DeployParams {
  symbol: string;
  timeframe: Timeframe;
  magic_number?: number | null;
}

export interface TestParams {
  symbol: string;
  timeframe: Timeframe;
  from: string;
  to: string;
  model?: number;
  deposit?: number;
  leverage?: number;
}

export interface QueuedJob {
  job_id: Uuid;
  job_type: JobType;
  agent_id: Uuid;
  deployment_id?: Uuid | null;
}

export interface Diagnostic {
  file: string;
  line: number;
  column: number;
  code: number;
  message: string;
}

export interface CompileOutput {
  compiled: boolean;
  errors: Diagnostic[];
  warnings: Diagnostic[];
  ex5_checksum?: string | null;
}

export interface TestReport {
  net_profit: number;
  gross_profit: number;
  gross_loss: number;
  profit_factor: number;
  max_drawdown: number;
  max_drawdown_pct: number;
  total_trades: number;
  win_rate_pct: number;
  initial_deposit: number;
  equity_curve: number[];
}

export interface Settings {
  server_url: string;
  terminal_path: string | null;
  metaeditor_path: string | null;
  terminal_data_dir: string | null;
  autostart: boolean;
  notify_failed_signals: boolean;
}

export interface UpdateInfo {
  available: boolean;
  current_version: string;
  version?: string | null;
  notes?: string | null;
  pub_date?: string | null;
}

export interface UpdateProgress {
  downloaded: number;
  total: number | null;
  finished: boolean;
}

/**
 * `resync`: events were missed (the server's LISTEN connection or the app's event
 * stream reconnected): refetch what is shown. Its id is the nil UUID, data null.
 */
export type ServerEventKind = 'signal' | 'job' | 'agent' | 'price' | 'resync';

export interface ServerEvent {
  kind: ServerEventKind;
  id: Uuid;
  op: string;
  data: unknown;
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/** Stable codes the Rust side uses (`src-tauri/src/error.rs`). */
export type ErrorCode =
  | 'bad_key'
  | 'unreachable'
  | 'no_keychain'
  | 'not_paired'
  | 'terminal_offline'
  | 'invalid_request'
  | 'not_found'
  | 'forbidden'
  | 'conflict'
  | 'timeout'
  | 'job_failed'
  | 'update'
  | 'internal';

export class ApiError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
  }
  /** True when the failure means "the server or terminal can't be reached right now". */
  get offline(): boolean {
    return this.code === 'unreachable' || this.code === 'terminal_offline' || this.code === 'timeout';
  }
}

function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e && typeof e === 'object' && 'code' in e && 'message' in e) {
    const o = e as { code: unknown; message: unknown };
    return new ApiError(String(o.code) as ErrorCode, String(o.message));
  }
  if (typeof e === 'string') return new ApiError('internal', e);
  if (e instanceof Error) return new ApiError('internal', e.message);
  return new ApiError('internal', 'Something went wrong.');
}

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (e) {
    throw toApiError(e);
  }
}

// ---------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------

export const api = {
  status: () => call<Status>('status'),
  /** The key goes to Rust (and the OS keychain); it is never stored in the webview. */
  pair: (key: string, server?: string | null) =>
    call<Status>('pair', { key, server: server && server.trim() ? server.trim() : null }),
  unpair: () => call<Status>('unpair'),
  setPaused: (paused: boolean) => call<Status>('set_paused', { paused }),

  account: () => call<Account>('account'),
  positions: () => call<Position[]>('positions'),
  closePosition: (ticket: number) => call<ClosePositionResult>('close_position', { ticket }),
  recentJobs: () => call<Job[]>('recent_jobs'),
  candles: (symbol: string, timeframe: Timeframe, count: number) =>
    call<Candle[]>('candles', { symbol, timeframe, count }),

  listStrategies: () => call<Strategy[]>('list_strategies'),
  createStrategy: (input: StrategyInput) => call<Strategy>('create_strategy', { input }),
  updateStrategy: (id: Uuid, input: StrategyInput) => call<Strategy>('update_strategy', { id, input }),
  deleteStrategy: (id: Uuid) => call<void>('delete_strategy', { id }),
  rotateStrategySecret: (id: Uuid) => call<Strategy>('rotate_strategy_secret', { id }),
  listBrokerConnections: () => call<BrokerConnection[]>('list_broker_connections'),

  listSignals: (filter: SignalFilter, cursor?: string | null) =>
    call<SignalPage>('list_signals', { filter, cursor: cursor ?? null }),
  getSignal: (id: Uuid) => call<SignalDetail>('get_signal', { id }),

  listEaProjects: () => call<EaProject[]>('list_ea_projects'),
  listEaVersions: (projectId: Uuid) => call<EaVersion[]>('list_ea_versions', { projectId }),
  getEaVersionSource: (versionId: Uuid) => call<EaVersionSource>('get_ea_version_source', { versionId }),
  setCurrentVersion: (projectId: Uuid, versionId: Uuid) =>
    call<EaProject>('set_current_version', { projectId, versionId }),
  queueEaJob: (versionId: Uuid, jobType: EaJobType, params: EaJobParams) =>
    call<QueuedJob>('queue_ea_job', { versionId, jobType, params }),
  getJob: (id: Uuid) => call<Job>('get_job', { id }),

  getSettings: () => call<Settings>('get_settings'),
  saveSettings: (settings: Settings) => call<Settings>('save_settings', { settings }),
  checkUpdate: () => call<UpdateInfo>('check_update'),
  installUpdate: () => call<void>('install_update'),
  readLogs: () => call<string>('read_logs'),
};

// ---------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------

export const EVENTS = {
  status: 'status-changed',
  server: 'server-event',
  update: 'update-progress',
} as const;

export function onStatus(handler: (s: Status) => void): Promise<UnlistenFn> {
  return listen<Status>(EVENTS.status, (e) => handler(e.payload));
}

export function onServerEvent(handler: (e: ServerEvent) => void): Promise<UnlistenFn> {
  return listen<ServerEvent>(EVENTS.server, (e) => handler(e.payload));
}

export function onUpdateProgress(handler: (p: UpdateProgress) => void): Promise<UnlistenFn> {
  return listen<UpdateProgress>(EVENTS.update, (e) => handler(e.payload));
}

/** Polls `get_job` until the job is finished; resolves with it (failed jobs too). */
export async function waitForJob(
  id: Uuid,
  opts: { intervalMs?: number; signal?: AbortSignal } = {},
): Promise<Job> {
  const interval = opts.intervalMs ?? 1000;
  for (;;) {
    const job = await api.getJob(id);
    if (job.status === 'completed' || job.status === 'failed' || job.status === 'cancelled') return job;
    if (opts.signal?.aborted) throw new ApiError('timeout', 'Stopped waiting for the job.');
    await new Promise((r) => setTimeout(r, interval));
  }
}
