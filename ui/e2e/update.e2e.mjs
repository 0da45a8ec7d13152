// The installed desktop app (/usr/bin/companion from a .deb) updating itself, driven in
// its real webview (tauri-driver + WebKitWebDriver under Xvfb) by scripts/release-e2e,
// against the real server whose RELEASES_DIR holds release V_NEW as scripts/release wrote
// it — except that its .deb has one byte changed (the test puts the good bytes back).
//
// Env: APP (/usr/bin/companion), SERVER, AGENT_KEY, TOKEN (the user's JWT), V_OLD, V_NEW,
// PUBLISHED_DEB (the served .deb, tampered), GOOD_DEB (its signed bytes),
// COMPANION_RELEASE_E2E (the marker in our app processes' environment), SHOTS,
// WEBDRIVER_URL.

import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { Driver } from './webdriver.mjs';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`missing env ${k}`);
  return v;
};
const APP = env('APP');
const SERVER = env('SERVER');
const KEY = env('AGENT_KEY');
const TOKEN = env('TOKEN');
const V_OLD = env('V_OLD');
const V_NEW = env('V_NEW');
const PUBLISHED_DEB = env('PUBLISHED_DEB');
const GOOD_DEB = env('GOOD_DEB');
const MARKER = env('COMPANION_RELEASE_E2E');
const SHOTS = env('SHOTS');
mkdirSync(SHOTS, { recursive: true });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const results = [];
async function step(name, fn) {
  const t = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`  ok   ${name} (${Date.now() - t} ms)`);
  } catch (e) {
    results.push({ name, ok: false });
    console.log(`  FAIL ${name}: ${e.message ?? e}`);
    throw e;
  }
}
async function until(what, fn, timeoutMs = 30000) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

/** PIDs of processes running APP (or its deleted, replaced file) that carry our marker. */
function ourApps() {
  const found = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const exe = readlinkSync(`/proc/${p}/exe`);
      if (exe !== APP && exe !== `${APP} (deleted)`) continue;
      if (readFileSync(`/proc/${p}/environ`, 'latin1').split('\0').includes(`COMPANION_RELEASE_E2E=${MARKER}`)) found.push(Number(p));
    } catch {
      /* gone, or not ours to read */
    }
  }
  return found;
}
const installedVersion = () => execFileSync('dpkg-query', ['-W', '-f=${Version}', 'companion'], { encoding: 'utf8' }).trim();
async function agentVersion() {
  const res = await fetch(`${SERVER}/api/v1/agents`, { headers: { authorization: `Bearer ${TOKEN}` } });
  if (!res.ok) throw new Error(`GET /api/v1/agents answered ${res.status}`);
  const body = await res.json();
  const agents = Array.isArray(body) ? body : (body.agents ?? body.items ?? []);
  return agents.map((a) => a.app_version ?? null);
}

const d = new Driver();
let failed = false;
let firstPid = null;
try {
  await d.start(APP);

  await step(`the installed ${V_OLD} starts; paste the key → paired`, async () => {
    await d.waitFor('h1', { text: 'Connect this computer', timeoutMs: 60000 });
    const [pid] = await until('the app process', () => {
      const pids = ourApps();
      return pids.length === 1 ? pids : null;
    });
    firstPid = pid;
    await d.type(await d.find('#pair-key'), KEY);
    await d.click(await d.find('details summary'));
    const server = await d.find('input[name=server]');
    await d.clear(server);
    await d.type(server, SERVER);
    await d.clickButton('Pair');
    await d.waitFor('nav[aria-label=Main]', { timeoutMs: 30000 });
    await d.waitFor('[data-testid=server-state]', { text: 'Connected', timeoutMs: 30000 });
    await until(`the heartbeat reporting ${V_OLD}`, async () => (await agentVersion()).includes(V_OLD));
  });

  await step(`the app finds ${V_NEW} by itself; Settings shows it and its notes`, async () => {
    await d.waitFor('[data-testid=update-badge]', { timeoutMs: 30000 });
    await d.click(await d.find('[data-route=settings]'));
    await d.waitFor('h1', { text: 'Settings' });
    await d.waitFor('.card-head', { text: `Version ${V_OLD}` });
    await d.waitFor('[data-testid=update-available]', { text: `Version ${V_NEW} is available.` });
    await d.waitFor('[data-testid=update-available]', { text: `Companion ${V_NEW}: the release-e2e update.` });
    await sleep(300);
    await d.screenshot(`${SHOTS}/release-e2e-available.png`);
  });

  await step('a tampered .deb (one byte changed after signing) is refused; nothing installed', async () => {
    await d.clickButton('Install and restart');
    const alert = await d.waitFor('[data-testid=update-error]', { timeoutMs: 60000 });
    const msg = await d.text(alert);
    console.log(`       Settings says: ${msg}`);
    if (!/signature/i.test(msg)) throw new Error(`the error does not name the signature: “${msg}”`);
    if (installedVersion() !== V_OLD) throw new Error(`dpkg shows ${installedVersion()} after a refused update`);
    const pids = ourApps();
    if (pids.length !== 1 || pids[0] !== firstPid) throw new Error(`the app is not the same process (${pids} vs ${firstPid})`);
    if ((await d.findAll('[role=progressbar]')).length) throw new Error('a progress bar is still shown after the refusal');
    await d.waitFor('[data-testid=update-available]', { text: `Version ${V_NEW} is available.` });
    await d.exec('arguments[0].scrollIntoView({block: "center"})', [{ 'element-6066-11e4-a52e-4f735466cecf': alert }]);
    await sleep(300);
    await d.screenshot(`${SHOTS}/release-e2e-refused.png`);
  });

  await step(`the signed .deb back → Install and restart → ${V_NEW} installed, the app restarted`, async () => {
    copyFileSync(GOOD_DEB, PUBLISHED_DEB);
    await d.clickButton('Install and restart');
    // The bar stays up through the download, the signature check and dpkg (the app says
    // "finished" only once the package is installed), so it is seen before the restart.
    await d.waitFor('[role=progressbar][aria-label="Update download"]', { timeoutMs: 15000 });
    // Downloaded (the server sends Content-Length) while dpkg runs: a screenshot of that,
    // if the app is not already restarting.
    try {
      await d.waitFor('[role=progressbar][aria-valuenow="100"]', { timeoutMs: 10000 });
      await d.screenshot(`${SHOTS}/release-e2e-installing.png`);
    } catch {
      /* restarting already */
    }
    const newPid = await until(
      'a new /usr/bin/companion process',
      () => {
        const pids = ourApps();
        return !pids.includes(firstPid) && pids.length === 1 ? pids[0] : null;
      },
      180000,
    );
    console.log(`       app PID ${firstPid} → ${newPid}`);
    if (readlinkSync(`/proc/${newPid}/exe`) !== APP) throw new Error(`the new process does not run ${APP}`);
    const v = installedVersion();
    if (v !== V_NEW) throw new Error(`dpkg shows ${v}, expected ${V_NEW}`);
    await until(`the server's agent row reporting app_version ${V_NEW}`, async () => (await agentVersion()).includes(V_NEW), 60000);
    // Ours to end (the driver's session ended with the old process).
    process.kill(newPid, 'SIGTERM');
    await until('the restarted app to exit', () => !ourApps().includes(newPid), 15000).catch(() => process.kill(newPid, 'SIGKILL'));
  });
} catch {
  failed = true;
  try {
    await d.screenshot(`${SHOTS}/release-e2e-failure.png`);
  } catch {
    /* no session */
  }
} finally {
  await d.quit().catch(() => {});
}
const ok = results.filter((r) => r.ok).length;
console.log(`release-e2e: ${ok}/${results.length} steps passed${failed ? ' (stopped at the first failure)' : ''}`);
process.exit(failed ? 1 : 0);
