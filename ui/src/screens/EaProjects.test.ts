import { describe, expect, it, vi } from 'vitest';
import { render, screen, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import EaProjects from './EaProjects.svelte';
import { backend, callsOf, job, project, version } from '../test/fixtures';

vi.mock('lightweight-charts', () => {
  const series = { setData: vi.fn() };
  const chart = { addSeries: vi.fn(() => series), timeScale: () => ({ fitContent: vi.fn() }), remove: vi.fn() };
  return { createChart: vi.fn(() => chart), CandlestickSeries: {}, AreaSeries: {}, ColorType: { Solid: 'solid' } };
});

describe('EA projects', () => {
  it('lists versions with status and switches the current version', async () => {
    const log = backend({
      list_ea_projects: [project('p1', { name: 'Grid EA' })],
      list_ea_versions: [version('v1', 1, { is_current: true }), version('v2', 2, { status: 'failed', compilation_error: "x.mq5(3,1) : error 109: 'foo' undeclared" })],
      set_current_version: project('p1', { name: 'Grid EA', current_version_id: 'v2' }),
    });
    const user = userEvent.setup();
    render(EaProjects);
    const table = await screen.findByRole('table', { name: 'Versions' });
    const v2 = table.querySelector('[data-version=v2]') as HTMLElement;
    expect(v2).toHaveTextContent('failed');
    expect(v2).toHaveTextContent("error 109: 'foo' undeclared");
    expect(within(v2).getByRole('button', { name: 'Deploy' })).toBeDisabled();
    await user.click(within(v2).getByRole('button', { name: 'Make current' }));
    await vi.waitFor(() => expect(table.querySelector('[data-version=v2]')).toHaveAttribute('data-current', 'true'));
    expect(table.querySelector('[data-version=v1]')).toHaveAttribute('data-current', 'false');
    expect(callsOf(log, 'set_current_version')).toEqual([{ projectId: 'p1', versionId: 'v2' }]);
  });

  it('shows the source of a version', async () => {
    backend({
      list_ea_projects: [project('p1')],
      list_ea_versions: [version('v1', 1, { is_current: true })],
      get_ea_version_source: { id: 'v1', ea_project_id: 'p1', version_number: 1, source_code: 'void OnTick() {}' },
    });
    const user = userEvent.setup();
    render(EaProjects);
    await user.click(await screen.findByRole('button', { name: 'Source' }));
    expect(await screen.findByTestId('ea-source')).toHaveTextContent('void OnTick() {}');
  });

  it('compiles a version and lists the compiler errors', async () => {
    const log = backend({
      list_ea_projects: [project('p1')],
      list_ea_versions: [version('v1', 1, { is_current: true, status: 'draft' })],
      queue_ea_job: { job_id: 'j1', job_type: 'compile', agent_id: 'a1' },
      get_job: job('j1', {
        job_type: 'compile',
        status: 'completed',
        output_data: {
          compiled: false,
          errors: [{ file: 'Grid.mq5', line: 12, column: 5, code: 256, message: "undeclared identifier 'lots'" }],
          warnings: [],
        },
      }),
    });
    const user = userEvent.setup();
    render(EaProjects);
    await user.click(await screen.findByRole('button', { name: 'Compile' }));
    const dialog = screen.getByRole('dialog', { name: 'Compile v1' });
    await user.click(within(dialog).getByRole('button', { name: 'Start' }));
    const result = await screen.findByTestId('ea-result');
    expect(result).toHaveTextContent('Compilation failed');
    const msgs = within(result).getByRole('table', { name: 'Compiler messages' });
    expect(msgs).toHaveTextContent('Grid.mq5(12,5)');
    expect(msgs).toHaveTextContent("undeclared identifier 'lots'");
    expect(callsOf(log, 'queue_ea_job')).toEqual([{ versionId: 'v1', jobType: 'compile', params: {} }]);
  });

  it('runs a backtest and shows its report', async () => {
    const log = backend({
      list_ea_projects: [project('p1')],
      list_ea_versions: [version('v1', 1, { is_current: true })],
      queue_ea_job: { job_id: 'j2', job_type: 'test', agent_id: 'a1' },
      get_job: job('j2', {
        job_type: 'test',
        output_data: {
          report: {
            net_profit: 1234.5, gross_profit: 2000, gross_loss: -765.5, profit_factor: 2.61, max_drawdown: 300,
            max_drawdown_pct: 3.2, total_trades: 48, win_rate_pct: 56, initial_deposit: 10000,
            equity_curve: [10000, 10100, 10050, 11234.5],
          },
        },
      }),
    });
    const user = userEvent.setup();
    render(EaProjects);
    await user.click(await screen.findByRole('button', { name: 'Backtest' }));
    const dialog = screen.getByRole('dialog', { name: 'Backtest v1' });
    await user.click(within(dialog).getByRole('button', { name: 'Start' }));
    const result = await screen.findByTestId('ea-result');
    expect(result).toHaveTextContent('1,234.50');
    expect(result).toHaveTextContent('2.61');
    expect(within(result).getByRole('img', { name: 'Backtest equity curve' })).toBeInTheDocument();
    expect(callsOf(log, 'queue_ea_job')[0]).toMatchObject({
      versionId: 'v1',
      jobType: 'test',
      params: { symbol: 'EURUSD', timeframe: 'H1', from: '2024-01-01', to: '2024-06-30' },
    });
  });

  it('shows an error state with retry when the server is unreachable', async () => {
    backend({ list_ea_projects: () => Promise.reject({ code: 'unreachable', message: 'Cannot reach http://127.0.0.1:8080.' }) });
    render(EaProjects);
    expect(await screen.findByText('You are offline')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Try again' })).toBeInTheDocument();
  });
});
