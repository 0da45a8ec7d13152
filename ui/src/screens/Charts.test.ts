import { describe, expect, it, vi } from 'vitest';
import { render, screen } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import Charts from './Charts.svelte';
import { backend, callsOf } from '../test/fixtures';

const setData = vi.fn();
vi.mock('lightweight-charts', () => {
  const chart = { addSeries: vi.fn(() => ({ setData })), timeScale: () => ({ fitContent: vi.fn() }), remove: vi.fn() };
  return { createChart: vi.fn(() => chart), CandlestickSeries: {}, AreaSeries: {}, ColorType: { Solid: 'solid' } };
});

const bars = [
  { time: 1700000000, open: 1.08, high: 1.09, low: 1.07, close: 1.085, volume: 10 },
  { time: 1700003600, open: 1.085, high: 1.1, low: 1.08, close: 1.0962, volume: 12 },
];

describe('Charts', () => {
  it('loads candles for the chosen symbol and timeframe and draws them', async () => {
    const log = backend({ candles: bars });
    const user = userEvent.setup();
    render(Charts);
    await vi.waitFor(() => expect(callsOf(log, 'candles')).toEqual([{ symbol: 'EURUSD', timeframe: 'H1', count: 200 }]));
    expect(await screen.findByText('1.0962')).toBeInTheDocument();
    expect(setData).toHaveBeenLastCalledWith(bars.map(({ volume: _v, ...b }) => b));
    await user.clear(screen.getByLabelText('Symbol'));
    await user.type(screen.getByLabelText('Symbol'), 'gbpusd');
    await user.selectOptions(screen.getByLabelText('Timeframe'), 'M15');
    await user.click(screen.getByRole('button', { name: 'Show' }));
    await vi.waitFor(() => expect(callsOf(log, 'candles').at(-1)).toEqual({ symbol: 'GBPUSD', timeframe: 'M15', count: 200 }));
  });

  it('shows the terminal error when candles cannot be read', async () => {
    backend({ candles: () => Promise.reject({ code: 'terminal_offline', message: 'The terminal is not connected.' }) });
    render(Charts);
    expect(await screen.findByText('The terminal is not connected.')).toBeInTheDocument();
  });
});
