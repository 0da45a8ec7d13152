import { describe, expect, it, vi } from 'vitest';
import { render, screen, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import App from './App.svelte';
import { toasts } from './lib/stores.svelte';
import { account, backend, callsOf, emit, pairedStatus, terminal, unpairedStatus } from './test/fixtures';

const dashboardData = {
  account,
  positions: [],
  recent_jobs: [],
};

describe('App shell', () => {
  it('shows the Pair screen when not paired', async () => {
    backend({ status: unpairedStatus });
    render(App);
    expect(await screen.findByRole('heading', { name: 'Connect this computer' })).toBeInTheDocument();
    expect(screen.queryByRole('navigation', { name: 'Main' })).not.toBeInTheDocument();
  });

  it('shows PAPER for the paper terminal and switches to LIVE on a status event', async () => {
    backend({ status: pairedStatus(), ...dashboardData });
    render(App);
    const badge = await screen.findByTestId('mode-badge');
    expect(badge).toHaveTextContent('PAPER');
    await emit('status-changed', pairedStatus({ terminal: terminal({ connected: true }) }));
    await screen.findByText('LIVE', { selector: '[data-testid=mode-badge] *' });
  });

  it('marks Settings when the app finds an update by itself', async () => {
    backend({ status: pairedStatus(), ...dashboardData, last_update_check: null });
    render(App);
    await screen.findByTestId('mode-badge');
    expect(screen.queryByTestId('update-badge')).not.toBeInTheDocument();
    await emit('update-available', { available: true, current_version: '0.1.0', version: '0.2.0', notes: null, pub_date: null });
    const badge = await screen.findByTestId('update-badge');
    expect(badge).toHaveAttribute('title', 'Version 0.2.0 is available');
  });

  it('shows the account margin mode and kind next to PAPER/LIVE', async () => {
    backend({ status: pairedStatus(), ...dashboardData });
    render(App);
    expect(await screen.findByTestId('account-badge')).toHaveTextContent('hedging · demo');
    await emit(
      'status-changed',
      pairedStatus({ terminal: terminal({ connected: true, margin_mode: 'netting', account_kind: 'real' }) }),
    );
    await vi.waitFor(() => expect(screen.getByTestId('account-badge')).toHaveTextContent('netting · real'));
  });

  it('ignores a status snapshot older than the one it shows', async () => {
    backend({ status: pairedStatus({ seq: 5 }), ...dashboardData });
    render(App);
    await screen.findByTestId('mode-badge');
    await emit('status-changed', pairedStatus({ seq: 7, server_connected: false }));
    expect(await screen.findByText(/You are offline/)).toBeInTheDocument();
    // A reply computed before that change arrives late: it must not bring back "connected".
    const { app } = await import('./lib/stores.svelte');
    app.set(pairedStatus({ seq: 6, server_connected: true }));
    await new Promise((r) => setTimeout(r, 50));
    expect(screen.getByText(/You are offline/)).toBeInTheDocument();
  });

  it('shows an offline banner when the server connection drops', async () => {
    backend({ status: pairedStatus(), ...dashboardData });
    render(App);
    await screen.findByTestId('mode-badge');
    expect(screen.queryByText(/You are offline/)).not.toBeInTheDocument();
    await emit('status-changed', pairedStatus({ server_connected: false, last_error: 'connection refused' }));
    expect(await screen.findByText(/You are offline/)).toHaveTextContent('connection refused');
  });

  it('navigates with the sidebar and pauses the agent', async () => {
    let seq = 1;
    const log = backend({
      status: pairedStatus({ seq }),
      ...dashboardData,
      set_paused: ({ paused }: Record<string, unknown>) => pairedStatus({ seq: (seq += 2), pause_requested: paused as boolean }),
      list_strategies: [],
      list_broker_connections: [],
    });
    const user = userEvent.setup();
    render(App);
    const nav = await screen.findByRole('navigation', { name: 'Main' });
    await user.click(within(nav).getByText('Strategies'));
    expect(await screen.findByRole('heading', { name: 'Strategies' })).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Pause' }));
    // Asked, not yet parked: a poll in flight may still bring a job.
    expect(await screen.findByRole('button', { name: 'Resume taking jobs' })).toBeInTheDocument();
    expect(screen.getByTestId('pause-state')).toHaveAttribute('data-state', 'pausing');
    // The runtime reports it has parked.
    await emit('status-changed', pairedStatus({ seq: ++seq, pause_requested: true, paused: true }));
    await vi.waitFor(() => expect(screen.getByTestId('pause-state')).toHaveAttribute('data-state', 'paused'));
    await user.click(screen.getByRole('button', { name: 'Resume taking jobs' }));
    expect(await screen.findByRole('button', { name: 'Pause' })).toBeInTheDocument();
    expect(callsOf(log, 'set_paused')).toEqual([{ paused: true }, { paused: false }]);
  });

  it('drops a screen\'s confirmations when leaving it, keeps errors', async () => {
    backend({ status: pairedStatus(), ...dashboardData, list_strategies: [], list_broker_connections: [] });
    history.replaceState(null, '', '#/dashboard');
    const user = userEvent.setup();
    render(App);
    const nav = await screen.findByRole('navigation', { name: 'Main' });
    toasts.push('success', 'Created “Breakout”.', 0);
    toasts.push('error', 'Could not copy.', 0);
    expect(await screen.findByText('Created “Breakout”.')).toBeInTheDocument();
    await user.click(within(nav).getByText('Strategies'));
    await screen.findByRole('heading', { name: 'Strategies' });
    expect(screen.queryByText('Created “Breakout”.')).not.toBeInTheDocument();
    expect(screen.getByText('Could not copy.')).toBeInTheDocument();
    toasts.clearOnNavigate();
    toasts.items.forEach((t) => toasts.dismiss(t.id));
  });
});
