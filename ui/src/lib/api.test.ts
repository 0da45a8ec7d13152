import { describe, expect, it } from 'vitest';
import { api, ApiError, waitForJob } from './api';
import { backend, callsOf, job, pairedStatus } from '../test/fixtures';

describe('api', () => {
  it('sends the key and a trimmed server to `pair`, and an absent server as null', async () => {
    const log = backend({ pair: pairedStatus() });
    await api.pair('pk_abc', '  http://127.0.0.1:9000  ');
    await api.pair('pk_abc', '   ');
    expect(callsOf(log, 'pair')).toEqual([
      { key: 'pk_abc', server: 'http://127.0.0.1:9000' },
      { key: 'pk_abc', server: null },
    ]);
  });

  it('turns a `{code, message}` rejection into an ApiError with that code', async () => {
    backend({ status: () => Promise.reject({ code: 'unreachable', message: 'connection refused' }) });
    const err = await api.status().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe('unreachable');
    expect((err as ApiError).offline).toBe(true);
    expect((err as ApiError).message).toBe('connection refused');
  });

  it('wraps a plain string rejection as an internal error', async () => {
    backend({ account: () => Promise.reject('boom') });
    const err = (await api.account().catch((e: unknown) => e)) as ApiError;
    expect(err.code).toBe('internal');
    expect(err.offline).toBe(false);
  });

  it('uses camelCase argument names Tauri maps to snake_case parameters', async () => {
    const log = backend({ set_current_version: {}, queue_ea_job: {}, list_signals: { items: [], next_cursor: null } });
    await api.setCurrentVersion('p1', 'v2');
    await api.queueEaJob('v2', 'compile', {});
    await api.listSignals({ status: 'failed' });
    expect(callsOf(log, 'set_current_version')[0]).toEqual({ projectId: 'p1', versionId: 'v2' });
    expect(callsOf(log, 'queue_ea_job')[0]).toEqual({ versionId: 'v2', jobType: 'compile', params: {} });
    expect(callsOf(log, 'list_signals')[0]).toEqual({ filter: { status: 'failed' }, cursor: null });
  });

  it('waitForJob polls until the job is finished', async () => {
    const states = ['pending', 'running', 'completed'] as const;
    let i = 0;
    const log = backend({ get_job: () => job('j1', { status: states[Math.min(i++, 2)] }) });
    const done = await waitForJob('j1', { intervalMs: 1 });
    expect(done.status).toBe('completed');
    expect(callsOf(log, 'get_job')).toHaveLength(3);
  });
});
