// End-to-end test of the desktop app in its real webview (tauri-driver +
// WebKitWebDriver under Xvfb) against the real server and PostgreSQL, started by
// scripts/e2e-app. Saves a screenshot of each screen into SHOTS (target/screenshots;
// `make screenshots` refreshes docs/screenshots/).
//
// Env: APP (binary), SERVER, AGENT_KEY, TOKEN (the user's JWT), DATABASE_URL, EA_PROJECT_ID, EA_V1_ID,
// SHOTS (screenshot dir), WEBDRIVER_URL (tauri-driver), EXECUTOR=1 when an agent + paper terminal execute jobs.

import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { Driver } from './webdriver.mjs';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`missing env ${k}`);
  return v;
};
const APP = env('APP');
const SERVER = env('SERVER');
const KEY = env('AGENT_KEY');
const DB = env('DATABASE_URL');
const SHOTS = env('SHOTS');
const TOKEN = env('TOKEN');
const EXECUTOR = process.env.EXECUTOR === '1';
mkdirSync(SHOTS, { recursive: true });

const results = [];
async function step(name, fn) {
  const t = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`  ok   ${name} (${Date.now() - t} ms)`);
  } catch (e) {
    results.push({ name, ok: false, error: String(e) });
    console.log(`  FAIL ${name}: ${e.message ?? e}`);
    throw e;
  }
}
const sql = (q) => execFileSync('psql', [DB, '-qtAc', q], { encoding: 'utf8' }).trim();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** Polls a query until it returns `want` (a database condition, not a timing assertion). */
async function waitSql(q, want, timeoutMs = 30000) {
  const end = Date.now() + timeoutMs;
  let got = '';
  while ((got = sql(q)) !== want) {
    if (Date.now() > end) throw new Error(`timed out waiting for “${q}” to be ${want} (last: ${got})`);
    await sleep(300);
  }
}

/**
 * The default window (1200×780, tauri.conf.json) shows every screen without horizontal
 * scrolling: neither the page nor any scrolling box inside it is wider than its view.
 * Code and payload views (pre, textarea) may scroll: their lines are content.
 */
async function assertFits(screen) {
  const r = await d.exec(`
    const bad = [];
    const de = document.documentElement;
    if (de.scrollWidth > de.clientWidth + 1) bad.push('the page ' + de.scrollWidth + ' > ' + de.clientWidth);
    for (const el of document.querySelectorAll('body *')) {
      if (el.closest('pre, textarea')) continue;
      const ox = getComputedStyle(el).overflowX;
      if ((ox === 'auto' || ox === 'scroll') && el.scrollWidth > el.clientWidth + 1)
        bad.push((el.getAttribute('aria-label') || el.className || el.tagName) + ' ' + el.scrollWidth + ' > ' + el.clientWidth);
    }
    return { w: window.innerWidth, h: window.innerHeight, bad };
  `);
  if (r.w > 1200) throw new Error(`${screen}: the window is ${r.w} px wide, wider than the default 1200`);
  if (r.bad.length) throw new Error(`${screen} scrolls horizontally at ${r.w}×${r.h}: ${r.bad.join('; ')}`);
}

/** Waits until no toast containing `text` is shown (its timeout has passed). */
async function waitToastGone(text, timeoutMs = 10000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const shown = await d.exec('return [...document.querySelectorAll(".toast")].some((t) => t.textContent.includes(arguments[0]))', [text]);
    if (!shown) return;
    if (Date.now() > end) throw new Error(`the toast “${text}” is still shown after ${timeoutMs} ms`);
    await sleep(200);
  }
}

const d = new Driver();
let failed = false;
try {
  await d.start(APP);

  await step('app starts on the Pair screen', async () => {
    await d.waitFor('h1', { text: 'Connect this computer', timeoutMs: 60000 });
    await sleep(300);
    await d.screenshot(`${SHOTS}/pair.png`);
    await assertFits('pair');
  });

  await step('a wrong key is refused by the server with a clear message', async () => {
    const input = await d.find('#pair-key');
    await d.type(input, 'pk_' + 'Z'.repeat(40));
    await d.click(await d.find('details summary'));
    const server = await d.find('input[name=server]');
    await d.clear(server);
    await d.type(server, SERVER);
    await d.clickButton('Pair');
    await d.waitFor('[data-testid=pair-error]', { text: 'That key was not accepted' });
    await d.screenshot(`${SHOTS}/pair-error.png`);
    await assertFits('pair-error');
  });

  await step('paste a key → paired (dashboard, server connected)', async () => {
    const input = await d.find('#pair-key');
    await d.clear(input);
    await d.type(input, KEY);
    await d.clickButton('Pair');
    await d.waitFor('nav[aria-label=Main]');
    await d.waitFor('[data-testid=server-state]', { text: 'Connected' });
    await sleep(EXECUTOR ? 4000 : 1500);
    await d.screenshot(`${SHOTS}/dashboard.png`);
    await assertFits('dashboard');
  });

  let webhook = '';
  await step('create a strategy', async () => {
    await d.click(await d.find('[data-route=strategies]'));
    await d.waitFor('h1', { text: 'Strategies' });
    // The button is enabled once the list (or its empty state) has loaded.
    await d.waitFor('[data-state=empty], table[aria-label=Strategies]');
    await d.clickButton('New strategy');
    const form = 'form[aria-label="New strategy"]';
    await d.waitFor(form);
    await d.type(await d.find(`${form} input[name=name]`), 'E2E breakout');
    await d.type(await d.find('#pairs-input'), 'OANDA:EURUSD\uE007');
    // Ownership: the strategy's magic number and what an opposite entry does.
    await d.type(await d.find(`${form} input[name=magic]`), '424242');
    await d.exec(
      'const s = document.querySelector(arguments[0]); s.value = arguments[1]; s.dispatchEvent(new Event("change", { bubbles: true }));',
      [`${form} select[name=opposite-entry]`, 'hedge'],
    );
    await d.clickButton('Create strategy', form);
    const row = await d.waitFor('tr[data-strategy]', { text: 'E2E breakout' });
    webhook = await d.exec('return arguments[0].querySelector("input").value', [{ 'element-6066-11e4-a52e-4f735466cecf': row }]);
    if (!webhook.includes('/api/v1/webhooks/tv/')) throw new Error(`bad webhook URL ${webhook}`);
    const n = sql("select count(*) from tv_strategies where name = 'E2E breakout' and allowed_pairs = array['EURUSD'] and magic = 424242 and opposite_entry = 'hedge'");
    if (n !== '1') throw new Error(`strategy not in the database as created (count ${n})`);
    await d.screenshot(`${SHOTS}/strategies.png`);
    await assertFits('strategies');
    // The confirmation goes away by itself (4 s), not only when the screen changes.
    await waitToastGone('Created “E2E breakout”');
  });

  await step('post to the webhook → the signal appears live in the feed', async () => {
    await d.click(await d.find('[data-route=signals]'));
    await d.waitFor('h1', { text: 'Signals' });
    await sleep(800);
    const res = await fetch(webhook, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'buy', ticker: 'OANDA:EURUSD', volume: 0.1, id: `e2e-${Date.now()}` }),
    });
    if (!res.ok) throw new Error(`webhook answered ${res.status}`);
    const { signal_id } = await res.json();
    await d.waitFor(`tr[data-signal="${signal_id}"]`, { timeoutMs: 15000 });
    if (EXECUTOR) await d.waitFor(`tr[data-signal="${signal_id}"][data-status=executed]`, { timeoutMs: 30000 });
    // The order carries the strategy's magic.
    await waitSql(`select count(*) from jobs j join tv_signals s on s.job_id = j.id where s.id = '${signal_id}' and j.input_data->>'magic' = '424242'`, '1');
    await sleep(500);
    await d.screenshot(`${SHOTS}/signals.png`);
    await assertFits('signals');
    await d.jsClick(await d.find(`tr[data-signal="${signal_id}"] td`));
    await d.waitFor('[data-testid=raw-payload]', { text: 'OANDA:EURUSD' });
    await sleep(300);
    await d.screenshot(`${SHOTS}/signal-detail.png`);
    await assertFits('signal-detail');
    await d.clickButton('✕', 'dialog[open]');
  });

  await step('switch an EA version → current_version_id changed in the database', async () => {
    const project = env('EA_PROJECT_ID');
    const v1 = env('EA_V1_ID');
    await d.click(await d.find('[data-route=ea]'));
    await d.waitFor(`tr[data-version="${v1}"]`);
    if (sql(`select current_version_id from ea_projects where id = '${project}'`) === v1) throw new Error('v1 already current');
    await d.clickButton('Make current', `tr[data-version="${v1}"]`);
    await d.waitFor(`tr[data-version="${v1}"][data-current=true]`);
    const now = sql(`select current_version_id from ea_projects where id = '${project}'`);
    if (now !== v1) throw new Error(`current_version_id is ${now}, expected ${v1}`);
    await d.screenshot(`${SHOTS}/ea-projects.png`);
    await assertFits('ea-projects');
  });

  if (EXECUTOR) {
    await step('close a position from the dashboard', async () => {
      await d.click(await d.find('[data-route=dashboard]'));
      const btn = await d.waitFor('button[aria-label^="Close position"]', { timeoutMs: 30000 });
      const label = await d.attr(btn, 'aria-label');
      const ticket = label.replace('Close position ', '');
      await d.screenshot(`${SHOTS}/dashboard-positions.png`);
      await assertFits('dashboard-positions');
      await d.click(btn);
      await d.clickButton('Close position', 'dialog[open]');
      const end = Date.now() + 30000;
      while ((await d.findAll(`tr[data-ticket="${ticket}"]`)).length) {
        if (Date.now() > end) throw new Error(`position ${ticket} still listed`);
        await sleep(300);
      }
    });
  }

  if (EXECUTOR) {
    await step('pause → a queued job stays pending → resume → it completes', async () => {
      await d.click(await d.find('[data-route=dashboard]'));
      const agent = sql('select id from mt5_agents order by created_at limit 1');
      await d.clickButton('Pause', 'header.top');
      // "Paused" once the runtime has parked: a long-poll already in flight when Pause was
      // clicked may still bring one job (executed, never dropped), so queue after this.
      await d.waitFor('[data-testid=pause-state][data-state=paused]', { timeoutMs: 60000 });
      await waitSql(`select status from mt5_agents where id = '${agent}'`, 'paused');
      const job = sql(
        `insert into jobs (user_id, job_type, status, agent_id, input_data)
         select user_id, 'get_account', 'pending', id, '{}'::jsonb from mt5_agents where id = '${agent}' returning id`,
      );
      // A heartbeat after the job was queued: the agent is alive and connected, says it is
      // paused, and has not claimed the job its owner queued for it.
      await waitSql(
        `select count(*) from mt5_agents a, jobs j where a.id = '${agent}' and j.id = '${job}'
           and a.last_heartbeat > j.created_at and a.status = 'paused'`,
        '1',
      );
      const state = sql(`select status || ' ' || attempts from jobs where id = '${job}'`);
      if (state !== 'pending 0') throw new Error(`paused agent touched the job: ${state}`);
      await d.screenshot(`${SHOTS}/dashboard-paused.png`);
      await assertFits('dashboard-paused');
      await d.clickButton('Resume taking jobs', 'header.top');
      await waitSql(`select status from jobs where id = '${job}'`, 'completed');
      await waitSql(`select status from mt5_agents where id = '${agent}'`, 'online');
      await d.waitFor('header.top button', { text: 'Pause' });
    });
  }

  await step('charts and settings render', async () => {
    await d.click(await d.find('[data-route=charts]'));
    await d.waitFor('h1', { text: 'Charts' });
    await sleep(EXECUTOR ? 5000 : 1500);
    await d.screenshot(`${SHOTS}/charts.png`);
    await assertFits('charts');
    // The app checked for updates by itself (a second after start): Settings is marked
    // and shows the release's notes without a click on "Check for updates".
    await d.waitFor('[data-testid=update-badge]');
    await d.click(await d.find('[data-route=settings]'));
    await d.waitFor('h1', { text: 'Settings' });
    await d.waitFor('[data-testid=update-available]', { text: 'Version 9.9.9 is available.' });
    await d.waitFor('[data-testid=update-available]', { text: 'End-to-end release notes.' });
    await sleep(500);
    await d.screenshot(`${SHOTS}/settings.png`);
    await assertFits('settings');
  });

  await step('symbols (override stored with the connection) and terminal setup render', async () => {
    await d.click(await d.find('[data-route=symbols]'));
    await d.waitFor('h1', { text: 'Symbols' });
    // The EURUSD traded above is listed with the broker symbol it went to.
    await d.waitFor('tr[data-symbol=EURUSD]', { text: 'EURUSD' });
    await d.type(await d.find('input[aria-label=Instrument]'), 'XAUUSD');
    await d.type(await d.find('input[aria-label="Broker symbol"]'), 'GOLD.pro');
    await d.clickButton('Set override');
    await d.waitFor('tr[data-symbol=XAUUSD]', { text: 'GOLD.pro' });
    await waitSql("select count(*) from broker_symbol_overrides where canonical = 'XAUUSD' and broker_symbol = 'GOLD.pro'", '1');
    await sleep(300);
    await d.screenshot(`${SHOTS}/symbols.png`);
    await assertFits('symbols');
    await d.click(await d.find('[data-route=terminal]'));
    await d.waitFor('h1', { text: 'Terminal setup' });
    // No MT5 on this machine: the Doctor still checks what it can and says what to fix.
    await d.waitFor('[data-testid=checks] li[data-check]');
    await sleep(300);
    await d.screenshot(`${SHOTS}/terminal-setup.png`);
    await assertFits('terminal-setup');
  });

  // A companion://pair link delivered the way the OS does on Linux: a second start of the
  // binary with the URL; single-instance (deep-link feature) hands it to the running app.
  // The app asks before it pairs: Cancel keeps the old pairing, Confirm replaces it.
  let laptop = null;
  const openLink = (url) =>
    new Promise((resolve, reject) =>
      execFile(APP, [url], { timeout: 30000 }, (e, _out, err) =>
        e ? reject(new Error(`second instance: ${e.message} ${err}`)) : resolve(),
      ),
    );
  const linkUrl = () => `companion://pair?key=${encodeURIComponent(laptop.pairing_key)}&server=${encodeURIComponent(SERVER)}`;
  const oldAgent = sql("select id from mt5_agents where agent_name = 'E2E PC'");

  await step('a pairing link while paired → confirmation dialog → Cancel keeps the pairing', async () => {
    const res = await fetch(`${SERVER}/api/v1/agents/pair`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ agent_name: 'E2E laptop' }),
    });
    if (res.status !== 201) throw new Error(`pairing a second agent answered ${res.status}`);
    laptop = await res.json();
    await d.click(await d.find('[data-route=dashboard]'));
    await openLink(linkUrl());
    const host = new URL(SERVER).host;
    await d.waitFor('dialog[open] [data-testid=offer-host]', { text: host, timeoutMs: 30000 });
    await d.waitFor('dialog[open] [data-testid=offer-account]', { text: 'e2e@companion.local' });
    await d.waitFor('dialog[open] [data-testid=offer-account]', { text: 'E2E laptop' });
    await d.waitFor('dialog[open] [data-testid=offer-key]', { text: laptop.pairing_key.slice(0, 8) });
    await d.waitFor('dialog[open] [data-testid=offer-replaces]', { text: 'E2E PC' });
    const shown = await d.text(await d.find('dialog[open]'));
    if (shown.includes(laptop.pairing_key)) throw new Error('the dialog shows the whole key');
    await sleep(300);
    await d.screenshot(`${SHOTS}/pair-confirm.png`);
    await assertFits('pair-confirm');
    await d.clickButton('Cancel', 'dialog[open]');
    const end = Date.now() + 10000;
    while ((await d.findAll('dialog[open]')).length) {
      if (Date.now() > end) throw new Error('the dialog stayed open after Cancel');
      await sleep(200);
    }
    // Still the old agent: its heartbeats go on; the link's agent was never run.
    await d.waitFor('.who', { text: 'E2E PC' });
    const since = sql('select now()');
    await waitSql(`select count(*) from mt5_agents where id = '${oldAgent}' and last_heartbeat > '${since}'`, '1', 60000);
    const laptopBeat = sql(`select coalesce(last_heartbeat::text, 'never') from mt5_agents where id = '${laptop.agent_id}'`);
    if (laptopBeat !== 'never') throw new Error(`the link's agent ran before confirmation (heartbeat ${laptopBeat})`);
  });

  await step('a second link → Confirm → paired with the link’s key', async () => {
    await openLink(linkUrl());
    await d.waitFor('dialog[open] [data-testid=offer-account]', { text: 'E2E laptop', timeoutMs: 30000 });
    await d.clickButton('Confirm', 'dialog[open]');
    await d.waitFor('.who', { text: 'E2E laptop', timeoutMs: 30000 });
    await waitSql(`select count(*) from mt5_agents where id = '${laptop.agent_id}' and last_heartbeat is not null`, '1', 60000);
  });
} catch {
  failed = true;
  try {
    await d.screenshot(`${SHOTS}/../e2e-failure.png`);
  } catch {
    /* no session */
  }
} finally {
  await d.quit().catch(() => {});
}
const ok = results.filter((r) => r.ok).length;
console.log(`e2e: ${ok}/${results.length} steps passed${failed ? ' (stopped at the first failure)' : ''}`);
process.exit(failed ? 1 : 0);
