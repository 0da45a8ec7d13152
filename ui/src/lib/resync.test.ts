// The server's `resync` event (relayed by Rust as a `server-event` of kind `resync`
// when events were missed, e.g. after the server's LISTEN connection reconnected):
// every visible list and the agent status are read again.
import { describe, expect, it, vi } from 'vitest';
import { render, screen, within } from '@testing-library/svelte';
import Signals from '../screens/Signals.svelte';
import Dashboard from '../screens/Dashboard.svelte';
import Strategies from '../screens/Strategies.svelte';
import EaProjects from '../screens/EaProjects.svelte';
import { app, startEventBridge } from './stores.svelte';
import { account, backend, callsOf, connection, emit, job, pairedStatus, project, signal, strategy, terminal, version } from '../test/fixtures';

vi.mock('lightweight-charts', () => {
  const series = { setData: vi.fn() };
  const chart = { addSeries: vi.fn(() => series), timeScale: () => ({ fitContent: vi.fn() }), remove: vi.fn() };
  return { createChart: vi.fn(() => chart), CandlestickSeries: {}, AreaSeries: {}, ColorType: { Solid: 'solid' } };
});

const RESYNC = { kind: 'resync', id: '00000000-0000-0000-0000-000000000000', op: 'resync', data: null };

describe('resync', () => {
  it('refetches the signal feed (keeping it on screen) and the open strategies', async () => {
    // The second page holds a signal whose event was missed.
    let items = [signal('a', { received_at: '2026-11-24T19:00:00Z' })];
    const log = backend({
      list_signals: () => ({ items, next_cursor: null }),
      list_strategies: [strategy('s1', { name: 'Breakout' })],
    });
    const stop = await startEventBridge();
    render(Signals);
    const table = await screen.findByRole('table', { name: 'Signals' });
    expect(within(table).getAllByRole('row')).toHaveLength(2);

    items = [signal('missed', { received_at: '2026-11-24T19:00:05Z', status: 'failed' }), ...items];
    await emit('server-event', RESYNC);
    await vi.waitFor(() => expect(table.querySelector('[data-signal=missed]')).toHaveAttribute('data-status', 'failed'));
    expect(screen.getByRole('table', { name: 'Signals' })).toBe(table);
    expect(callsOf(log, 'list_signals')).toHaveLength(2);
    expect(callsOf(log, 'list_strategies')).toHaveLength(2);
    stop();
  });

  it('refetches the dashboard (recent jobs, account, positions) and the agent status', async () => {
    app.set(pairedStatus({ seq: 1 }));
    let jobs = [job('j1', { job_type: 'get_account' })];
    let status = pairedStatus({ seq: 1 });
    const log = backend({
      status: () => status,
      account,
      positions: [],
      recent_jobs: () => jobs,
    });
    const stop = await startEventBridge();
    render(Dashboard);
    const table = await screen.findByRole('table', { name: 'Recent jobs' });
    expect(within(table).getAllByRole('row')).toHaveLength(2);

    jobs = [job('j2', { status: 'failed', error_message: 'missed while away' }), ...jobs];
    status = pairedStatus({ seq: 2, terminal: terminal({ connected: true }) });
    await emit('server-event', RESYNC);
    await vi.waitFor(() => expect(screen.getByText('missed while away')).toBeInTheDocument());
    await vi.waitFor(() => expect(app.status.terminal.paper).toBe(false));
    expect(callsOf(log, 'recent_jobs')).toHaveLength(2);
    expect(callsOf(log, 'account')).toHaveLength(2);
    expect(callsOf(log, 'positions')).toHaveLength(2);
    expect(callsOf(log, 'status')).toHaveLength(1);
    stop();
  });

  it('refetches the strategies list', async () => {
    let list = [strategy('s1')];
    const log = backend({ list_strategies: () => list, list_broker_connections: [connection] });
    const stop = await startEventBridge();
    render(Strategies);
    const table = await screen.findByRole('table', { name: 'Strategies' });
    list = [...list, strategy('s2', { name: 'Made on the web' })];
    await emit('server-event', RESYNC);
    await vi.waitFor(() => expect(within(table).getByText('Made on the web')).toBeInTheDocument());
    expect(callsOf(log, 'list_strategies')).toHaveLength(2);
    stop();
  });

  it('refetches EA projects and the selected project’s versions', async () => {
    let versions = [version('v1', 1, { is_current: true })];
    const log = backend({
      list_ea_projects: [project('p1', { name: 'Grid EA' })],
      list_ea_versions: () => versions,
    });
    const stop = await startEventBridge();
    render(EaProjects);
    const table = await screen.findByRole('table', { name: 'Versions' });
    versions = [...versions, version('v2', 2, { status: 'compiled' })];
    await emit('server-event', RESYNC);
    await vi.waitFor(() => expect(table.querySelector('[data-version=v2]')).not.toBeNull());
    expect(callsOf(log, 'list_ea_projects')).toHaveLength(2);
    expect(callsOf(log, 'list_ea_versions')).toHaveLength(2);
    stop();
  });

  it('other events do not trigger a refetch', async () => {
    const log = backend({ list_strategies: [strategy('s1')], list_broker_connections: [connection] });
    const stop = await startEventBridge();
    render(Strategies);
    await screen.findByRole('table', { name: 'Strategies' });
    await emit('server-event', { kind: 'job', id: 'j9', op: 'update', data: job('j9') });
    await new Promise((r) => setTimeout(r, 20));
    expect(callsOf(log, 'list_strategies')).toHaveLength(1);
    stop();
  });
});
