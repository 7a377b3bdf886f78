import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { BrowserContextOptions, Page } from 'playwright-core';
import { Chrome, type WatchedPage } from '../helpers/browser.js';
import { eventually } from '../helpers/broker.js';
import { FakeDashboardServer, type FakeDashboardOptions } from '../helpers/dashboard-fake.js';
import { ROOT } from '../helpers/process.js';

/**
 * The dashboard page in Debian's chromium against the fake control server (the API contract of
 * test/helpers/dashboard-contract.ts, the strict CSP). Every test gets its own fake and browser context;
 * any console error or uncaught exception fails it. Screenshots go to $SCREENSHOTS_DIR (default: a temp
 * directory); `SCREENSHOTS_DIR=docs node test/run.js dashboard-ui` refreshes those of the docs.
 */

const TOKEN = 'test-login-token';
const SHOTS = resolve(ROOT, process.env.SCREENSHOTS_DIR ?? join(tmpdir(), 'rabbit-worker-dashboard'));
mkdirSync(SHOTS, { recursive: true });
const LAPTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

interface Opened {
  fake: FakeDashboardServer;
  watched: WatchedPage;
  page: Page;
}

describe('dashboard page, against the fake control server', () => {
  let chrome: Chrome;
  before(async () => {
    chrome = await Chrome.launch();
  });
  after(async () => {
    await chrome?.close();
  });

  /**
   * A fake (events every 300 ms, so that tests wait little) and a page signed in through /login, on
   * `hash`, live. Both are closed after the test, and the page must have logged no error.
   */
  async function open(t: TestContext, hash = '#/hosts', options: FakeDashboardOptions & { context?: BrowserContextOptions; signIn?: boolean } = {}): Promise<Opened> {
    const fake = await FakeDashboardServer.start({ token: TOKEN, eventIntervalMs: 300, ...options });
    const watched = await chrome.page(options.context ?? {});
    t.after(async () => {
      await watched.context.close();
      await fake.close();
    });
    const { page } = watched;
    page.setDefaultTimeout(10_000);
    if (options.signIn !== false) {
      await page.goto(`${fake.url}/login?token=${TOKEN}`);
      await page.goto(`${fake.url}/${hash}`);
      await page.locator('[data-testid="conn-status"][data-state="live"]').waitFor();
    } else await page.goto(`${fake.url}/${hash}`);
    return { fake, watched, page };
  }

  const clean = (o: Opened): void => o.watched.assertClean();
  const text = async (page: Page, selector: string): Promise<string> => ((await page.locator(selector).first().textContent()) ?? '').trim();
  const row = (page: Page, testid: string, attr: string, value: string) => page.locator(`[data-testid="${testid}"][data-${attr}="${value}"]`);
  /** Waits for a toast of `kind` whose text matches (an older toast of the same kind may still be shown). */
  const toastMatching = (page: Page, kind: 'success' | 'error' | 'info', pattern: RegExp): Promise<string> =>
    eventually(async () => (await page.locator(`[data-testid="toast"][data-kind="${kind}"]`).allTextContents()).find((x) => pattern.test(x)), 10_000, `a ${kind} toast matching ${pattern}`);
  const noHorizontalOverflow = async (page: Page): Promise<void> => {
    const [scrollWidth, innerWidth] = (await page.evaluate('[document.documentElement.scrollWidth, window.innerWidth]')) as [number, number];
    assert.ok(scrollWidth <= innerWidth, `the page is ${scrollWidth} px wide in a ${innerWidth} px viewport`);
  };

  it('shows every host with its processes: states colour-coded, the offline host greyed, exit reasons on hover', async (t) => {
    const o = await open(t, '#/hosts', { context: { viewport: LAPTOP, colorScheme: 'light' } });
    const { page } = o;
    const cards = page.getByTestId('host-card');
    await eventually(async () => (await cards.count()) === 2, 10_000, 'two host cards');
    assert.equal(await cards.nth(0).getAttribute('data-host-id'), 'h1', 'this host comes first');
    assert.equal(await text(page, '[data-host-id="h1"] [data-testid="host-name"]'), 'web-1');
    assert.equal(await text(page, '[data-host-id="h1"] [data-testid="host-status"]'), 'this host');
    assert.equal(await text(page, '[data-host-id="h1"] [data-testid="host-config"]'), '/srv/app/rabbit-worker.config.yaml');
    assert.match(await text(page, '[data-host-id="h2"] [data-testid="host-status"]'), /^offline since /);
    assert.match((await cards.nth(1).getAttribute('class')) ?? '', /host-offline/);
    assert.equal(await text(page, '[data-testid="host-count"]'), '2 hosts · 1 offline');
    await page.screenshot({ path: join(SHOTS, 'dashboard-fake.png') });

    const h1 = page.locator('[data-host-id="h1"]');
    const state = async (name: string): Promise<[string, string | null]> => {
      const badge = h1.locator(`[data-testid="process-row"][data-name="${name}"] [data-testid="process-state"]`);
      return [((await badge.textContent()) ?? '').trim(), await badge.getAttribute('data-tone')];
    };
    assert.deepEqual(await state('resize-image_01'), ['RUNNING', 'ok']);
    assert.deepEqual(await state('send-email_02'), ['BACKOFF', 'warn']);
    assert.deepEqual(await state('generate-report_01'), ['FATAL', 'bad']);
    assert.equal(await h1.getByTestId('process-row').count(), 5);
    const backoff = h1.locator('[data-testid="process-row"][data-name="send-email_02"]');
    assert.equal(await text(page, '[data-host-id="h1"] [data-name="send-email_02"] [data-testid="process-restarts"]'), '3');
    assert.ok((await backoff.locator('td').allTextContents()).includes('–'), 'unknown numbers show as –');

    // the last exit's description appears on hover, and on a tap (click) for touch screens
    await backoff.getByTestId('last-exit').hover();
    const tipBody = backoff.getByTestId('last-exit-tip');
    await tipBody.waitFor({ state: 'visible' });
    assert.match((await tipBody.textContent()) ?? '', /SMTP_URL is not set/);
    await page.mouse.move(0, 0);
    await tipBody.waitFor({ state: 'hidden' });
    // and from the keyboard: Enter opens it, Escape closes it
    await backoff.getByTestId('last-exit').focus();
    await page.keyboard.press('Enter');
    await tipBody.waitFor({ state: 'visible' });
    await page.keyboard.press('Escape');
    await tipBody.waitFor({ state: 'hidden' });
    await h1.locator('[data-name="generate-report_01"] [data-testid="fatal-reason"]').click();
    assert.match((await h1.locator('[data-name="generate-report_01"] [data-testid="fatal-reason-tip"]').textContent()) ?? '', /memoryLimitMb must be a positive integer/);
    assert.equal(await text(page, '[data-testid="tile-attention"] .tile-value'), '2');

    clean(o);
  });

  it('scales from the page: POST /api/scale {type, n}, and the next state event shows the new desired count', async (t) => {
    const o = await open(t);
    const { page, fake } = o;
    const h1 = page.locator('[data-host-id="h1"]');
    const resize = h1.locator('[data-testid="type-row"][data-type="resize-image"]');
    const email = h1.locator('[data-testid="type-row"][data-type="send-email"]');
    await resize.waitFor();
    assert.equal(await resize.getByTestId('type-desired').textContent(), '2');

    // a number being typed survives the state events that arrive meanwhile
    await email.getByTestId('scale-input').fill('5');
    const seen = fake.eventsSent;
    await eventually(() => fake.eventsSent >= seen + 3, 10_000, 'three more state events');
    assert.equal(await email.getByTestId('scale-input').inputValue(), '5');

    await resize.getByTestId('scale-input').fill('3');
    await resize.getByTestId('scale-button').click();
    const [request] = await eventually(() => (fake.requestsTo('POST', '/api/scale').length > 0 ? fake.requestsTo('POST', '/api/scale') : undefined), 10_000, 'the scale request');
    assert.deepEqual(request?.body, { type: 'resize-image', n: 3 });
    assert.equal(request?.contentType, 'application/json');
    await toastMatching(page, 'success', /resize-image: scaling to 3/);
    await eventually(async () => (await resize.getByTestId('type-desired').textContent()) === '3', 10_000, 'desired 3 in the table');
    // the new process appears, starting, then running
    const third = h1.locator('[data-testid="process-row"][data-name="resize-image_03"]');
    await third.waitFor();
    await eventually(async () => (await third.getAttribute('data-state')) === 'running', 10_000, 'resize-image_03 running');
    assert.equal(fake.requestsTo('POST', '/api/scale').length, 1);
    clean(o);
  });

  it('reloads the configuration and says what changed in a toast', async (t) => {
    const o = await open(t);
    const { page, fake } = o;
    await page.locator('[data-host-id="h1"] [data-testid="reload-button"]').click();
    await toastMatching(page, 'success', /Configuration reloaded: retried generate-report_01/);
    const requests = fake.requestsTo('POST', '/api/reload');
    assert.equal(requests.length, 1);
    assert.deepEqual(requests[0]?.body, {});
    await eventually(async () => (await page.locator('[data-host-id="h1"] [data-name="generate-report_01"]').getAttribute('data-state')) === 'running', 10_000, 'the fatal process restarted');
    assert.equal(await page.getByTestId('reload-button').count(), 2, 'one per host card');
    assert.equal(await page.locator('[data-host-id="h2"] [data-testid="reload-button"]').isVisible(), false, 'only this host can be reloaded');
    clean(o);
  });

  it('lists queues; selecting one draws its last hour (throughput and latency) as SVG, refreshed every 30 s', async (t) => {
    const o = await open(t, '#/queues');
    const { page, fake } = o;
    await eventually(async () => (await page.getByTestId('queue-row').count()) === 3, 10_000, 'three queues');
    const resize = row(page, 'queue-row', 'queue', 'resize-image');
    assert.equal(await resize.getByTestId('queue-ready').textContent(), '148');
    assert.equal(await row(page, 'queue-row', 'queue', 'generate-report').locator('td').nth(7).textContent(), '–', 'delayed unknown');
    assert.equal(await page.getByTestId('chart').isVisible(), false);

    await page.clock.install();
    await resize.getByTestId('queue-select').click();
    await page.waitForURL(/#\/queues\/resize-image$/);
    const throughput = page.locator('[data-testid="chart-throughput"] svg[data-points="360"]');
    await throughput.waitFor();
    assert.ok((await throughput.locator('path.area').count()) === 3, 'acked, retried and dead-lettered stacked');
    const p50 = (await page.getByTestId('chart-latency-p50Ms').getAttribute('d')) ?? '';
    assert.ok((p50.match(/L/g) ?? []).length > 300, `the p50 line has its points: ${p50.slice(0, 80)}…`);
    assert.ok((p50.match(/M/g) ?? []).length >= 2, 'the gap of unknown latencies breaks the line');
    assert.deepEqual(fake.requestsTo('GET', '/api/series').map((r) => r.query), [{ queue: 'resize-image' }]);

    await page.clock.runFor(31_000);
    await eventually(() => fake.requestsTo('GET', '/api/series').length === 2, 10_000, 'the 30 s refresh of the series');
    // away from the view, no more series requests
    await page.getByTestId('nav-hosts').click();
    await page.clock.runFor(65_000);
    assert.equal(fake.requestsTo('GET', '/api/series').length, 2);
    await page.getByTestId('nav-queues').click();
    await page.locator('[data-testid="queue-row"][data-queue="send-email"] [data-testid="queue-dead-link"]').click();
    await page.waitForURL(/#\/dead-letters\/send-email$/);
    await page.getByTestId('view-dead-letters').waitFor();
    await eventually(async () => (await page.getByTestId('dlq-queue-picker').inputValue()) === 'send-email', 10_000, 'send-email picked');
    clean(o);
  });

  it('searches dead letters (q sent to the server) and shows bodies: JSON pretty-printed, text as is, binary as base64', async (t) => {
    const o = await open(t, '#/dead-letters/resize-image');
    const { page, fake } = o;
    const rows = page.getByTestId('dlq-row');
    await eventually(async () => (await rows.count()) === 3, 10_000, 'three dead letters');
    await page.getByTestId('dlq-search').fill('heic');
    await page.getByTestId('dlq-search').press('Enter');
    await eventually(async () => (await rows.count()) === 1, 10_000, 'one match');
    assert.equal(await text(page, '[data-testid="dlq-message-id"]'), 'img-4711');
    const lists = fake.requestsTo('GET', '/api/dead-letters/resize-image');
    assert.deepEqual(lists.at(-1)?.query, { limit: '100', q: 'heic' });
    assert.match(await text(page, '[data-testid="dlq-summary"]'), /^1 match for “heic” in resize-image.dlq \(3 in all\)$/);

    await rows.first().getByTestId('dlq-view-body').click();
    const viewer = page.getByTestId('body-viewer');
    await viewer.waitFor();
    assert.equal(await viewer.getByTestId('body-kind').getAttribute('data-kind'), 'json');
    const pretty = JSON.stringify({ imageId: 4711, url: 's3://uploads/cat.heic', sizes: [64, 256, 1024] }, null, 2);
    assert.equal(await viewer.getByTestId('body-content').textContent(), pretty);
    await page.keyboard.press('Escape');
    await viewer.waitFor({ state: 'detached' });

    await page.getByTestId('dlq-search').fill('');
    await page.getByTestId('dlq-search').press('Enter');
    await eventually(async () => (await rows.count()) === 3, 10_000, 'all three again');
    await row(page, 'dlq-row', 'message-id', 'img-0088').getByTestId('dlq-view-body').click();
    assert.equal(await viewer.getByTestId('body-kind').getAttribute('data-kind'), 'text');
    assert.equal(await viewer.getByTestId('body-content').textContent(), 'thumbnail please: photo-88.png (plain text, not JSON)');
    await viewer.getByTestId('dialog-close').click();
    await row(page, 'dlq-row', 'message-id', 'img-bin-1').getByTestId('dlq-view-body').click();
    assert.equal(await viewer.getByTestId('body-kind').getAttribute('data-kind'), 'base64');
    assert.equal(await viewer.getByTestId('body-content').textContent(), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0xff, 0xfe]).toString('base64'));
    assert.match((await viewer.textContent()) ?? '', /14 bytes/);
    await page.keyboard.press('Escape');

    // text from the API is text: markup in a reason is shown, never run or rendered
    await page.getByTestId('dlq-queue-picker').selectOption('send-email');
    await eventually(async () => (await rows.count()) === 2, 10_000, 'the dead letters of send-email');
    assert.match(await text(page, '[data-testid="dlq-row"]:nth-child(2) [data-testid="dlq-reason"]'), /<img src=x onerror="alert\(1\)">/);
    assert.equal(await page.locator('[data-testid="dlq-table"] img').count(), 0);
    clean(o);
  });

  it('replays the selected dead letters by id, then refreshes the list', async (t) => {
    const o = await open(t, '#/dead-letters/resize-image');
    const { page, fake } = o;
    const rows = page.getByTestId('dlq-row');
    await eventually(async () => (await rows.count()) === 3, 10_000, 'three dead letters');
    assert.equal(await page.getByTestId('replay-selected').isDisabled(), true);
    await row(page, 'dlq-row', 'message-id', 'img-4711').getByTestId('dlq-select').check();
    await row(page, 'dlq-row', 'message-id', 'img-bin-1').getByTestId('dlq-select').check();
    assert.equal(await text(page, '[data-testid="replay-selected"]'), 'Replay selected (2)');
    const listsBefore = fake.requestsTo('GET', '/api/dead-letters/resize-image').length;
    await page.getByTestId('replay-selected').click();
    await toastMatching(page, 'success', /Replayed 2 to resize-image; 1 left/);
    const [replay] = fake.requestsTo('POST', '/api/dead-letters/resize-image/replay');
    assert.deepEqual(replay?.body, { ids: ['img-4711', 'img-bin-1'] });
    await eventually(async () => (await rows.count()) === 1, 10_000, 'the list refreshed');
    assert.ok(fake.requestsTo('GET', '/api/dead-letters/resize-image').length > listsBefore);
    assert.equal(await text(page, '[data-testid="dlq-message-id"]'), 'img-0088');

    // replay all asks first; cancelling sends nothing
    await page.getByTestId('replay-all').click();
    await page.getByTestId('confirm-cancel').click();
    await page.getByTestId('confirm-dialog').waitFor({ state: 'detached' });
    assert.equal(fake.requestsTo('POST', '/api/dead-letters/resize-image/replay').length, 1);
    await page.getByTestId('replay-all').click();
    await page.getByTestId('confirm-ok').click();
    await toastMatching(page, 'success', /Replayed 1 to resize-image; 0 left/);
    assert.deepEqual(fake.requestsTo('POST', '/api/dead-letters/resize-image/replay')[1]?.body, { all: true });
    await page.getByTestId('dlq-empty').waitFor();
    clean(o);
  });

  it('purges only after the queue name is typed into the dialog', async (t) => {
    const o = await open(t, '#/dead-letters/resize-image');
    const { page, fake } = o;
    await eventually(async () => (await page.getByTestId('dlq-row').count()) === 3, 10_000, 'three dead letters');
    await page.getByTestId('purge-button').click();
    const ok = page.getByTestId('confirm-ok');
    assert.equal(await ok.isDisabled(), true);
    await page.getByTestId('confirm-input').fill('resize');
    assert.equal(await ok.isDisabled(), true);
    await page.keyboard.press('Enter');
    assert.equal(fake.requestsTo('POST', '/api/dead-letters/resize-image/purge').length, 0, 'Enter on a wrong name sends nothing');
    await page.getByTestId('confirm-input').fill('resize-image');
    assert.equal(await ok.isDisabled(), false);
    await page.keyboard.press('Enter');
    await toastMatching(page, 'success', /Purged 3 messages from resize-image.dlq/);
    assert.deepEqual(fake.requestsTo('POST', '/api/dead-letters/resize-image/purge').map((r) => r.body), [{ confirm: 'resize-image' }]);
    await page.getByTestId('dlq-empty').waitFor();
    clean(o);
  });

  it('shows the sign-in screen on a 401, explaining how to get a login link', async (t) => {
    const o = await open(t, '#/hosts', { signIn: false });
    const { page } = o;
    o.watched.allow(/status of 401 \(Unauthorized\)/);
    const screen = page.getByTestId('signin-screen');
    await screen.waitFor();
    assert.match((await screen.textContent()) ?? '', /rabbit-worker dashboard/);
    assert.equal(await page.getByTestId('view-hosts').isVisible(), false);
    assert.equal(await page.getByTestId('conn-status').getAttribute('data-state'), 'signed-out');
    // once signed in elsewhere, "try again" opens the dashboard
    await page.goto(`${o.fake.url}/login?token=${TOKEN}`);
    await page.getByTestId('host-card').first().waitFor();
    clean(o);
  });

  it('read-only: a badge, no write controls; a 403 on a write says read-only in a toast', async (t) => {
    const o = await open(t, '#/hosts', { readOnly: true });
    const { page, fake } = o;
    await page.getByTestId('host-card').first().waitFor();
    assert.equal(await page.getByTestId('readonly-badge').isVisible(), true);
    assert.equal(await page.getByTestId('host-card').first().getByTestId('reload-button').isVisible(), false);
    assert.equal(await page.locator('[data-testid="scale-input"]:visible').count(), 0);
    await page.getByTestId('nav-dead-letters').click();
    await eventually(async () => (await page.getByTestId('dlq-row').count()) > 0, 10_000, 'dead letters listed');
    assert.equal(await page.getByTestId('dlq-write-actions').isVisible(), false);
    assert.equal(await page.locator('[data-testid="dlq-select"]:visible').count(), 0);
    assert.equal(await page.getByTestId('dlq-view-body').first().isVisible(), true, 'reading stays possible');

    // the state stops saying read-only, but the server still refuses
    o.watched.allow(/status of 403 \(Forbidden\)/);
    fake.readOnly = false;
    fake.denyWrites = true;
    await page.getByTestId('nav-hosts').click();
    const scale = page.locator('[data-host-id="h1"] [data-testid="type-row"][data-type="send-email"]');
    await scale.getByTestId('scale-input').waitFor({ state: 'visible' });
    await scale.getByTestId('scale-input').fill('1');
    await scale.getByTestId('scale-button').click();
    await toastMatching(page, 'error', /^Read-only/);
    clean(o);
  });

  it('says "reconnecting…" while the event stream is down, and goes live again', async (t) => {
    const o = await open(t);
    const { page, fake } = o;
    o.watched.allow(/\/api\/events/);
    const conn = page.getByTestId('conn-status');
    fake.setEventsDown(true);
    await eventually(async () => (await conn.getAttribute('data-state')) === 'reconnecting', 10_000, 'reconnecting');
    assert.equal(((await conn.textContent()) ?? '').trim(), 'reconnecting…');
    fake.setEventsDown(false);
    await eventually(async () => (await conn.getAttribute('data-state')) === 'live', 15_000, 'live again');
    assert.ok(fake.streams >= 1);
    clean(o);
  });

  it('fits a phone (390×844) without horizontal scrolling, in the dark theme', async (t) => {
    const o = await open(t, '#/hosts', { context: { viewport: PHONE, colorScheme: 'dark', isMobile: true, hasTouch: true } });
    const { page } = o;
    await page.getByTestId('host-card').first().waitFor();
    await noHorizontalOverflow(page);
    await page.screenshot({ path: join(SHOTS, 'dashboard-dark-phone.png') });
    await page.getByTestId('nav-queues').click();
    await page.locator('[data-testid="queue-row"][data-queue="resize-image"] [data-testid="queue-select"]').click();
    await page.locator('[data-testid="chart-throughput"] svg[data-points="360"]').waitFor();
    await noHorizontalOverflow(page);
    await page.getByTestId('nav-dead-letters').click();
    await eventually(async () => (await page.getByTestId('dlq-row').count()) > 0, 10_000, 'dead letters listed');
    await noHorizontalOverflow(page);
    await page.getByTestId('dlq-view-body').first().click();
    await page.getByTestId('body-viewer').waitFor();
    await noHorizontalOverflow(page);
    clean(o);
  });

  it('toggles the dark theme and remembers it', async (t) => {
    const o = await open(t, '#/hosts', { context: { colorScheme: 'light' } });
    const { page } = o;
    const background = async (): Promise<string> => (await page.evaluate('getComputedStyle(document.body).backgroundColor')) as string;
    const light = await background();
    const toggle = page.getByTestId('theme-toggle');
    assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
    await toggle.click();
    assert.equal(await page.getAttribute('html', 'data-theme'), 'dark');
    assert.equal(await toggle.getAttribute('aria-pressed'), 'true');
    const dark = await background();
    assert.notEqual(dark, light);
    await page.reload();
    await page.getByTestId('host-card').first().waitFor();
    assert.equal(await page.getAttribute('html', 'data-theme'), 'dark', 'remembered across a reload');
    assert.equal(await background(), dark);
    await page.getByTestId('theme-toggle').click();
    assert.equal(await background(), light);
    clean(o);
  });
});
