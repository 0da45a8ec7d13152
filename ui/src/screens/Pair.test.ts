import { describe, expect, it, vi } from 'vitest';
import { render, screen } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import Pair from './Pair.svelte';
import { backend, callsOf, pairedStatus } from '../test/fixtures';

const KEY = 'pk_' + 'A1b2C3d4'.repeat(5);

describe('Pair screen', () => {
  it('keeps Pair disabled until the key looks like a pairing key', async () => {
    backend({});
    const user = userEvent.setup();
    render(Pair, { onPaired: vi.fn() });
    const button = screen.getByRole('button', { name: 'Pair' });
    expect(button).toBeDisabled();
    await user.type(screen.getByLabelText('Pairing key'), 'abc');
    expect(screen.getByText(/start with “pk_”/)).toBeInTheDocument();
    expect(button).toBeDisabled();
    await user.clear(screen.getByLabelText('Pairing key'));
    await user.type(screen.getByLabelText('Pairing key'), KEY);
    expect(button).toBeEnabled();
  });

  it('pairs with the key and the advanced server URL, then forgets the key', async () => {
    const log = backend({ pair: pairedStatus() });
    const onPaired = vi.fn();
    const user = userEvent.setup();
    render(Pair, { onPaired });
    await user.type(screen.getByLabelText('Pairing key'), KEY);
    await user.click(screen.getByText('Advanced'));
    await user.type(screen.getByLabelText(/Server URL/), 'http://127.0.0.1:9999');
    await user.click(screen.getByRole('button', { name: 'Pair' }));
    await vi.waitFor(() => expect(onPaired).toHaveBeenCalledWith(pairedStatus()));
    expect(callsOf(log, 'pair')).toEqual([{ key: KEY, server: 'http://127.0.0.1:9999' }]);
    expect((screen.getByLabelText('Pairing key') as HTMLInputElement).value).toBe('');
  });

  it.each([
    ['bad_key', 'That key was not accepted'],
    ['unreachable', 'Cannot reach the server'],
    ['no_keychain', 'No system keychain available'],
  ])('explains a %s failure', async (code, title) => {
    backend({ pair: () => Promise.reject({ code, message: `detail for ${code}.` }) });
    const onPaired = vi.fn();
    const user = userEvent.setup();
    render(Pair, { onPaired });
    await user.type(screen.getByLabelText('Pairing key'), KEY);
    await user.click(screen.getByRole('button', { name: 'Pair' }));
    const alert = await screen.findByTestId('pair-error');
    expect(alert).toHaveTextContent(title);
    expect(onPaired).not.toHaveBeenCalled();
    if (code === 'unreachable') {
      // The server field is revealed so the user can fix the URL.
      expect(screen.getByLabelText(/Server URL/)).toBeVisible();
      expect(alert).toHaveTextContent('detail for unreachable.');
    }
    if (code === 'no_keychain') expect(alert).toHaveTextContent('detail for no_keychain.');
  });
});
