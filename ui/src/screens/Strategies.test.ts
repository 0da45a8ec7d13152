import { describe, expect, it, vi } from 'vitest';
import { render, screen, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import Strategies from './Strategies.svelte';
import { backend, callsOf, connection, strategy } from '../test/fixtures';
import type { Strategy, StrategyInput } from '../lib/api';

/** What the server answers for a create/update body (defaults for what it leaves out). */
const created = (i: StrategyInput, id = 'new'): Strategy =>
  strategy(id, {
    name: i.name,
    broker_connection_id: i.broker_connection_id,
    allowed_pairs: i.allowed_pairs,
    risk_override_pct: i.risk_override_pct,
    is_enabled: i.is_enabled,
    magic: i.magic ?? 100002,
    close_scope: i.close_scope ?? 'strategy',
    opposite_entry: i.opposite_entry ?? 'reverse',
  });

describe('Strategies', () => {
  it('lists strategies with pairs, risk and webhook URL', async () => {
    backend({
      list_strategies: [strategy('s1', { allowed_pairs: ['EURUSD', 'GBPUSD'], risk_override_pct: 1.5 }), strategy('s2')],
      list_broker_connections: [connection],
    });
    render(Strategies);
    const table = await screen.findByRole('table', { name: 'Strategies' });
    expect(within(table).getByText('EURUSD, GBPUSD')).toBeInTheDocument();
    expect(within(table).getByText('1.5 %')).toBeInTheDocument();
    expect(within(table).getByText('All pairs')).toBeInTheDocument();
    expect(within(table).getByLabelText('Webhook URL of Strategy s1')).toHaveValue(
      'http://127.0.0.1:8080/api/v1/webhooks/tv/secret-s1',
    );
  });

  it('shows an empty state that offers to create the first strategy', async () => {
    backend({ list_strategies: [], list_broker_connections: [connection] });
    render(Strategies);
    expect(await screen.findByText('No strategies yet')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Create your first strategy' })).toBeInTheDocument();
  });

  it('creates a strategy with normalised allowed pairs and a risk override', async () => {
    const log = backend({
      list_strategies: [],
      list_broker_connections: [connection],
      create_strategy: ({ input }: Record<string, unknown>) => created(input as StrategyInput),
    });
    const user = userEvent.setup();
    render(Strategies);
    await user.click(await screen.findByRole('button', { name: 'New strategy' }));
    const form = screen.getByRole('form', { name: 'New strategy' });
    await user.type(within(form).getByLabelText('Name'), 'London breakout');
    await user.type(within(form).getByRole('textbox', { name: 'Allowed pairs' }), 'oanda:eurusd{Enter}gbp/usd,');
    expect(within(form).getByRole('list', { name: 'Allowed pairs' })).toHaveTextContent('EURUSD ✕GBPUSD ✕');
    await user.click(within(form).getByRole('button', { name: 'Remove GBPUSD' }));
    await user.click(within(form).getByLabelText(/Use my account default/));
    const risk = within(form).getByLabelText('Risk percent');
    await user.clear(risk);
    await user.type(risk, '25');
    expect(within(form).getByRole('button', { name: 'Create strategy' })).toBeDisabled();
    await user.clear(risk);
    await user.type(risk, '2.5');
    await user.click(within(form).getByRole('button', { name: 'Create strategy' }));
    await vi.waitFor(() => expect(callsOf(log, 'create_strategy')).toHaveLength(1));
    expect(callsOf(log, 'create_strategy')[0]).toEqual({
      input: {
        name: 'London breakout',
        broker_connection_id: 'c1',
        allowed_pairs: ['EURUSD'],
        risk_override_pct: 2.5,
        is_enabled: true,
        magic: null,
        close_scope: 'strategy',
        opposite_entry: 'reverse',
        pc_pending_entry: 'pips',
        pc_volume_type: 'lots',
        pc_target_type: 'pips',
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
      },
    });
    expect(await screen.findByText('London breakout')).toBeInTheDocument();
  });

  it('sets sizing and stop units, limits and filters, refusing malformed values', async () => {
    const log = backend({
      list_strategies: [],
      list_broker_connections: [connection],
      create_strategy: ({ input }: Record<string, unknown>) => created(input as StrategyInput),
    });
    const user = userEvent.setup();
    render(Strategies);
    await user.click(await screen.findByRole('button', { name: 'New strategy' }));
    const form = screen.getByRole('form', { name: 'New strategy' });
    await user.type(within(form).getByLabelText('Name'), 'Gold');
    await user.selectOptions(within(form).getByLabelText('PineConnector risk= means'), 'percent_equity_risk');
    await user.selectOptions(within(form).getByLabelText('PineConnector sl= and tp= are'), 'points');
    const save = within(form).getByRole('button', { name: 'Create strategy' });
    const cap = within(form).getByLabelText('Maximum open positions per symbol and direction');
    await user.type(cap, '0');
    expect(within(form).getByText(/A whole number from 1 to 1000/)).toBeInTheDocument();
    expect(save).toBeDisabled();
    await user.clear(cap);
    await user.type(cap, '2');
    const slippage = within(form).getByLabelText('Slippage in points');
    await user.clear(slippage);
    await user.type(slippage, '5');
    // The filters are folded away until opened.
    await user.click(within(form).getByText(/^Filters/));
    const hours = within(form).getByLabelText('Trading hours');
    await user.type(hours, '8:00-17:00');
    expect(within(form).getByText(/Windows like 08:00-17:00/)).toBeInTheDocument();
    expect(save).toBeDisabled();
    await user.clear(hours);
    await user.type(hours, '08:00-17:00, 22:00-02:00');
    await user.type(within(form).getByLabelText('Maximum spread in points'), '30');
    await user.click(within(form).getByLabelText('Mon'));
    await user.click(within(form).getByLabelText('Fri'));
    const tz = within(form).getByLabelText('Trading hours time zone');
    await user.clear(tz);
    await user.type(tz, 'Europe/London');
    await user.type(within(form).getByLabelText('Minimum free margin'), '500');
    await user.selectOptions(within(form).getByLabelText('PineConnector accfilter= is a minimum of'), 'free_margin');
    expect(save).toBeEnabled();
    await user.click(save);
    await vi.waitFor(() => expect(callsOf(log, 'create_strategy')).toHaveLength(1));
    expect(callsOf(log, 'create_strategy')[0]).toMatchObject({
      input: {
        name: 'Gold',
        pc_volume_type: 'percent_equity_risk',
        pc_target_type: 'points',
        execution: {
          slippage_points: 5,
          max_positions: 2,
          max_spread_points: 30,
          sessions: ['08:00-17:00', '22:00-02:00'],
          session_days: [1, 5],
          session_tz: 'Europe/London',
          min_equity: null,
          min_free_margin: 500,
          pc_account_filter: 'free_margin',
        },
      },
    });
  });

  it('sets the magic number, close scope and opposite-entry mode, refusing magic 0', async () => {
    const log = backend({
      list_strategies: [],
      list_broker_connections: [connection],
      create_strategy: ({ input }: Record<string, unknown>) => created(input as StrategyInput),
    });
    const user = userEvent.setup();
    render(Strategies);
    await user.click(await screen.findByRole('button', { name: 'New strategy' }));
    const form = screen.getByRole('form', { name: 'New strategy' });
    await user.type(within(form).getByLabelText('Name'), 'Scalper');
    const magic = within(form).getByLabelText('Magic number');
    await user.type(magic, '0');
    expect(within(form).getByText(/A whole number from 1/)).toBeInTheDocument();
    expect(within(form).getByRole('button', { name: 'Create strategy' })).toBeDisabled();
    await user.clear(magic);
    await user.type(magic, '5001');
    await user.selectOptions(within(form).getByLabelText('Close signals close'), 'all_companion');
    await user.selectOptions(within(form).getByLabelText('Entry against an open opposite position'), 'reject');
    await user.selectOptions(within(form).getByLabelText('PineConnector pending order price'), 'price');
    await user.click(within(form).getByRole('button', { name: 'Create strategy' }));
    await vi.waitFor(() => expect(callsOf(log, 'create_strategy')).toHaveLength(1));
    expect(callsOf(log, 'create_strategy')[0]).toMatchObject({
      input: {
        name: 'Scalper',
        magic: 5001,
        close_scope: 'all_companion',
        opposite_entry: 'reject',
        pc_pending_entry: 'price',
      },
    });
  });

  it('rotates the secret only after confirmation and shows the new URL', async () => {
    const log = backend({
      list_strategies: [strategy('s1')],
      list_broker_connections: [connection],
      rotate_strategy_secret: strategy('s1', { webhook_url: 'http://127.0.0.1:8080/api/v1/webhooks/tv/rotated' }),
    });
    const user = userEvent.setup();
    render(Strategies);
    await user.click(await screen.findByRole('button', { name: 'Rotate' }));
    const dialog = screen.getByRole('dialog', { name: 'Rotate webhook secret?' });
    expect(callsOf(log, 'rotate_strategy_secret')).toHaveLength(0);
    await user.click(within(dialog).getByRole('button', { name: 'Rotate secret' }));
    await vi.waitFor(() =>
      expect(screen.getByLabelText('Webhook URL of Strategy s1')).toHaveValue(
        'http://127.0.0.1:8080/api/v1/webhooks/tv/rotated',
      ),
    );
    expect(callsOf(log, 'rotate_strategy_secret')).toEqual([{ id: 's1' }]);
  });

  it('toggles enabled by sending the full strategy state', async () => {
    const log = backend({
      list_strategies: [strategy('s1', { allowed_pairs: ['XAUUSD'] })],
      list_broker_connections: [connection],
      update_strategy: ({ input }: Record<string, unknown>) => created(input as StrategyInput, 's1'),
    });
    const user = userEvent.setup();
    render(Strategies);
    await user.click(await screen.findByRole('switch', { name: 'Enable Strategy s1' }));
    await vi.waitFor(() => expect(callsOf(log, 'update_strategy')).toHaveLength(1));
    expect(callsOf(log, 'update_strategy')[0]).toEqual({
      id: 's1',
      input: {
        name: 'Strategy s1',
        broker_connection_id: 'c1',
        allowed_pairs: ['XAUUSD'],
        risk_override_pct: null,
        is_enabled: false,
        magic: 100001,
        close_scope: 'strategy',
        opposite_entry: 'reverse',
      },
    });
  });

  it('names the account a strategy trades: the select lists each account (login @ server, paper/live)', async () => {
    const second = { ...connection, id: 'c2', name: '5002002 @ Live-Server', login: '5002002', server: 'Live-Server', paper: false };
    const first = { ...connection, login: '5001001', server: 'Companion-Paper', paper: true };
    const log = backend({
      list_strategies: [],
      list_broker_connections: [first, second],
      create_strategy: ({ input }: Record<string, unknown>) => created(input as StrategyInput),
    });
    const user = userEvent.setup();
    render(Strategies);
    await user.click(await screen.findByRole('button', { name: 'New strategy' }));
    const form = screen.getByRole('form', { name: 'New strategy' });
    await user.type(within(form).getByLabelText('Name'), 'Prop 2');
    const select = within(form).getByLabelText('Account');
    expect(within(select).getAllByRole('option').map((o) => o.textContent)).toEqual([
      '5001001 @ Companion-Paper · paper',
      '5002002 @ Live-Server · live',
    ]);
    await user.selectOptions(select, 'c2');
    await user.click(within(form).getByRole('button', { name: 'Create strategy' }));
    await vi.waitFor(() => expect(callsOf(log, 'create_strategy')).toHaveLength(1));
    expect((callsOf(log, 'create_strategy')[0] as { input: StrategyInput }).input.broker_connection_id).toBe('c2');
  });
});
