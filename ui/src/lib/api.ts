// The one place the UI talks to the Rust side: every Tauri `invoke` and `listen`
// lives here, typed. Screens import these functions, never `@tauri-apps/api` directly.
// Command names and arguments match `src-tauri/src/commands.rs`; the shapes are the
// Rust types themselves, generated into `./generated/types.ts`.

import { invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';

// ---------------------------------------------------------------------------
// Types: generated from the Rust types (ui/src/lib/generated/types.ts, written by
// `scripts/gen-types`; `make test` fails when it is stale). Only the names the
// screens use are given here; no shape is copied by hand.
// ---------------------------------------------------------------------------

import type {
  AccountOutput,
  AppErrorCode,
  ClosePositionOutput,
  JobView,
  QueueDeployRequest,
  QueueTestRequest,
  Timeframe,
} from './generated/types';

export type {
  Check,
  CheckId,
  CheckStatus,
  InstallationView,
  SetupReport,
  AgentStatus,
  AppError,
  CurrentPairing,
  PairOffer,
  AgentSummary,
  BrokerConnection,
  Candle,
  ClosedPosition,
  CloseScope,
  CompileOutput,
  Diagnostic,
  EaProject,
  EaVersion,
  EaVersionSource,
  EaVersionStatus,
  JobStatus,
  JobType,
  MarginMode,
  AccountKind,
  AccountStatus,
  OppositeEntry,
  OrderType,
  PcPendingEntry,
  PendingOrder,
  ModifyPositionOutput,
  CancelOrdersOutput,
  PcAccountFilter,
  PcTargetType,
  PcVolumeType,
  Position,
  PositionEffect,
  QueuedJob,
  ServerEvent,
  ServerEventKind,
  Settings,
  Side,
  Signal,
  SignalAction,
  SignalDetail,
  SignalFilter,
  SignalPage,
  SignalStatus,
  Status,
  Strategy,
  StrategyInput,
  SymbolDecision,
  SymbolRow,
  TerminalStatus,
  TestReport,
  Timeframe,
  TradeOutput,
  TradingDay,
  TradingDayTimeZone,
  UpdateInfo,
  UpdateProgress,
} from './generated/types';

import type {
  AppError,
  Check,
  InstallationView,
  SetupReport,
  BrokerConnection,
  Candle,
  EaProject,
  EaVersion,
  EaVersionSource,
  PairOffer,
  PendingOrder,
  Position,
  QueuedJob,
  ServerEvent,
  Settings,
  SignalDetail,
  SignalFilter,
  SignalPage,
  Status,
  Strategy,
  StrategyInput,
  SymbolRow,
  TradingDay,
  TradingDayTimeZone,
  UpdateInfo,
  UpdateProgress,
} from './generated/types';

export type Uuid = string;
/** RFC 3339 UTC timestamp. */
export type Timestamp = string;

export type Account = AccountOutput;
export type ClosePositionResult = ClosePositionOutput;
export type Job = JobView;

export const TIMEFRAMES: Timeframe[] = ['M1', 'M5', 'M15', 'M30', 'H1', 'H4', 'D1', 'W1', 'MN1'];

export type EaJobType = 'compile' | 'deploy' | 'test';

/** `deploy` parameters: the route's body without the agent (the app adds it). */
export type DeployParams = Omit<QueueDeployRequest, 'agent_id'>;

/** `test` parameters: the route's body without the agent; the server defaults the rest. */
export type TestParams = Omit<QueueTestRequest, 'agent_id' | 'model' | 'deposit' | 'leverage'> &
  Partial<Pick<QueueTestRequest, 'model' | 'deposit' | 'leverage'>>;

export type EaJobParams = DeployParams | TestParams | Record<string, unknown>;

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/** Stable codes of the app core's `AppErrorCode` (crates/agent/src/app/error.rs). */
export type ErrorCode = AppErrorCode;

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
  /** A `companion://pair` link waiting for confirmation (its key stays in Rust). */
  pendingLinkPairing: () => call<PairOffer | null>('pending_link_pairing'),
  confirmLinkPairing: (offerId: Uuid) => call<Status>('confirm_link_pairing', { offerId }),
  dismissLinkPairing: (offerId: Uuid) => call<void>('dismiss_link_pairing', { offerId }),
  setPaused: (paused: boolean) => call<Status>('set_paused', { paused }),

  account: () => call<Account>('account'),
  positions: () => call<Position[]>('positions'),
  /** The terminal's pending orders (from the same `get_positions` reading). */
  pendingOrders: () => call<PendingOrder[]>('pending_orders'),
  closePosition: (ticket: number) => call<ClosePositionResult>('close_position', { ticket }),
  recentJobs: () => call<Job[]>('recent_jobs'),
  candles: (symbol: string, timeframe: Timeframe, count: number) =>
    call<Candle[]>('candles', { symbol, timeframe, count }),

  /** Today's realised P&L against the daily loss limit (this agent's broker connection). */
  tradingDay: () => call<TradingDay | null>('trading_day'),
  setTradingDayTz: (tz: string) => call<TradingDayTimeZone>('set_trading_day_tz', { tz }),

  listStrategies: () => call<Strategy[]>('list_strategies'),
  createStrategy: (input: StrategyInput) => call<Strategy>('create_strategy', { input }),
  updateStrategy: (id: Uuid, input: StrategyInput) => call<Strategy>('update_strategy', { id, input }),
  deleteStrategy: (id: Uuid) => call<void>('delete_strategy', { id }),
  rotateStrategySecret: (id: Uuid) => call<Strategy>('rotate_strategy_secret', { id }),
  listBrokerConnections: () => call<BrokerConnection[]>('list_broker_connections'),
  listSymbols: () => call<SymbolRow[]>('list_symbols'),
  setSymbolOverride: (canonical: string, brokerSymbol: string) =>
    call<SymbolRow[]>('set_symbol_override', { canonical, brokerSymbol }),
  clearSymbolOverride: (canonical: string) => call<SymbolRow[]>('clear_symbol_override', { canonical }),

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
  /** The last check's result (the app checks by itself too), without checking again. */
  lastUpdateCheck: () => call<UpdateInfo | null>('last_update_check'),
  installUpdate: () => call<void>('install_update'),
  readLogs: () => call<string>('read_logs'),

  /** MT5 installations on this computer (Terminal setup). */
  terminalList: () => call<InstallationView[]>('terminal_list'),
  /** Installs, compiles and configures the bridge EA in the terminal with this data folder. */
  terminalSetup: (dataDir: string) => call<SetupReport>('terminal_setup', { dataDir }),
  /** The Doctor's checks (default terminal: the set-up one, else the only one). */
  terminalDoctor: (dataDir?: string | null) => call<Check[]>('terminal_doctor', { dataDir: dataDir ?? null }),
};

// ---------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------

export const EVENTS = {
  status: 'status-changed',
  server: 'server-event',
  update: 'update-progress',
  updateAvailable: 'update-available',
  pairOffer: 'pair-offer',
  pairFailed: 'pair-failed',
} as const;

export function onStatus(handler: (s: Status) => void): Promise<UnlistenFn> {
  return listen<Status>(EVENTS.status, (e) => handler(e.payload));
}

export function onServerEvent(handler: (e: ServerEvent) => void): Promise<UnlistenFn> {
  return listen<ServerEvent>(EVENTS.server, (e) => handler(e.payload));
}

/** A `companion://pair` link was opened: confirm or dismiss it (never the key). */
export function onPairOffer(handler: (o: PairOffer) => void): Promise<UnlistenFn> {
  return listen<PairOffer>(EVENTS.pairOffer, (e) => handler(e.payload));
}

/** A `companion://pair` link was refused (bad key, insecure server, unreachable). */
export function onPairFailed(handler: (e: ApiError) => void): Promise<UnlistenFn> {
  return listen<AppError>(EVENTS.pairFailed, (e) => handler(new ApiError(e.payload.code, e.payload.message)));
}

export function onUpdateProgress(handler: (p: UpdateProgress) => void): Promise<UnlistenFn> {
  return listen<UpdateProgress>(EVENTS.update, (e) => handler(e.payload));
}

/** A check (automatic or from Settings) found a newer version. */
export function onUpdateAvailable(handler: (u: UpdateInfo) => void): Promise<UnlistenFn> {
  return listen<UpdateInfo>(EVENTS.updateAvailable, (e) => handler(e.payload));
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
