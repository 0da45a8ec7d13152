import { describe, expect, it, vi } from 'vitest';
import { render, screen, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import Signals from './Signals.svelte';
import { startEventBridge } from '../lib/stores.svelte';
import { backend, callsOf, emit, job, signal, strategy } from '../test/fixtures';

describe('Signals', () => {
  it('adds a pushed signal to the feed without reloading, then updates it in place', async () => {
    const log = backend({
      list_signals: { items: [signal('a', { received_at: '2026-11-24T19:00:00Z' })], next_cursor: null },
      list_strategies: [strategy('s1', { name: 'Breakout' })],
    });
    const stop = await startEventBridge();
    render(Signals);
    const table = await screen.findByRole('table', { name: 'Signals' });
    expect(within(table).getAllByRole('row')).toHaveLength(2);

    const fresh = signal('b', { received_at: '2026-11-24T19:00:09Z', status: 'pending', fill_price: null, symbol: 'GBPUSD' });
    await emit('server-event', { kind: 'signal', id: 'b', op: 'INSERT', data: fresh });
    await vi.waitFor(() => expect(within(table).getAllByRole('row')).toHaveLength(3));
    const rows = within(table).getAllByRole('row');
    expect(rows[1]).toHaveAttribute('data-signal', 'b');
    expect(rows[1]).toHaveAttribute('data-status', 'pending');

    await emit('server-event', { kind: 'signal', id: 'b', op: 'UPDATE', data: { ...fresh, status: 'executed', fill_price: 1.2671 } });
    await vi.waitFor(() => expect(table.querySelector('[data-signal=b]')).toHaveAttribute('data-status', 'executed'));
    expect(within(table).getAllByRole('row')).toHaveLength(3);
    expect(callsOf(log, 'list_signals')).toHaveLength(1);
    stop();
  });

  it('reloads with the chosen filters', async () => {
    const log = backend({
      list_signals: { items: [], next_cursor: null },
      list_strategies: [strategy('s1', { name: 'Breakout' })],
    });
    const user = userEvent.setup();
    render(Signals);
    expect(await screen.findByText('No signals')).toBeInTheDocument();
    await user.selectOptions(screen.getByLabelText('Status'), 'failed');
    await vi.waitFor(() =>
      expect(callsOf(log, 'list_signals').at(-1)).toEqual({
        filter: { strategy_id: null, status: 'failed', symbol: null },
        cursor: null,
      }),
    );
    expect(await screen.findByText('No signal matches these filters.')).toBeInTheDocument();
  });

  it('loads older pages with the cursor', async () => {
    const log = backend({
      list_signals: ({ cursor }: Record<string, unknown>) =>
        cursor ? { items: [signal('old')], next_cursor: null } : { items: [signal('new')], next_cursor: 'c-1' },
      list_strategies: [],
    });
    const user = userEvent.setup();
    render(Signals);
    await user.click(await screen.findByRole('button', { name: 'Load older signals' }));
    await vi.waitFor(() => expect(screen.getByRole('table', { name: 'Signals' }).querySelector('[data-signal=old]')).not.toBeNull());
    expect(callsOf(log, 'list_signals').at(-1)).toMatchObject({ cursor: 'c-1' });
    expect(screen.queryByRole('button', { name: 'Load older signals' })).not.toBeInTheDocument();
  });

  it('opens a detail with the raw payload, the job and a timeline', async () => {
    backend({
      list_signals: { items: [signal('a', { status: 'failed', error_message: 'market closed (10018)' })], next_cursor: null },
      list_strategies: [],
      get_signal: {
        signal: signal('a', {
          status: 'failed',
          error_message: 'market closed (10018)',
          raw_payload: { ticker: 'EURUSD', action: 'buy' },
        }),
        job: job('job-a', { status: 'failed', error_message: 'market closed (10018)' }),
      },
    });
    const user = userEvent.setup();
    render(Signals);
    const row = (await screen.findByRole('table', { name: 'Signals' })).querySelector('[data-signal=a]') as HTMLElement;
    row.focus();
    await user.keyboard('{Enter}');
    const dialog = await screen.findByRole('dialog', { name: 'Signal detail' });
    await within(dialog).findByTestId('raw-payload');
    expect(within(dialog).getByTestId('raw-payload')).toHaveTextContent('"ticker": "EURUSD"');
    const tl = within(dialog).getByRole('list', { name: 'Timeline' });
    expect(tl).toHaveTextContent('Received from TradingView');
    expect(tl).toHaveTextContent('Claimed by agent');
    expect(tl).toHaveTextContent('Failed');
    expect(within(dialog).getAllByText('market closed (10018)').length).toBeGreaterThan(0);
  });

  it('shows the command as understood and the outcome per position', async () => {
    backend({
      list_signals: { items: [signal('m', { action: 'modify', status: 'executed' })], next_cursor: null },
      list_strategies: [],
      get_signal: {
        signal: signal('m', {
          action: 'modify',
          status: 'executed',
          understood: "modify SL to 1.082 of the strategy's buy positions on EURUSD",
        }),
        job: job('job-m', {
          job_type: 'modify_position',
          status: 'completed',
          output_data: { modified: [{ ticket: 11, symbol: 'EURUSD', side: 'buy', sl: 1.082, tp: null }] },
        }),
      },
    });
    const user = userEvent.setup();
    render(Signals);
    const row = (await screen.findByRole('table', { name: 'Signals' })).querySelector('[data-signal=m]') as HTMLElement;
    row.focus();
    await user.keyboard('{Enter}');
    const dialog = await screen.findByRole('dialog', { name: 'Signal detail' });
    expect(await within(dialog).findByTestId('understood')).toHaveTextContent(
      "Understood as: modify SL to 1.082 of the strategy's buy positions on EURUSD",
    );
    expect(within(dialog).getByRole('list', { name: 'Outcome' })).toHaveTextContent('Modified #11 EURUSD buy: SL 1.082, TP —');
  });
});
