import { describe, expect, it } from 'vitest';
import { accountLine, connectionLabel, marginLabel } from './accounts';
import { accountStatus, connection, terminal } from '../test/fixtures';

describe('accounts', () => {
  it('labels a connection by its account once a terminal reported it', () => {
    expect(connectionLabel(connection)).toBe('Paper broker (0 agents)');
    expect(connectionLabel({ ...connection, login: '5001', server: 'Demo-1', paper: true })).toBe('5001 @ Demo-1 · paper');
    expect(connectionLabel({ ...connection, login: '7', server: 'Live-2', paper: false })).toBe('7 @ Live-2 · live');
  });

  it('names the margin mode and a terminal line', () => {
    expect(marginLabel('netting')).toBe('Netting');
    expect(marginLabel(null)).toBe('—');
    expect(accountLine(accountStatus('a'))).toBe('Not connected');
    expect(accountLine(accountStatus('a', { terminal: terminal({ connected: true, login: '1', server: 'S' }) }))).toBe('1 @ S');
  });
});
