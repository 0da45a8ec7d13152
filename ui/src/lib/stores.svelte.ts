// App-wide reactive state: the agent status (pushed by `status-changed`), a small
// toast queue, and a fan-out of server events to the screens that want them.

import { api, onServerEvent, onStatus, onUpdateAvailable, type ServerEvent, type Status, type UpdateInfo } from './api';

export const EMPTY_STATUS: Status = {
  paired: false,
  agent_id: null,
  agent_name: null,
  server_url: null,
  server_connected: false,
  terminal: { connected: false, paper: false, login: null, server: null, company: null, margin_mode: null, account_kind: null },
  paused: false,
  pause_requested: false,
  last_error: null,
  version: '',
  bridge_port: null,
  accounts: [],
  seq: 0,
};

class AppState {
  status = $state<Status>(EMPTY_STATUS);
  loaded = $state(false);
  loadError = $state<string | null>(null);

  get offline(): boolean {
    return this.loaded && this.status.paired && !this.status.server_connected;
  }

  async refresh(): Promise<void> {
    try {
      this.set(await api.status());
      this.loadError = null;
    } catch (e) {
      this.loadError = e instanceof Error ? e.message : String(e);
    } finally {
      this.loaded = true;
    }
  }

  /** Back to the state before the first status (tests). */
  reset(): void {
    this.status = EMPTY_STATUS;
    this.loaded = false;
    this.loadError = null;
  }

  /** Takes a status unless it is older than the one shown (events and replies can cross). */
  set(s: Status): void {
    if (this.loaded && s.seq !== undefined && this.status.seq !== undefined && s.seq < this.status.seq) return;
    this.status = s;
    this.loaded = true;
  }
}

export const app = new AppState();

/** The last update check's result (the app checks by itself; Settings can too). */
class UpdateState {
  info = $state<UpdateInfo | null>(null);

  get available(): boolean {
    return this.info?.available === true;
  }

  set(info: UpdateInfo | null): void {
    this.info = info;
  }

  /** Reads the last result the app has (none before its first check). */
  async refresh(): Promise<void> {
    try {
      const info = await api.lastUpdateCheck();
      if (info) this.info = info;
    } catch {
      // No result to show; Settings can still check by hand.
    }
  }
}

export const updates = new UpdateState();

export interface Toast {
  id: number;
  kind: 'info' | 'success' | 'error';
  text: string;
}

class Toasts {
  items = $state<Toast[]>([]);
  private next = 1;
  push(kind: Toast['kind'], text: string, ms = 4000): void {
    const id = this.next++;
    this.items = [...this.items, { id, kind, text }];
    if (ms > 0) setTimeout(() => this.dismiss(id), ms);
  }
  dismiss(id: number): void {
    this.items = this.items.filter((t) => t.id !== id);
  }
  /** Leaving a screen: its confirmations go with it (errors stay until their timeout). */
  clearOnNavigate(): void {
    this.items = this.items.filter((t) => t.kind === 'error');
  }
}

export const toasts = new Toasts();

type Listener = (e: ServerEvent) => void;
const listeners = new Set<Listener>();

/** Subscribe to relayed server events; returns the unsubscribe function. */
export function subscribe(fn: Listener): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/**
 * Runs `fn` on a `resync` event (events were missed): screens refetch what they show.
 * Returns the unsubscribe function.
 */
export function onResync(fn: () => void): () => void {
  return subscribe((e) => {
    if (e.kind === 'resync') fn();
  });
}

/** Wires Tauri events into the stores once, at startup. */
export async function startEventBridge(): Promise<() => void> {
  const offStatus = await onStatus((s) => app.set(s));
  const offUpdate = await onUpdateAvailable((u) => updates.set(u));
  const offServer = await onServerEvent((e) => {
    // Missed events may include agent changes: the status is read again too.
    if (e.kind === 'resync') void app.refresh();
    for (const l of listeners) l(e);
  });
  return () => {
    offStatus();
    offServer();
    offUpdate();
  };
}
