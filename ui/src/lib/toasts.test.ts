import { afterEach, describe, expect, it, vi } from 'vitest';
import { toasts } from './stores.svelte';

describe('toasts', () => {
  afterEach(() => {
    vi.useRealTimers();
    toasts.items.forEach((t) => toasts.dismiss(t.id));
  });

  it('go away after their timeout', () => {
    vi.useFakeTimers();
    toasts.push('success', 'Saved.');
    toasts.push('info', 'Sticky until dismissed.', 0);
    expect(toasts.items.map((t) => t.text)).toEqual(['Saved.', 'Sticky until dismissed.']);
    vi.advanceTimersByTime(3999);
    expect(toasts.items).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(toasts.items.map((t) => t.text)).toEqual(['Sticky until dismissed.']);
  });

  it('keep only errors when the screen changes', () => {
    toasts.push('success', 'Created.', 0);
    toasts.push('info', 'Copied.', 0);
    toasts.push('error', 'Delete failed.', 0);
    toasts.clearOnNavigate();
    expect(toasts.items.map((t) => t.kind)).toEqual(['error']);
  });
});
