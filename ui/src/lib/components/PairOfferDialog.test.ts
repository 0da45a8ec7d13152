import { describe, expect, it, vi } from 'vitest';
import { render, screen, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import PairOfferDialog from './PairOfferDialog.svelte';
import App from '../../App.svelte';
import type { PairOffer } from '../api';
import { backend, callsOf, emit, pairedStatus } from '../../test/fixtures';

const offer = (over: Partial<PairOffer> = {}): PairOffer => ({
  offer_id: '00000000-0000-0000-0000-0000000000aa',
  server_url: 'https://companion.example.com',
  server_host: 'companion.example.com',
  email: 'trader@example.com',
  agent_name: 'Laptop',
  key_prefix: 'pk_AbCdE',
  replaces: null,
  ...over,
});

describe('Pair-from-a-link confirmation', () => {
  it('shows the server, the account and the key prefix, and confirms in Rust', async () => {
    const paired = pairedStatus({ agent_name: 'Laptop' });
    const log = backend({ pending_link_pairing: null, confirm_link_pairing: paired });
    const onPaired = vi.fn();
    const user = userEvent.setup();
    render(PairOfferDialog, { onPaired });
    await vi.waitFor(() => expect(callsOf(log, 'pending_link_pairing')).toHaveLength(1));
    expect(screen.queryByTestId('pair-offer')).not.toBeInTheDocument();

    await emit('pair-offer', offer());
    const dialog = await screen.findByRole('dialog', { name: 'Pair from a link?' });
    expect(within(dialog).getByTestId('offer-host')).toHaveTextContent('companion.example.com');
    expect(within(dialog).getByTestId('offer-account')).toHaveTextContent('trader@example.com');
    expect(within(dialog).getByTestId('offer-account')).toHaveTextContent('Laptop');
    expect(within(dialog).getByTestId('offer-key')).toHaveTextContent('pk_AbCdE…');
    expect(within(dialog).queryByTestId('offer-replaces')).not.toBeInTheDocument();

    await user.click(within(dialog).getByRole('button', { name: 'Confirm' }));
    await vi.waitFor(() => expect(onPaired).toHaveBeenCalledWith(paired));
    // Only the offer id crosses the boundary; the webview never had the key.
    expect(callsOf(log, 'confirm_link_pairing')).toEqual([{ offerId: offer().offer_id }]);
    expect(callsOf(log, 'dismiss_link_pairing')).toEqual([]);
    await vi.waitFor(() => expect(screen.queryByTestId('pair-offer')).not.toBeInTheDocument());
  });

  it('says what it replaces, and Cancel dismisses without pairing', async () => {
    const log = backend({ pending_link_pairing: null, dismiss_link_pairing: null });
    const onPaired = vi.fn();
    const user = userEvent.setup();
    render(PairOfferDialog, { onPaired });
    await emit(
      'pair-offer',
      offer({ replaces: { server_url: 'https://old.example.com', agent_name: 'Desk PC' } }),
    );
    const replaces = await screen.findByTestId('offer-replaces');
    expect(replaces).toHaveTextContent('This replaces the current pairing with https://old.example.com (Desk PC)');
    await user.click(screen.getByRole('button', { name: 'Cancel' }));
    await vi.waitFor(() => expect(callsOf(log, 'dismiss_link_pairing')).toEqual([{ offerId: offer().offer_id }]));
    expect(callsOf(log, 'confirm_link_pairing')).toEqual([]);
    expect(onPaired).not.toHaveBeenCalled();
    expect(screen.queryByTestId('pair-offer')).not.toBeInTheDocument();
  });

  it('shows an offer that was waiting before the webview listened', async () => {
    backend({ pending_link_pairing: offer({ server_host: 'waiting.example.com' }) });
    render(PairOfferDialog, { onPaired: vi.fn() });
    expect(await screen.findByTestId('offer-host')).toHaveTextContent('waiting.example.com');
  });

  it('keeps the dialog open with the error when confirming fails', async () => {
    backend({
      pending_link_pairing: null,
      confirm_link_pairing: () => {
        throw { code: 'bad_key', message: 'unknown pairing key' };
      },
    });
    const onPaired = vi.fn();
    const user = userEvent.setup();
    render(PairOfferDialog, { onPaired });
    await emit('pair-offer', offer());
    await user.click(await screen.findByRole('button', { name: 'Confirm' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('unknown pairing key');
    expect(onPaired).not.toHaveBeenCalled();
  });

  it('shows a refused link (pair-failed) in the app', async () => {
    backend({ status: pairedStatus(), pending_link_pairing: null, account: null, positions: [], recent_jobs: [] });
    render(App);
    await screen.findByRole('navigation', { name: 'Main' });
    await emit('pair-failed', { code: 'invalid_request', message: 'Plain http is allowed to this computer only.' });
    expect(await screen.findByText(/Pairing link refused: Plain http is allowed/)).toBeInTheDocument();
  });
});
