import { describe, expect, it } from 'vitest';
import { render, screen, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import TerminalSetup from './TerminalSetup.svelte';
import { app } from '../lib/stores.svelte';
import { backend, callsOf, pairedStatus } from '../test/fixtures';
import type { Check, InstallationView, SetupReport } from '../lib/api';

const DATA = 'C:\\Users\\Trader Name\\AppData\\Roaming\\MetaQuotes\\Terminal\\D0E8';
const install: InstallationView = {
  data_dir: DATA,
  terminal_exe: 'C:\\Program Files\\MetaTrader 5\\terminal64.exe',
  metaeditor_exe: 'C:\\Program Files\\MetaTrader 5\\metaeditor64.exe',
  portable: false,
  wine_prefix: null,
  set_up: false,
  bridge_version: null,
};
const check = (id: Check['id'], status: Check['status'], fix: string | null = null): Check => ({
  id,
  status,
  detail: `${id} detail`,
  fix,
});
const report: SetupReport = {
  data_dir: DATA,
  source: `${DATA}\\MQL5\\Experts\\Companion\\CompanionBridge.mq5`,
  ex5: `${DATA}\\MQL5\\Experts\\Companion\\CompanionBridge.ex5`,
  set_file: `${DATA}\\MQL5\\Presets\\CompanionBridge.set`,
  startup_ini: `${DATA}\\Config\\companion_bridge.ini`,
  bridge_version: '1.10',
  warnings: 0,
  start_command: '"C:\\Program Files\\MetaTrader 5\\terminal64.exe" /config:"C:\\...\\companion_bridge.ini"',
};

describe('Terminal setup', () => {
  it('lists terminals, sets one up and shows the Doctor with each fix', async () => {
    app.set(pairedStatus());
    const log = backend({
      terminal_list: [install],
      terminal_setup: report,
      terminal_doctor: [
        check('terminal_found', 'ok'),
        check('ea_connected', 'fail', 'start the terminal with …'),
        check('token_matches', 'skipped'),
      ],
    });
    const user = userEvent.setup();
    render(TerminalSetup);
    const list = await screen.findByTestId('terminals');
    expect(list).toHaveTextContent(DATA);
    expect(list).toHaveTextContent('bridge EA not installed');
    const checks = await screen.findByTestId('checks');
    const failed = checks.querySelector('[data-check="ea_connected"]') as HTMLElement;
    expect(failed.dataset.status).toBe('fail');
    expect(within(failed).getByText(/Fix: start the terminal/)).toBeInTheDocument();

    await user.click(within(list).getByRole('button', { name: 'Set up' }));
    expect(await screen.findByTestId('setup-report')).toHaveTextContent('/config:');
    expect(callsOf(log, 'terminal_setup')).toEqual([{ dataDir: DATA }]);
    expect(callsOf(log, 'terminal_doctor').at(-1)).toEqual({ dataDir: DATA });
  });

  it('shows the compile log when setup fails', async () => {
    app.set(pairedStatus());
    backend({
      terminal_list: [install],
      terminal_setup: () => {
        throw { code: 'terminal_setup', message: 'the bridge EA did not compile (1 error(s)); MetaEditor\'s log:\nCompanionBridge.mq5(3,1) : error 256' };
      },
      terminal_doctor: [check('terminal_found', 'ok')],
    });
    const user = userEvent.setup();
    render(TerminalSetup);
    await user.click(await screen.findByRole('button', { name: 'Set up' }));
    expect(await screen.findByTestId('setup-error')).toHaveTextContent('error 256');
  });
});
