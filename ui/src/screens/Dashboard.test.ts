import { describe, expect, it, vi } from 'vitest';
import { render, screen, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import Dashboard from './Dashboard.svelte';
import { app, toasts } from '../lib/stores.svelte';
import { account, accountStatus, backend, callsOf, job, pairedStatus, position, terminal } from '../test/fixtures';

describe('Dashboard', () => {
  it('shows account figures, positions and recent jobs', async () => {
    app.set(pairedStatus());
    backend({
      account,
      positions: [position(101), position(102, { symbol: 'GBPUSD', side: 'sell', pnl: -3 })],
      recent_jobs: [job('j1', { job_type: 'get_account' }), job('j2', { status: 'failed', error_message: 'market closed' })],
    });
    render(Dashboard);
    await vi.waitFor(() => expect(screen.getByTestId('balance')).toHaveTextContent('10,000.00'));
    expect(screen.getByTestId('equity')).toHaveTextContent('10,042.50');
    const table = await screen.findByRole('table', { name: 'Open positions' });
    expect(within(table).getAllByRole('row')).toHaveLength(3);
    expect(within(table).getByText('GBPUSD')).toBeInTheDocument();
    const jobs = await screen.findByRole('table', { name: 'Recent jobs' });
    expect(within(jobs).getByText('market closed')).toBeInTheDocument();
  });

  it('closes a position only after confirmation', async () => {
    app.set(pairedStatus());
    let open = [position(101), position(102)];
    const log = backend({
      account,
      positions: () => open,
      recent_jobs: [],
      close_position: ({ ticket }: Record<string, unknown>) => {
        open = open.filter((p) => p.ticket !== ticket);
        return { closed_price: 1.0842, pnl: 42.5 };
      },
    });
    const user = userEvent.setup();
    render(Dashboard);
    await user.click(await screen.findByRole('button', { name: 'Close position 101' }));
    expect(callsOf(log, 'close_position')).toHaveLength(0);
    const dialog = screen.getByRole('dialog', { name: 'Close position?' });
    await user.click(within(dialog).getByRole('button', { name: 'Close position' }));
    await vi.waitFor(() =>
      expect(screen.queryByRole('button', { name: 'Close position 101' })).not.toBeInTheDocument(),
    );
    expect(callsOf(log, 'close_position')).toEqual([{ ticket: 101 }]);
    expect(toasts.items.map((t) => t.text).join()).toContain('Closed EURUSD #101');
    expect(screen.getByRole('button', { name: 'Close position 102' })).toBeInTheDocument();
  });

  it('shows the empty state with no positions and an offline state with retry', async () => {
    app.set(pairedStatus());
    let fail = true;
    backend({
      account,
      positions: () => (fail ? Promise.reject({ code: 'terminal_offline', message: 'The terminal is not connected.' }) : []),
      recent_jobs: [],
    });
    const user = userEvent.setup();
    render(Dashboard);
    expect(await screen.findByText('You are offline')).toBeInTheDocument();
    expect(screen.getByText('The terminal is not connected.')).toBeInTheDocument();
    fail = false;
    await user.click(screen.getAllByRole('button', { name: 'Try again' })[0]!);
    expect(await screen.findByText('No open positions')).toBeInTheDocument();
  });

  it('shows realised P&L today against the daily loss limit', async () => {
    app.set(pairedStatus());
    backend({
      account,
      positions: [],
      recent_jobs: [],
      trading_day: {
        broker_connection_id: 'c1',
        trading_day_tz: 'America/New_York',
        day_start: '2026-11-30T05:00:00Z',
        realised_pnl: -510,
        from_terminal: true,
        deals: 3,
        balance: 10000,
        daily_loss_limit_pct: 5,
        loss_limit: 500,
      },
    });
    render(Dashboard);
    const card = await screen.findByTestId('realised-today');
    await vi.waitFor(() => expect(within(card).getByTestId('realised-value')).toHaveTextContent('−510.00'));
    expect(within(card).getByText('Daily loss limit reached')).toBeInTheDocument();
    expect(within(card).getByRole('meter', { name: 'Daily loss limit used' })).toHaveAttribute('aria-valuenow', '100');
    expect(within(card).getByTestId('realised-note')).toHaveTextContent(
      'new entries are refused until 00:00 America/New_York · 3 closed deals on the account',
    );
  });

  it('lists every account the agent serves, each with its own figures', async () => {
    app.set(
      pairedStatus({
        accounts: [
          accountStatus('port 18765', {
            port: 18765,
            terminal: terminal({ connected: true, paper: true, login: '5001001', server: 'Companion-Paper', margin_mode: 'hedging' }),
            balance: 10000,
            equity: 10042.5,
            currency: 'USD',
          }),
          accountStatus('prop firm 2', { port: 18766, terminal: terminal({ connected: false }) }),
        ],
      }),
    );
    backend({ account, positions: [], recent_jobs: [] });
    render(Dashboard);
    const table = await screen.findByRole('table', { name: 'Accounts' });
    const rows = within(table).getAllByRole('row');
    expect(rows).toHaveLength(3);
    expect(rows[1]).toHaveTextContent('5001001 @ Companion-Paper');
    expect(rows[1]).toHaveTextContent('PAPER');
    expect(rows[1]).toHaveTextContent('Hedging');
    expect(rows[1]).toHaveTextContent('10,042.50 USD');
    expect(rows[2]).toHaveTextContent('prop firm 2');
    expect(rows[2]).toHaveTextContent('Not connected');
    expect(within(rows[2]!).queryByText('PAPER')).toBeNull();
  });

  it('shows no account list for a single terminal (the Terminal card says it)', async () => {
    app.set(pairedStatus({ accounts: [accountStatus('port 18765')] }));
    backend({ account, positions: [], recent_jobs: [] });
    render(Dashboard);
    await screen.findByRole('table', { name: 'Recent jobs' }).catch(() => null);
    expect(screen.queryByRole('table', { name: 'Accounts' })).toBeNull();
  });
});
