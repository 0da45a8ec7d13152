// Generated from the Rust types by `scripts/gen-types` (crates/agent/src/app/typescript.rs).
// Do not edit: change the Rust type and regenerate; `make test` fails when this file is stale.

export type Status = { paired: boolean, agent_id: string | null, agent_name: string | null, server_url: string | null, server_connected: boolean, terminal: TerminalStatus, 
/**
 * The runtime has stopped claiming jobs (set once it is parked, not when asked).
 */
paused: boolean, 
/**
 * The user asked to pause (UI or tray). Until `paused` follows, a long-poll already
 * in flight may still deliver one job, which is then executed.
 */
pause_requested: boolean, last_error: string | null, version: string, 
/**
 * Loopback port the bridge EA connects to, when the runtime listens.
 */
bridge_port: number | null, 
/**
 * Every terminal (account) the runtime serves, the first one first (several
 * terminals: `config.json` `terminals`). Empty while the runtime is not running.
 */
accounts: Array<AccountStatus>, 
/**
 * Increases with every change, so the UI can drop a snapshot older than one it has.
 */
seq: number, };

export type TerminalStatus = { connected: boolean, 
/**
 * True when the terminal is the paper terminal (simulated money).
 */
paper: boolean, login: string | null, server: string | null, company: string | null, 
/**
 * Hedging or netting (`null`: a bridge that does not say).
 */
margin_mode: MarginMode | null, 
/**
 * Demo, contest or real money (`null`: unknown).
 */
account_kind: AccountKind | null, };

export type AccountStatus = { 
/**
 * The terminal's label (`config.json`), e.g. "port 18765".
 */
name: string, 
/**
 * Its bridge port.
 */
port: number, 
/**
 * The broker connection the server bound the account to (`null` until then).
 */
broker_connection_id: string | null, terminal: TerminalStatus, balance: number | null, equity: number | null, currency: string | null, };

export type Settings = { server_url: string, terminal_path: string | null, metaeditor_path: string | null, terminal_data_dir: string | null, autostart: boolean, notify_failed_signals: boolean, };

export type UpdateInfo = { available: boolean, current_version: string, version: string | null, notes: string | null, pub_date: string | null, };

export type UpdateProgress = { downloaded: number, total: number | null, finished: boolean, };

export type ServerEventKind = "signal" | "job" | "agent" | "price" | "resync";

export type ServerEvent = { kind: ServerEventKind, id: string, op: string, data: unknown, };

export type StrategyInput = { name: string, broker_connection_id: string, 
/**
 * `null` = every pair allowed.
 */
allowed_pairs: Array<string> | null, 
/**
 * `null` = the account's default risk.
 */
risk_override_pct: number | null, is_enabled: boolean, 
/**
 * The strategy's MT5 magic number; `null` on create = the server picks one,
 * `null` on update = unchanged.
 */
magic?: number | null, close_scope?: CloseScope | null, opposite_entry?: OppositeEntry | null, 
/**
 * What a PineConnector pending order's `price=` means; `null` = pips on
 * create, unchanged on update.
 */
pc_pending_entry?: PcPendingEntry | null, 
/**
 * What a PineConnector `risk=` means; `null` = the server's default / unchanged.
 */
pc_volume_type?: PcVolumeType | null, 
/**
 * What PineConnector `sl=` / `tp=` mean; `null` = default / unchanged.
 */
pc_target_type?: PcTargetType | null, 
/**
 * Slippage, position cap and filters (replaced as a whole); `null` = defaults
 * on create, unchanged on update.
 */
execution?: StrategyExecution | null, };

export type SymbolRow = { 
/**
 * `XAUUSD`.
 */
canonical: string, 
/**
 * The broker's symbol last resolved for it (`GOLD.pro`); `null` before a
 * trade or close on it since the runtime started.
 */
broker_symbol: string | null, decided: SymbolDecision | null, 
/**
 * The trader's override for this broker connection.
 */
override_symbol: string | null, };

export type SignalFilter = { strategy_id?: string | null, status?: SignalStatus | null, symbol?: string | null, from?: string | null, to?: string | null, };

export type PairOffer = { 
/**
 * Names this offer in `confirm_link_pairing` / `dismiss_link_pairing`.
 */
offer_id: string, 
/**
 * The server the link points at (normalised: `https://host[:port]`).
 */
server_url: string, 
/**
 * The server's host, as shown to the trader.
 */
server_host: string, 
/**
 * The account the key belongs to (from `GET /agents/me`).
 */
email: string | null, 
/**
 * The agent the key belongs to.
 */
agent_name: string, 
/**
 * The key's first characters (like the web app shows them), never the key.
 */
key_prefix: string, 
/**
 * The pairing this link would replace, when the app is paired.
 */
replaces: CurrentPairing | null, };

export type CurrentPairing = { server_url: string, agent_name: string | null, };

export type AppErrorCode = "bad_key" | "unreachable" | "rate_limited" | "no_keychain" | "not_paired" | "terminal_offline" | "invalid_request" | "not_found" | "forbidden" | "conflict" | "expired" | "timeout" | "job_failed" | "update" | "terminal_setup" | "internal";

export type AppError = { code: AppErrorCode, message: string, };

export type InstallationView = { data_dir: string, terminal_exe: string, metaeditor_exe: string | null, portable: boolean, wine_prefix: string | null, 
/**
 * Recorded in `config.json` by an earlier setup.
 */
set_up: boolean, 
/**
 * `#property version` of the bridge EA in its data folder, if any.
 */
bridge_version: string | null, };

export type SetupReport = { data_dir: string, source: string, ex5: string, set_file: string, startup_ini: string, bridge_version: string, warnings: number, 
/**
 * How to start the terminal so it runs the bridge (no token in it).
 */
start_command: string, };

export type CheckId = "terminal_found" | "metaeditor_found" | "ea_installed" | "ea_compiled" | "startup_config" | "ea_connected" | "token_matches" | "algo_trading" | "margin_mode";

export type CheckStatus = "ok" | "warn" | "fail" | "skipped";

export type Check = { id: CheckId, status: CheckStatus, 
/**
 * What was found.
 */
detail: string, 
/**
 * What to do, for `warn`/`fail`.
 */
fix: string | null, };

export type JobType = "compile" | "deploy" | "run" | "stop" | "test" | "trade" | "get_positions" | "get_account" | "get_candles" | "close_position" | "modify_position" | "cancel_orders";

export type JobStatus = "pending" | "running" | "completed" | "failed" | "cancelled";

export type JobView = { id: string, job_type: JobType, status: JobStatus, agent_id: string | null, input_data: unknown, output_data: unknown, error_message: string | null, attempts: number, expires_at: string | null, created_at: string, claimed_at: string | null, completed_at: string | null, };

export type Side = "buy" | "sell";

export type Timeframe = "M1" | "M5" | "M15" | "M30" | "H1" | "H4" | "D1" | "W1" | "MN1";

export type AccountOutput = { balance: number, equity: number, margin_used: number, margin_available: number, currency: string, leverage: number, };

export type Position = { 
/**
 * The ticket as a string (the platform's `id`).
 */
id: string, ticket: number, symbol: string, side: Side, volume: number, open_price: number, current_price: number, sl: number | null, tp: number | null, pnl: number, comment: string, magic: number, identifier: number | null, 
/**
 * The breakeven/trailing rules the terminal runs for this position (absent:
 * none, or a bridge older than the rules).
 */
stop_rule?: StopRuleState | null, };

export type StopRuleState = { 
/**
 * The position (or the pending order whose position it will be).
 */
ticket: number, breakeven?: BreakevenRule | null, trailing?: TrailingRule | null, phase: StopRulePhase, 
/**
 * The SL the rules last set (absent: not moved yet).
 */
last_sl?: number | null, 
/**
 * SL modifications the rules made.
 */
moves: number, 
/**
 * One pip in price units (to show distances in pips); 0 when unknown.
 */
pip: number, };

export type StopRulePhase = "armed" | "triggered" | "trailing";

export type BreakevenRule = { trigger: number, offset: number, 
/**
 * Done: the SL was moved (or was already beyond the breakeven level).
 */
done: boolean, };

export type TrailingRule = { 
/**
 * 0: at once (even while the spread keeps the position below its open price).
 */
activation: number, 
/**
 * Price distance (0 with `atr`).
 */
distance: number, step: number, atr?: AtrTrailing | null, 
/**
 * The activation was reached.
 */
active: boolean, };

export type AtrTrailing = { timeframe: Timeframe, period: number, multiplier: number, shift: number, };

export type ClosedPosition = { ticket: number, symbol: string, 
/**
 * The position's side (a buy position is closed by a sell deal).
 */
side: Side, volume: number, 
/**
 * The closing price.
 */
price: number, 
/**
 * Realised P&L of this position (0 when reconciled from the terminal's history).
 */
pnl: number, };

export type ClosePositionOutput = { closed_price: number, pnl: number, 
/**
 * Tickets closed (a symbol-wide close may close several).
 */
tickets: Array<number>, 
/**
 * Each position closed, with its own price and P&L (`closed_price` is the last
 * one's, `pnl` their sum).
 */
closed: Array<ClosedPosition>, };

export type PositionEffect = "opened" | "added" | "reduced" | "closed" | "reversed";

export type TradeOutput = { fill_price: number, 
/**
 * The position the deal went to (on netting accounts the symbol's one position).
 */
ticket: number, order_id: number, volume: number, 
/**
 * What the order did to the position; absent from agents before 0.11 and from
 * results reconciled by comment.
 */
position_effect?: PositionEffect | null, 
/**
 * Positions closed before the order (`opposite_entry` = `reverse`).
 */
closed?: Array<ClosedPosition>, 
/**
 * A pending order was placed, not filled: `order_id` is its ticket,
 * `fill_price` its price, `ticket` 0 (no position yet).
 */
pending?: boolean, 
/**
 * The breakeven/trailing rules set on the position (or pending order), as
 * the terminal keeps them.
 */
stop_rule?: StopRuleState | null, 
/**
 * Why the rules could not be set (the order itself went through).
 */
stop_rule_error?: string | null, };

export type OrderType = "market" | "limit" | "stop";

export type PendingOrder = { ticket: number, symbol: string, side: Side, 
/**
 * `limit` or `stop`.
 */
order_type: OrderType, volume: number, price: number, sl: number | null, tp: number | null, magic: number, comment: string, 
/**
 * Unix seconds; absent: good till cancelled.
 */
expiry: number | null, };

export type ModifiedPosition = { ticket: number, symbol: string, side: Side, sl: number | null, tp: number | null, 
/**
 * The position's breakeven/trailing rules after the job (absent: none).
 */
stop_rule?: StopRuleState | null, };

export type ModifyPositionOutput = { modified: Array<ModifiedPosition>, };

export type CancelOrdersOutput = { 
/**
 * The pending orders deleted.
 */
cancelled: Array<PendingOrder>, };

export type OppositeEntry = "reverse" | "hedge" | "reject";

export type CloseScope = "strategy" | "all_companion";

export type MarginMode = "hedging" | "netting" | "exchange";

export type AccountKind = "demo" | "contest" | "real";

export type Candle = { 
/**
 * Bar open time, Unix seconds UTC.
 */
time: number, open: number, high: number, low: number, close: number, volume: number, };

export type Diagnostic = { file: string, line: number, column: number, code: number, message: string, };

export type CompileOutput = { compiled: boolean, errors: Array<Diagnostic>, warnings: Array<Diagnostic>, 
/**
 * SHA-256 of the produced `.ex5`, hex; absent when compilation failed.
 */
ex5_checksum?: string | null, };

export type TestReport = { net_profit: number, gross_profit: number, gross_loss: number, profit_factor: number, max_drawdown: number, max_drawdown_pct: number, total_trades: number, win_rate_pct: number, initial_deposit: number, 
/**
 * Balance after each closed trade, when the report has one.
 */
equity_curve: Array<number>, };

export type AlertDialect = "auto" | "pineconnector";

export type PcVolumeType = "lots" | "percent_balance_risk" | "dollar_risk" | "percent_balance_lots" | "percent_balance_margin" | "percent_equity_risk";

export type PcTargetType = "pips" | "price" | "points" | "percentage";

export type PcPendingEntry = "pips" | "price" | "percentage";

export type PcAccountFilter = "balance" | "equity" | "free_margin";

export type StrategyExecution = { 
/**
 * Allowed slippage of market orders (MT5 `deviation`), points; default 20.
 */
slippage_points: number, 
/**
 * Open positions per symbol and direction (this strategy's magic) after which
 * an entry fails with `max_positions`; `null` = no cap.
 */
max_positions: number | null, 
/**
 * Largest spread for an entry, points (`SYMBOL_POINT`); `null` = no limit.
 */
max_spread_points: number | null, 
/**
 * Trading windows `"HH:MM-HH:MM"`; empty = any time.
 */
sessions: Array<string>, 
/**
 * ISO weekdays (1 = Monday … 7 = Sunday) of the windows; empty = every day.
 */
session_days: Array<number>, 
/**
 * The windows' time zone (a name PostgreSQL knows), default `UTC`.
 */
session_tz: string, 
/**
 * Account minimums for an entry (account currency); `null` = none.
 */
min_equity: number | null, min_free_margin: number | null, 
/**
 * What a PineConnector `accfilter=` is a minimum of.
 */
pc_account_filter: PcAccountFilter, };

export type Strategy = { id: string, name: string, broker_connection_id: string, 
/**
 * Normalised symbols (`EURUSD`); `null` = every pair allowed.
 */
allowed_pairs: Array<string> | null, 
/**
 * Risk per trade in percent of balance; `null` = `user_settings.risk_percent`.
 */
risk_override_pct: number | null, is_enabled: boolean, 
/**
 * The MT5 magic number of the strategy's orders (unique per user, 1 ..= 2^63-1).
 * Signal closes touch only positions carrying it (see `close_scope`).
 */
magic: number, close_scope: CloseScope, opposite_entry: OppositeEntry, 
/**
 * `{PUBLIC_BASE_URL}/api/v1/webhooks/tv/{webhook_secret}` — paste into TradingView.
 */
webhook_url: string, 
/**
 * Which alert syntaxes the webhook accepts (docs/webhook.md, PineConnector).
 */
alert_dialect: AlertDialect, 
/**
 * When set, PineConnector alerts with another licence id are refused.
 */
pineconnector_license_id: string | null, 
/**
 * What a PineConnector `risk=` means (the EA's "Volume Type").
 */
pc_volume_type: PcVolumeType, 
/**
 * What PineConnector `sl=` / `tp=` mean (the EA's "Target Type").
 */
pc_target_type: PcTargetType, 
/**
 * What a PineConnector pending order's `price=` means (the EA's "Pending
 * Order Entry"; migration 0014).
 */
pc_pending_entry: PcPendingEntry, 
/**
 * A repeated explicit signal id within this many seconds is a duplicate; 0 = forever.
 */
dedup_window_secs: number, 
/**
 * Slippage, position cap and pre-send filters (migration 0015).
 */
execution: StrategyExecution, created_at: string, updated_at: string, };

export type AgentStatus = "online" | "paused" | "offline";

export type AgentSummary = { id: string, agent_name: string, status: AgentStatus, last_heartbeat: string | null, app_version: string | null, };

export type BrokerConnection = { id: string, name: string, broker_type: string, is_active: boolean, 
/**
 * The agents (MT5 terminals) serving this connection.
 */
agents: Array<AgentSummary>, 
/**
 * The account the terminal reported (`ACCOUNT_LOGIN`), once an agent served it.
 */
login: string | null, 
/**
 * The trade server the terminal reported (`ACCOUNT_SERVER`).
 */
server: string | null, 
/**
 * True when the account is on the paper terminal; None before any report.
 */
paper: boolean | null, created_at: string, updated_at: string, };

export type SymbolDecision = "override" | "raw" | "exact" | "affix" | "alias" | "unchecked";

export type TradingDay = { broker_connection_id: string, 
/**
 * `user_settings.trading_day_tz` (IANA name, default `UTC`).
 */
trading_day_tz: string, 
/**
 * 00:00 of today in that time zone, as UTC.
 */
day_start: string, 
/**
 * Realised P&L today (account currency): the terminal's closed deals (profit +
 * swap + commission + fee) when the agent reports them, else Companion's closes.
 */
realised_pnl: number, 
/**
 * True when `realised_pnl` counts the terminal's deals (every close on the account).
 */
from_terminal: boolean, 
/**
 * Closed deals counted today (0 when not from the terminal).
 */
deals: number, 
/**
 * The last known balance (newest `get_account`), if any.
 */
balance: number | null, 
/**
 * `user_settings.daily_loss_limit_pct`.
 */
daily_loss_limit_pct: number, 
/**
 * The loss at which entries are refused (`balance × pct / 100`), when the
 * balance is known.
 */
loss_limit: number | null, };

export type TradingDayTimeZone = { trading_day_tz: string, };

export type SignalStatus = "pending" | "executed" | "failed" | "discarded";

export type SignalAction = "buy" | "sell" | "close" | "unknown" | "modify" | "cancel";

export type Signal = { id: string, strategy_id: string, 
/**
 * Normalised symbol; empty when the message named none (discarded).
 */
symbol: string, action: SignalAction, price: number | null, status: SignalStatus, fill_price: number | null, broker_order_id: string | null, 
/**
 * For `discarded`: why (see docs/webhook.md); for `failed`: the agent's error.
 */
error_message: string | null, job_id: string | null, received_at: string, resolved_at: string | null, 
/**
 * For a `duplicate`: the earlier signal it matched.
 */
duplicate_of?: string, 
/**
 * The command as the webhook understood it, in words ("sell limit 0.1 lots
 * GBPUSD 15 pips above the bid, ..."); absent for unreadable messages and
 * signals logged before migration 0014.
 */
understood?: string, 
/**
 * The body as received (non-JSON bodies as a JSON string). Only in
 * `GET /signals/{id}`; absent in lists.
 */
raw_payload?: unknown, };

export type SignalPage = { items: Array<Signal>, next_cursor: string | null, };

export type SignalDetail = { signal: Signal, job: JobView | null, };

export type EaVersionStatus = "draft" | "compiling" | "compiled" | "failed";

export type EaProject = { id: string, name: string, description: string | null, current_version_id: string | null, 
/**
 * Highest version number, `null` when the project has no versions.
 */
latest_version_number: number | null, version_count: number, created_at: string, updated_at: string, };

export type EaVersion = { id: string, ea_project_id: string, version_number: number, status: EaVersionStatus, compilation_error: string | null, 
/**
 * True when this is the project's `current_version_id`.
 */
is_current: boolean, created_at: string, updated_at: string, };

export type EaVersionSource = { id: string, ea_project_id: string, version_number: number, source_code: string, };

export type QueueDeployRequest = { agent_id: string, symbol: string, timeframe: Timeframe, 
/**
 * Defaults to a number derived from the deployment id.
 */
magic_number?: number | null, inputs?: Record<string, unknown> | null, };

export type QueueTestRequest = { agent_id: string, symbol: string, timeframe: Timeframe, 
/**
 * `YYYY-MM-DD`.
 */
from: string, 
/**
 * `YYYY-MM-DD`.
 */
to: string, model: number, deposit: number, leverage: number, inputs?: Record<string, unknown> | null, };

export type QueuedJob = { job_id: string, job_type: JobType, agent_id: string, 
/**
 * Set for `deploy`: the `ea_deployments` row created.
 */
deployment_id?: string | null, };
