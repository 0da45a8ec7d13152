import { describe, expect, it, vi } from 'vitest';
import { render, screen, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import Settings from './Settings.svelte';
import { app } from '../lib/stores.svelte';
import { backend, callsOf, emit, pairedStatus, terminal, unpairedStatus } from '../test/fixtures';
import type { Settings as S } from '../lib/api';

const settings: S = {
  server_url: 'http://127.0.0.1:8080',
  terminal_path: null,
  metaeditor_path: null,
  terminal_data_dir: null,
  autostart: false,
  notify_failed_signals: true,
};

describe('Settings', () => {
  it('explains how to allow 127.0.0.1 in MT5 when the bridge is not connected', async () => {
    app.set(pairedStatus({ terminal: terminal(), bridge_port: 47123 }));
    backend({ get_settings: settings });
    render(Settings, { onUnpaired: vi.fn() });
    const steps = screen.getByTestId('bridge-steps');
    expect(steps).toHaveTextContent('Tools › Options › Expert Advisors');
    expect(steps).toHaveTextContent('127.0.0.1');
    expect(steps).toHaveTextContent('47123');
  });

  it('hides the steps once the bridge is connected', async () => {
    app.set(pairedStatus());
    backend({ get_settings: settings });
    render(Settings, { onUnpaired: vi.fn() });
    expect(screen.queryByTestId('bridge-steps')).not.toBeInTheDocument();
  });

  it('saves terminal paths and the autostart option', async () => {
    app.set(pairedStatus());
    const log = backend({ get_settings: settings, save_settings: ({ settings: s }: Record<string, unknown>) => s });
    const user = userEvent.setup();
    render(Settings, { onUnpaired: vi.fn() });
    await user.type(await screen.findByLabelText(/terminal64.exe/), 'C:\\MT5\\terminal64.exe');
    await user.click(screen.getByLabelText(/Start Companion when I log in/));
    await user.click(screen.getByRole('button', { name: 'Save' }));
    await vi.waitFor(() => expect(callsOf(log, 'save_settings')).toHaveLength(1));
    expect(callsOf(log, 'save_settings')[0]).toEqual({
      settings: { ...settings, terminal_path: 'C:\\MT5\\terminal64.exe', autostart: true },
    });
  });

  it('shows an available update with notes and download progress', async () => {
    app.set(pairedStatus());
    const log = backend({
      get_settings: settings,
      check_update: { available: true, current_version: '0.1.0', version: '0.2.0', notes: 'Faster fills.' },
      install_update: null,
    });
    const user = userEvent.setup();
    render(Settings, { onUnpaired: vi.fn() });
    await user.click(screen.getByRole('button', { name: 'Check for updates' }));
    const card = await screen.findByTestId('update-available');
    expect(card).toHaveTextContent('Version 0.2.0 is available.');
    expect(card).toHaveTextContent('Faster fills.');
    await user.click(screen.getByRole('button', { name: 'Install and restart' }));
    await emit('update-progress', { downloaded: 512, total: 1024, finished: false });
    await vi.waitFor(() => expect(screen.getByRole('progressbar', { name: 'Update download' })).toHaveAttribute('aria-valuenow', '50'));
    expect(callsOf(log, 'install_update')).toHaveLength(1);
  });

  it('a refused update (bad signature) says why and leaves no progress on screen', async () => {
    app.set(pairedStatus());
    let refuse: (e: unknown) => void = () => {};
    backend({
      get_settings: settings,
      check_update: { available: true, current_version: '0.1.0', version: '0.2.0', notes: 'Faster fills.' },
      install_update: () => new Promise((_, reject) => (refuse = reject)),
    });
    const user = userEvent.setup();
    render(Settings, { onUnpaired: vi.fn() });
    await user.click(screen.getByRole('button', { name: 'Check for updates' }));
    await user.click(await screen.findByRole('button', { name: 'Install and restart' }));
    await emit('update-progress', { downloaded: 1024, total: 1024, finished: false });
    await vi.waitFor(() => expect(screen.getByRole('progressbar', { name: 'Update download' })).toHaveAttribute('aria-valuenow', '100'));
    refuse({ code: 'update', message: 'Update failed: the signature verification failed' });
    expect(await screen.findByTestId('update-error')).toHaveTextContent('signature verification failed');
    expect(screen.queryByRole('progressbar')).not.toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Install and restart' })).toBeEnabled();
    expect(screen.getByTestId('update-available')).toHaveTextContent('Version 0.2.0 is available.');
  });

  it('says when the app is up to date', async () => {
    app.set(pairedStatus());
    backend({ get_settings: settings, check_update: { available: false, current_version: '0.1.0' } });
    const user = userEvent.setup();
    render(Settings, { onUnpaired: vi.fn() });
    await user.click(screen.getByRole('button', { name: 'Check for updates' }));
    expect(await screen.findByTestId('up-to-date')).toBeInTheDocument();
  });

  it('shows the update the app found by itself, without a click', async () => {
    app.set(pairedStatus());
    const log = backend({
      get_settings: settings,
      last_update_check: { available: true, current_version: '0.1.0', version: '0.3.0', notes: 'Trailing stops.', pub_date: null },
    });
    render(Settings, { onUnpaired: vi.fn() });
    const card = await screen.findByTestId('update-available');
    expect(card).toHaveTextContent('Version 0.3.0 is available.');
    expect(card).toHaveTextContent('Trailing stops.');
    expect(callsOf(log, 'check_update')).toHaveLength(0);
  });

  it('shows an update announced while it is open', async () => {
    app.set(pairedStatus());
    backend({ get_settings: settings, last_update_check: null });
    const { startEventBridge } = await import('../lib/stores.svelte');
    const stop = await startEventBridge();
    render(Settings, { onUnpaired: vi.fn() });
    expect(screen.getByRole('button', { name: 'Check for updates' })).toBeInTheDocument();
    await emit('update-available', { available: true, current_version: '0.1.0', version: '0.4.0', notes: null, pub_date: null });
    expect(await screen.findByTestId('update-available')).toHaveTextContent('Version 0.4.0 is available.');
    stop();
  });

  it('unpairs after confirmation', async () => {
    app.set(pairedStatus());
    const log = backend({ get_settings: settings, unpair: unpairedStatus });
    const onUnpaired = vi.fn();
    const user = userEvent.setup();
    render(Settings, { onUnpaired });
    await user.click(screen.getByRole('button', { name: 'Unpair this computer' }));
    const dialog = screen.getByRole('dialog', { name: 'Unpair this computer?' });
    expect(callsOf(log, 'unpair')).toHaveLength(0);
    await user.click(within(dialog).getByRole('button', { name: 'Unpair' }));
    await vi.waitFor(() => expect(onUnpaired).toHaveBeenCalledWith(unpairedStatus));
  });

  it('shows and saves the trading day time zone, with the server\'s refusal', async () => {
    app.set(pairedStatus());
    const log = backend({
      get_settings: settings,
      trading_day: { broker_connection_id: 'c1', trading_day_tz: 'UTC', day_start: '2026-11-30T00:00:00Z', realised_pnl: 0,
        from_terminal: false, deals: 0, balance: null, daily_loss_limit_pct: 5, loss_limit: null },
      set_trading_day_tz: ({ tz }: Record<string, unknown>) =>
        tz === 'Mars/Olympus'
          ? Promise.reject({ code: 'invalid_request', message: '"Mars/Olympus" is not a time zone name PostgreSQL knows' })
          : { trading_day_tz: tz },
    });
    const user = userEvent.setup();
    render(Settings, { onUnpaired: vi.fn() });
    const form = await screen.findByRole('form', { name: 'Trading day time zone' });
    const input = within(form).getByLabelText('Time zone');
    await vi.waitFor(() => expect(input).toHaveValue('UTC'));
    await user.clear(input);
    await user.type(input, 'Mars/Olympus');
    await user.click(within(form).getByRole('button', { name: 'Save time zone' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('not a time zone name');
    await user.clear(input);
    await user.type(input, 'Europe/Berlin');
    await user.click(within(form).getByRole('button', { name: 'Save time zone' }));
    await vi.waitFor(() => expect(callsOf(log, 'set_trading_day_tz')).toHaveLength(2));
    expect(callsOf(log, 'set_trading_day_tz')[1]).toEqual({ tz: 'Europe/Berlin' });
    await vi.waitFor(() => expect(screen.queryByRole('alert')).not.toBeInTheDocument());
  });
});
