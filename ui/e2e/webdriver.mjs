// A minimal W3C WebDriver client (tauri-driver on 127.0.0.1:4444) — enough to
// drive the real app: find, click, type, read text, run a script, screenshot.

const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

export class Driver {
  constructor(base = process.env.WEBDRIVER_URL ?? 'http://127.0.0.1:4444') {
    this.base = base;
    this.session = null;
  }

  async cmd(method, path, body) {
    const url = `${this.base}${this.session ? `/session/${this.session}` : ''}${path}`;
    const res = await fetch(url, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json().catch(() => ({}));
    if (!res.ok) {
      const v = json.value ?? {};
      throw new Error(`${method} ${path}: ${v.error ?? res.status} ${v.message ?? ''}`);
    }
    return json.value;
  }

  async start(application, env = {}) {
    const value = await this.cmd('POST', '/session', {
      capabilities: { alwaysMatch: { 'tauri:options': { application, env } } },
    });
    this.session = value.sessionId;
    return this;
  }

  async quit() {
    if (!this.session) return;
    try {
      await this.cmd('DELETE', '');
    } finally {
      this.session = null;
    }
  }

  async find(css) {
    const v = await this.cmd('POST', '/element', { using: 'css selector', value: css });
    return v[ELEMENT];
  }

  async findAll(css) {
    const v = await this.cmd('POST', '/elements', { using: 'css selector', value: css });
    return v.map((e) => e[ELEMENT]);
  }

  /** Polls until `css` exists (and, if given, its text includes `text`). */
  async waitFor(css, { text, timeoutMs = 20000 } = {}) {
    const end = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      try {
        const ids = await this.findAll(css);
        for (const id of ids) {
          if (text === undefined) return id;
          last = await this.text(id);
          if (last.includes(text)) return id;
        }
      } catch {
        /* not yet */
      }
      if (Date.now() > end) throw new Error(`timed out waiting for ${css}${text ? ` with “${text}” (last: “${last}”)` : ''}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Clicks the first button whose text includes `label` (optionally inside `scope` css). */
  async clickButton(label, scope = '') {
    const ids = await this.findAll(`${scope} button`.trim());
    for (const id of ids) {
      if ((await this.text(id)).trim().includes(label)) {
        await this.click(id);
        return;
      }
    }
    throw new Error(`no button “${label}” in ${scope || 'page'}`);
  }

  click(id) {
    return this.cmd('POST', `/element/${id}/click`, {});
  }

  /** Clicks through the DOM (for rows WebKitWebDriver does not deem interactable). */
  jsClick(id) {
    return this.exec('arguments[0].click()', [{ [ELEMENT]: id }]);
  }

  type(id, text) {
    return this.cmd('POST', `/element/${id}/value`, { text });
  }

  clear(id) {
    return this.cmd('POST', `/element/${id}/clear`, {});
  }

  text(id) {
    return this.cmd('GET', `/element/${id}/text`);
  }

  attr(id, name) {
    return this.cmd('GET', `/element/${id}/attribute/${name}`);
  }

  exec(script, args = []) {
    return this.cmd('POST', '/execute/sync', { script, args });
  }

  async screenshot(file) {
    const { writeFile } = await import('node:fs/promises');
    const b64 = await this.cmd('GET', '/screenshot');
    await writeFile(file, Buffer.from(b64, 'base64'));
  }
}
