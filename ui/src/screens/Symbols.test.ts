import { describe, expect, it, vi } from 'vitest';
import { render, screen, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import Symbols from './Symbols.svelte';
import { backend, callsOf } from '../test/fixtures';
import type { SymbolRow } from '../lib/api';

const row = (canonical: string, over: Partial<SymbolRow> = {}): SymbolRow => ({
  canonical,
  broker_symbol: null,
  decided: null,
  override_symbol: null,
  ...over,
});

describe('Symbols', () => {
  it('shows each instrument with its broker symbol and how it was decided', async () => {
    backend({
      list_symbols: [
        row('EURUSD', { broker_symbol: 'EURUSD.pro', decided: 'affix' }),
        row('XAUUSD', { broker_symbol: 'GOLD', decided: 'alias' }),
        row('NAS100', { broker_symbol: 'USTEC', decided: 'override', override_symbol: 'USTEC' }),
        row('US30', { override_symbol: 'US30.cash' }),
      ],
    });
    render(Symbols);
    const table = await screen.findByRole('table', { name: 'Symbols' });
    const line = (c: string) => table.querySelector(`tr[data-symbol="${c}"]`) as HTMLElement;
    expect(within(line('EURUSD')).getByText('EURUSD.pro')).toBeInTheDocument();
    expect(within(line('EURUSD')).getByText('Broker suffix/prefix')).toBeInTheDocument();
    expect(within(line('XAUUSD')).getByText('Alias')).toBeInTheDocument();
    expect(within(line('NAS100')).getByText('Your override')).toBeInTheDocument();
    expect(within(line('US30')).getByText('Not traded yet')).toBeInTheDocument();
    expect(within(line('US30')).getByRole('button', { name: 'Clear override of US30' })).toBeInTheDocument();
    expect(within(line('XAUUSD')).queryByRole('button', { name: /Clear/ })).not.toBeInTheDocument();
  });

  it('shows an empty state before anything was resolved', async () => {
    backend({ list_symbols: [] });
    render(Symbols);
    expect(await screen.findByText('No symbols resolved yet')).toBeInTheDocument();
  });

  it('sets an override from a row and clears another', async () => {
    const log = backend({
      list_symbols: [row('XAUUSD', { broker_symbol: 'GOLD', decided: 'alias' }), row('US30', { override_symbol: 'US30.cash' })],
      set_symbol_override: ({ canonical, brokerSymbol }: Record<string, unknown>) => [
        row(String(canonical), { broker_symbol: 'GOLD', decided: 'alias', override_symbol: String(brokerSymbol) }),
        row('US30', { override_symbol: 'US30.cash' }),
      ],
      clear_symbol_override: () => [row('XAUUSD', { override_symbol: 'GOLD.pro' })],
    });
    const user = userEvent.setup();
    render(Symbols);
    const table = await screen.findByRole('table', { name: 'Symbols' });
    await user.click(within(table).getByRole('button', { name: 'Override XAUUSD' }));
    const form = screen.getByRole('form', { name: 'Set a symbol override' });
    expect(within(form).getByLabelText('Instrument')).toHaveValue('XAUUSD');
    const sym = within(form).getByLabelText('Broker symbol');
    expect(sym).toHaveValue('GOLD');
    await user.clear(sym);
    await user.type(sym, 'GOLD PRO');
    expect(within(form).getByRole('button', { name: 'Set override' })).toBeDisabled();
    await user.clear(sym);
    await user.type(sym, 'GOLD.pro');
    await user.click(within(form).getByRole('button', { name: 'Set override' }));
    await vi.waitFor(() => expect(callsOf(log, 'set_symbol_override')).toHaveLength(1));
    expect(callsOf(log, 'set_symbol_override')[0]).toEqual({ canonical: 'XAUUSD', brokerSymbol: 'GOLD.pro' });
    expect(await within(table).findByText('GOLD.pro')).toBeInTheDocument();

    await user.click(within(table).getByRole('button', { name: 'Clear override of US30' }));
    await vi.waitFor(() => expect(callsOf(log, 'clear_symbol_override')).toEqual([{ canonical: 'US30' }]));
    await vi.waitFor(() => expect(table.querySelector('tr[data-symbol="US30"]')).toBeNull());
  });
});
