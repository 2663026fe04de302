// The operations console in headless Chromium against the real broker.
//
// Starts `pulsemq` (PULSEMQ_BIN, default target/debug/pulsemq, else
// target/release/pulsemq) on ephemeral ports in a temp dir, logs in with the
// bootstrap credentials from `.pulsemq_admin`, and walks every page the way an
// operator would. Screenshots of each page go to tests/browser/screenshots/.
//
// Needs: Debian `chromium` (/usr/bin/chromium or CHROMIUM), the npm package
// playwright-core (package.json), a built console (frontend/dist: `trunk build`)
// and the Python SDK in .venv (PULSEMQ_PYTHON) for test traffic.
// Run: cd tests/browser && node --test console.test.mjs (scripts/test.sh does).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, existsSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const SHOTS = join(HERE, 'screenshots');
const BIN = process.env.PULSEMQ_BIN
  || [join(ROOT, 'target/debug/pulsemq'), join(ROOT, 'target/release/pulsemq')].find(existsSync);
const PYTHON = process.env.PULSEMQ_PYTHON || join(ROOT, '.venv/bin/python');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const NS = 'ui_market';
const USER = 'ui_trader';
const TOPIC = 'ticks.sz000651';

let broker; // { child, dir, admin, pubPort, subPort, creds }
let browser; // persistent context
let page;
const children = [];

/** Starts the broker binary and reads its banner and credentials file. */
async function startBroker() {
  assert.ok(BIN && existsSync(BIN), `no broker binary: build it with cargo build -p pulsemq (looked for ${BIN})`);
  const dir = mkdtempSync(join(tmpdir(), 'pulsemq-ui-'));
  const config = join(dir, 'config.yaml');
  writeFileSync(config, [
    'server:', '  host: 127.0.0.1', '  pub_port: 0', '  sub_port: 0', '  admin_port: 0',
    'storage:', `  db_path: ${join(dir, 'pulsemq.db')}`,
    'logging:', `  dir: ${join(dir, 'logs')}`, '  level: info',
    // Drill-down samples every second and short alarm windows, so the
    // charts fill and an alarm clears within a test.
    'monitoring:', '  sample_interval_sec: 1', 'alarms:', '  window_sec: 4', '  auth_failures: 3', '',
  ].join('\n'));
  const child = spawn(BIN, ['--config', config], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const ports = await new Promise((resolve, reject) => {
    const found = {};
    const timer = setTimeout(() => reject(new Error(`broker printed no banner in 30 s; stderr: ${stderr}`)), 30000);
    child.on('exit', (code) => reject(new Error(`broker exited (${code}); stderr: ${stderr}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = line.match(/^\s*(Admin|Command|Delivery)\s*:\s*\S+:(\d+)/);
      if (m) found[m[1]] = Number(m[2]);
      if (found.Admin && found.Command && found.Delivery) {
        clearTimeout(timer);
        resolve(found);
      }
    });
  });
  const creds = Object.fromEntries(readFileSync(join(dir, '.pulsemq_admin'), 'utf8')
    .split('\n').filter(Boolean).map((l) => l.split(': ')));
  return { child, dir, admin: `http://127.0.0.1:${ports.Admin}`, pubPort: ports.Command, subPort: ports.Delivery, creds };
}

/** Runs tests/browser/traffic.py; resolves once it printed "ready". */
function traffic(mode, user, token, topic, seconds) {
  assert.ok(existsSync(PYTHON), `no Python with the SDK at ${PYTHON}: run scripts/setup.sh python`);
  const child = spawn(PYTHON, [join(HERE, 'traffic.py'), mode, '127.0.0.1', String(broker.pubPort),
    String(broker.subPort), user, token, NS, topic, String(seconds)], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${mode} traffic not ready: ${err}`)), 20000);
    child.on('exit', (code) => { if (code) reject(new Error(`${mode} traffic exited ${code}: ${err}`)); });
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line === 'ready') { clearTimeout(timer); resolve(child); }
    });
  });
}

async function shot(name) {
  await page.waitForTimeout(300); // let charts and toasts settle
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function nav(label) {
  await page.locator('.nav a', { hasText: label }).click();
}

async function login() {
  await page.goto(broker.admin + '/');
  await page.waitForURL('**/signin');
  await page.fill('#username', broker.creds.username);
  await page.fill('#password', broker.creds.password);
  await page.click('button[type=submit]');
  await page.waitForSelector('#card-msg-rate');
}

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  broker = await startBroker();
  const profile = mkdtempSync(join(tmpdir(), 'pulsemq-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 800 },
    locale: 'en-US',
  });
  await browser.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: broker.admin });
  page = browser.pages()[0] || await browser.newPage();
  page.setDefaultTimeout(10000);
  page.on('pageerror', (e) => console.error('page error:', e.message));
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 40[13]/.test(m.text())) console.error('console:', m.text().slice(0, 500)); });
});

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await browser?.close();
  if (broker) {
    broker.child.kill('SIGTERM');
    await new Promise((r) => { broker.child.once('exit', r); setTimeout(r, 5000); });
    rmSync(broker.dir, { recursive: true, force: true });
  }
});

test('console is served, with client-side routes falling back to index.html', async () => {
  for (const path of ['/', '/users', '/namespaces/1']) {
    const r = await fetch(broker.admin + path);
    assert.equal(r.status, 200, `${path}: ${r.status} (is frontend/dist built?)`);
    assert.match(await r.text(), /<script type="module"|\.wasm/);
  }
  const api = await fetch(broker.admin + '/api/nope');
  assert.equal(api.status, 404);
  assert.equal((await api.json()).error !== undefined, true);
});

test('login page, wrong password, then the bootstrap credentials', async () => {
  await page.goto(broker.admin + '/');
  await page.waitForURL('**/signin');
  await page.fill('#username', broker.creds.username);
  await page.fill('#password', 'definitely-wrong');
  await page.click('button[type=submit]');
  await page.waitForSelector('.notice.bad');
  assert.match(await page.textContent('.notice.bad'), /Invalid username or password/);
  await shot('01-login-error');
  await page.fill('#password', '');
  await shot('01-login');
  await page.fill('#password', broker.creds.password);
  await page.click('button[type=submit]');
  await page.waitForSelector('#card-msg-rate');
  // The SSE stream fills the cards.
  await page.waitForFunction(() => document.querySelector('.live.on') !== null, null, { timeout: 15000 });
  await shot('02-dashboard-idle');
});

test('create a namespace, with client-side validation', async () => {
  await nav('Namespaces');
  await page.waitForSelector('#create-namespace');
  await page.waitForSelector('.state.empty, #namespaces');
  await page.fill('#ns-name', 'system');
  assert.match(await page.textContent('#create-namespace .hint'), /reserved/);
  assert.equal(await page.isDisabled('#create-namespace button[type=submit]'), true);
  await page.fill('#ns-name', 'bad name!');
  assert.match(await page.textContent('#create-namespace .hint'), /letters, digits/);
  await shot('03-namespaces-validation');
  await page.fill('#ns-name', NS);
  await page.fill('#ns-desc', 'Level-1 market data for the console test');
  await page.click('#create-namespace button[type=submit]');
  await page.waitForSelector(`#namespaces tr[data-name="${NS}"]`);
  await shot('03-namespaces');
});

let userToken;

test('create a user: the token is shown once, with a copy button', async () => {
  await nav('Users');
  await page.waitForSelector('#users');
  await page.fill('#user-name', 'bad user');
  assert.match(await page.textContent('#create-user .hint'), /letters, digits/);
  await page.fill('#user-name', USER);
  await page.click('#create-user button[type=submit]');
  await page.waitForSelector('#new-token');
  userToken = (await page.textContent('#new-token')).trim();
  assert.match(userToken, /^[0-9a-f]{32}$/);
  await page.click('#copy-token');
  await page.waitForFunction(() => document.querySelector('#copy-token').textContent.includes('Copied'));
  const clip = await page.evaluate(() => navigator.clipboard.readText());
  assert.equal(clip, userToken);
  await shot('04-user-token');
  await page.click('#token-done');
  await page.waitForSelector(`#users tr[data-user="${USER}"]`);
  assert.equal(await page.locator('#new-token').count(), 0, 'the token is not shown again');
  await shot('04-users');
});

test('grant the user a role in the namespace, then change it', async () => {
  await nav('Namespaces');
  await page.click(`#namespaces tr[data-name="${NS}"] a >> nth=0`);
  await page.waitForSelector('#grant-form');
  await page.waitForFunction((u) => [...document.querySelectorAll('#grant-user option')].some((o) => o.textContent.startsWith(u)), USER);
  const value = await page.$eval('#grant-user', (s, u) => [...s.options].find((o) => o.textContent.startsWith(u)).value, USER);
  await page.selectOption('#grant-user', value);
  await page.selectOption('#grant-role', 'sub');
  await page.click('#grant-form button[type=submit]');
  const row = `#permissions tr[data-user="${USER}"]`;
  await page.waitForSelector(row);
  // One toast at a time, the newest replacing the last: wait for each by its
  // text, or the grant's toast may be read as the role change's.
  await page.waitForSelector(`.toast.ok:has-text("${USER} → sub")`);
  await page.selectOption(`${row} select.role`, 'pub');
  await page.waitForSelector(`.toast.ok:has-text("${USER} → pub")`);
  assert.match(await page.textContent('.toast.ok'), /^Role changed: .* → pub$/);
  await shot('05-namespace-permissions');
});

let subscriber;

test('the dashboard message rate rises while a publisher runs', async () => {
  subscriber = await traffic('sub', USER, userToken, 'ticks.>', 60);
  await traffic('pub', broker.creds.username, broker.creds.token, TOPIC, 40);
  await nav('Dashboard');
  await page.waitForSelector('#card-msg-rate');
  await page.waitForFunction(() => {
    const v = document.querySelector('#card-msg-rate .value')?.textContent ?? '';
    return parseFloat(v) > 20;
  }, null, { timeout: 20000 });
  // Let a few more points arrive so the charts show the rise.
  await page.waitForTimeout(4000);
  await page.waitForSelector(`#top-topics td:text("${TOPIC}")`, { timeout: 10000 });
  const path = await page.getAttribute('#chart-msg-rate path:nth-of-type(2)', 'd');
  assert.ok(path && path.split('L').length > 3, 'the msg/s chart has points');
  await shot('06-dashboard-live');
});

test('topics page shows rate, subscribers and last publish', async () => {
  await nav('Topics');
  await page.waitForSelector('#topics');
  await page.waitForSelector(`#topics td:has-text("${TOPIC}")`);
  await shot('07-topics');
});

test('publish a test message from the topics page, refused and accepted, audited', async () => {
  await nav('Topics');
  await page.waitForSelector('#publish-form');
  await page.fill('#publish-namespace', NS);
  await page.fill('#publish-topic', 'a..b');
  assert.equal(await page.isDisabled('#publish-form button[type=submit]'), true, 'a bad topic cannot be sent');
  await page.fill('#publish-topic', 'ticks.console');
  await page.selectOption('#publish-format', 'bytes');
  await page.fill('#publish-payload', 'zz');
  await page.click('#publish-form button[type=submit]');
  await page.waitForSelector('.toast.bad:has-text("hex")');
  await page.selectOption('#publish-format', 'json');
  await page.fill('#publish-payload', '{"close": 10.55}');
  await page.click('#publish-form button[type=submit]');
  await page.waitForSelector('.toast.ok:has-text("Published")');
  assert.match(await page.textContent('.toast.ok'), /ui_market:ticks\.console seq 1 \(16 B\)/);
  await page.waitForSelector('#topics td:has-text("ticks.console")', { timeout: 10000 });
  await shot('07-topics-publish');
  await page.click('#lang-toggle');
  await page.waitForSelector('section.panel h2:text("发布测试消息")');
  await shot('07-topics-publish-zh');
  await page.click('#lang-toggle');
  await page.waitForSelector('.nav a:text("Dashboard")');
  const audit = await page.evaluate(async () => (await fetch('/api/audit-logs?op_type=publish_test',
    { headers: { 'X-Requested-With': 'pulsemq-console' } })).json());
  const rows = audit.items ?? audit;
  assert.ok(rows.some((r) => r.target === 'ui_market:ticks.console'), JSON.stringify(audit));
});

/** Publishes one test message through the API with the console's own login. */
async function apiPublish(topic, format, payload) {
  const r = await page.evaluate(async ([ns, topic, format, payload]) => {
    const res = await fetch('/api/publish', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Requested-With': 'pulsemq-console' },
      body: JSON.stringify({ namespace: ns, topic, format, payload }),
    });
    return [res.status, await res.text()];
  }, [NS, topic, format, payload]);
  assert.equal(r[0], 201, r[1]);
}

test('the message browser shows messages live, decoded, with pause, resume and search', async () => {
  await nav('Browse');
  await page.waitForSelector('#browse-form');
  assert.match(await page.textContent('#browse-status'), /Pick a namespace/);
  await page.fill('#browse-namespace', NS);
  await page.fill('#browse-pattern', 'browse.>');
  await page.click('#browse-start');
  await page.waitForSelector('#browse-status:has-text("Watching")');
  await page.waitForSelector('.state.empty:has-text("Waiting for messages")');
  await apiPublish('browse.json', 'json', '{"close": 10.55, "volume": 1200}');
  await apiPublish('browse.bytes', 'bytes', 'de ad be ef');
  await apiPublish('other.topic', 'string', 'not matched');
  await page.waitForSelector('article.message[data-topic="browse.bytes"] pre.payload.hex:has-text("de ad be ef")');
  const json = await page.textContent('article.message[data-topic="browse.json"] pre.payload.json');
  assert.match(json, /"close": 10\.55/);
  assert.equal(await page.locator('article.message[data-topic="other.topic"]').count(), 0, 'only the pattern');
  await shot('12-browse');

  await page.click('#browse-pause');
  await apiPublish('browse.late', 'string', 'arrived while paused');
  await page.waitForSelector('#browse-held:has-text("1 held while paused")');
  assert.equal(await page.locator('article.message[data-topic="browse.late"]').count(), 0, 'paused: not shown yet');
  await page.click('#browse-pause');
  await page.waitForSelector('article.message[data-topic="browse.late"] pre.payload.text:has-text("arrived while paused")');

  await page.fill('#browse-filter', 'de ad');
  await page.waitForFunction(() => document.querySelectorAll('article.message').length === 1);
  await page.fill('#browse-filter', '');
  await page.click('#lang-toggle');
  await page.waitForSelector('#browse-status:has-text("正在查看")');
  await shot('12-browse-zh');
  await page.click('#lang-toggle');
  await page.waitForSelector('.nav a:text("Dashboard")');
  await page.click('#browse-stop');
});

/** Switches to Chinese, waits for `zhSelector`, shoots `name`-zh, switches back. */
async function shotBoth(name, zhSelector) {
  await shot(name);
  await page.click('#lang-toggle');
  await page.waitForSelector(zhSelector);
  await shot(`${name}-zh`);
  await page.click('#lang-toggle');
  await page.waitForSelector('.nav a:text("Dashboard")');
}

/** Waits until the chart `id` draws at least `n` points. */
async function chartPoints(id, n) {
  await page.waitForFunction(([id, n]) => {
    const d = document.querySelector(`#${id} path:nth-of-type(2)`)?.getAttribute('d') ?? '';
    return d.split('L').length >= n;
  }, [id, n], { timeout: 20000 });
}

test('topic drill-down: rate chart and its subscribers', async () => {
  await traffic('pub', broker.creds.username, broker.creds.token, TOPIC, 20);
  await nav('Topics');
  await page.click(`#topics a:text("${TOPIC}")`);
  await page.waitForURL(/\/topic\?namespace=ui_market&topic=ticks\.sz000651/);
  await page.waitForSelector('#topic-detail');
  await chartPoints('chart-topic-rate', 4);
  await page.waitForSelector(`#topic-subscribers tr:has-text("${USER}")`);
  assert.match(await page.textContent('#topic-subscribers'), /ticks\.>/, 'the matching pattern is shown');
  assert.ok(parseFloat(await page.textContent('#card-rate .value')) > 0, 'a live rate');
  await shotBoth('14-topic-detail', 'h2:text("订阅者")');
});

test('connection drill-down: the subscriber\'s rates, backlog and subscriptions', async () => {
  await page.click(`#topic-subscribers a:has-text("${USER}")`);
  await page.waitForURL(/\/connections\/[0-9a-f]+$/);
  await page.waitForSelector('#conn-detail');
  assert.equal((await page.textContent('#conn-state')).trim(), 'Connected');
  await chartPoints('chart-conn-msgs', 4);
  assert.match(await page.textContent('#conn-subscriptions'), /ui_market:ticks\.>/);
  for (const id of ['card-out', 'card-pending', 'card-drops', 'card-gaps', 'card-activity']) {
    assert.notEqual((await page.textContent(`#${id} .value`)).trim(), '', id);
  }
  await shotBoth('15-connection-detail', '#card-pending .label:text("待投递字节")');
  // From the connections list too.
  await nav('Connections');
  await page.click(`#connections tr[data-user="${USER}"] a`);
  await page.waitForSelector('#conn-detail');
});

test('alarms: an auth-failure burst is raised, badged, listed and cleared into the history', async () => {
  await nav('Alarms');
  await page.waitForSelector('#alarms-none');
  await page.waitForSelector('#alarm-thresholds td:text("alarms.auth_failures")');
  assert.match(await page.textContent('#alarm-thresholds'), /4 s/);
  await traffic('badauth', 'nobody', '-', '-', 3);
  await page.waitForSelector('#alarms-active .alarm[data-kind="auth_failures"]', { timeout: 15000 });
  assert.match(await page.textContent('#alarms-active'), /3 failed MQ AUTHs/);
  await page.waitForSelector('#alarm-count', { timeout: 10000 });
  await page.waitForSelector('#alarm-history tr[data-kind="auth_failures"] .badge:text("Active")');
  await shotBoth('16-alarms-active', 'h2:text("当前告警")');
  // A whole window (4 s) without failures: cleared, kept in the history.
  await page.waitForSelector('#alarms-none', { timeout: 20000 });
  await page.waitForSelector('#alarm-history tr[data-kind="auth_failures"]:not(:has(.badge))');
  await page.waitForSelector('#alarm-count', { state: 'detached', timeout: 10000 }); // no badge once cleared
  await shotBoth('16-alarms-history', 'h2:text("历史")');
});

test('kick the subscriber from the connections page', async () => {
  await nav('Connections');
  const row = `#connections tr[data-user="${USER}"]`;
  await page.waitForSelector(row, { timeout: 15000 });
  await shot('08-connections');
  await page.click(`${row} button.kick`);
  await page.waitForSelector('#confirm-yes');
  await shot('08-connections-confirm');
  await page.click('#confirm-yes');
  await page.waitForSelector('.toast.ok:has-text("Sessions closed")');
  assert.match(await page.textContent('.toast.ok'), /Sessions closed: [1-9]/);
});

test('the audit log has the kick, and filters work', async () => {
  await nav('Audit log');
  await page.waitForSelector('#audit');
  await page.selectOption('#audit-op', 'disconnect_user');
  await page.waitForSelector(`#audit tr[data-op="disconnect_user"]`);
  assert.match(await page.textContent('#audit tbody'), new RegExp(USER));
  await shot('09-audit-filtered');
  await page.click('#audit-filters button');
  await page.waitForSelector('#audit tr[data-op="grant"]');
  // One page holds everything so far: both pager buttons are disabled.
  assert.equal((await page.textContent('#audit-next')).trim(), 'Next');
  assert.equal(await page.isDisabled('#audit-next'), true);
  assert.equal(await page.isDisabled('#audit-prev'), true);
  await shot('09-audit');
  // Paging: 25 entries a page; make enough entries for a second page.
  await page.evaluate(async () => {
    for (let i = 0; i < 25; i++) {
      await fetch('/api/namespaces', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Requested-With': 'test' },
        body: JSON.stringify({ name: `bulk_${i}`, description: 'paging' }) });
    }
  });
  await page.selectOption('#audit-op', 'create_namespace');
  await page.waitForFunction(() => /^1–25 \/ 26$/.test(document.querySelector('#audit-range')?.textContent ?? ''));
  await page.click('#audit-next');
  await page.waitForFunction(() => /^26–26 \/ 26$/.test(document.querySelector('#audit-range')?.textContent ?? ''));
  assert.equal(await page.locator('#audit tbody tr').count(), 1);
  await page.click('#audit-prev');
  await page.waitForFunction(() => /^1–25 /.test(document.querySelector('#audit-range')?.textContent ?? ''));
});

test('change password form validates', async () => {
  await nav('Password');
  await page.fill('#pw-old', broker.creds.password);
  await page.fill('#pw-new', 'short');
  await page.fill('#pw-again', 'different');
  assert.match(await page.textContent('#password-form'), /8–72 characters/);
  assert.match(await page.textContent('#password-form'), /passwords differ/);
  assert.equal(await page.isDisabled('#password-form button[type=submit]'), true);
  await shot('10-password');
});

test('switch to Chinese; the choice survives a reload', async () => {
  await nav('Dashboard');
  await page.click('#lang-toggle');
  await page.waitForSelector('.nav a:text("仪表盘")');
  await page.reload();
  await page.waitForSelector('.nav a:text("仪表盘")');
  assert.equal(await page.evaluate(() => localStorage.getItem('pulsemq.lang')), 'zh');
  await shot('11-dashboard-zh');
  await page.locator('.nav a', { hasText: '用户' }).click();
  await page.waitForSelector('#users');
  await shot('11-users-zh');
  await page.click('#lang-toggle');
  await page.waitForSelector('.nav a:text("Dashboard")');
});

test('narrow screen', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await nav('Dashboard');
  await page.waitForSelector('#card-msg-rate');
  await shot('12-narrow-dashboard');
  await nav('Connections');
  await page.waitForSelector('#connections, .state.empty');
  await shot('12-narrow-connections');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `page is ${overflow}px wider than a 390px screen`);
  await page.setViewportSize({ width: 1280, height: 800 });
});

test('an expired session returns to the login page', async () => {
  await browser.clearCookies();
  await nav('Users');
  await page.waitForURL('**/signin', { timeout: 10000 });
  await page.waitForSelector('#username');
  await shot('13-session-expired');
});

test('logout', async () => {
  await login();
  await page.click('#logout');
  await page.waitForURL('**/signin');
  const me = await page.evaluate(async () => (await fetch('/api/me')).status);
  assert.equal(me, 401);
});
