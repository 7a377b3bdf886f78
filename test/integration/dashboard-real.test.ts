import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SupervisorStatus } from '../../src/supervisor/supervisor.js';
import { Chrome } from '../helpers/browser.js';
import { closeConnection, declareQueue, deleteQueues, depth, eventually, publish, uniqueQueue } from '../helpers/broker.js';
import { cli, fixture, ROOT, type Proc } from '../helpers/process.js';
import { controlGet, freePort, handledCounts, killEverything, startSupervisor, SupConfig } from '../helpers/sup-harness.js';

/**
 * The dashboard page in Debian's chromium against REAL supervisors on the real broker: one with two worker
 * types, a second one (another config, another port) on the same broker. Signed in with the link of
 * `rabbit-worker dashboard`. `SCREENSHOTS_DIR=docs node test/run.js dashboard-real` refreshes
 * docs/dashboard.png, the README's screenshot.
 */
const SHOTS = resolve(ROOT, process.env.SCREENSHOTS_DIR ?? join(tmpdir(), 'rabbit-worker-dashboard'));
mkdirSync(SHOTS, { recursive: true });

describe('dashboard page, against real supervisors', () => {
  const alpha = uniqueQueue('dash-alpha');
  const beta = uniqueQueue('dash-beta');
  const gamma = uniqueQueue('dash-gamma');
  const sups: Proc[] = [];
  const configs: SupConfig[] = [];
  let chrome: Chrome;

  before(async () => {
    chrome = await Chrome.launch();
  });
  after(async () => {
    await chrome?.close();
    for (const sup of sups) await killEverything(sup);
    configs.forEach((c) => c.remove());
    await deleteQueues(alpha, beta, gamma);
    await closeConnection();
  });

  it('shows both types, scales from the page, replays a dead letter found by search, and shows a second host', { timeout: 300_000 }, async (t) => {
    for (const q of [alpha, beta, gamma]) await declareQueue(q);
    const port = await freePort();
    const first = new SupConfig({
      workers: {
        alpha: { file: fixture('behave-worker.ts'), processes: 1, env: { QUEUE: alpha } },
        beta: { file: fixture('behave-worker.ts'), processes: 2, env: { QUEUE: beta } },
      },
      control: { port },
    });
    const second = new SupConfig({ workers: { gamma: { file: fixture('behave-worker.ts'), processes: 1, env: { QUEUE: gamma } } }, control: { port: await freePort() } });
    configs.push(first, second);
    const sup = startSupervisor(first);
    sups.push(sup, startSupervisor(second));
    await sup.waitFor((l) => l.msg === 'beta_02 running', 60_000, 'beta_02 running');

    // a message that fails until its fix is deployed: dead-lettered now
    const fix = join(first.dir, 'fix-deployed');
    await publish(alpha, { do: 'until-file', path: fix }, { messageId: 'order-4711' });
    await publish(alpha, { do: 'ack' }, { messageId: 'fine-1' });
    await eventually(async () => (await depth(`${alpha}.dlq`)) === 1, 30_000, 'one dead letter');

    const link = cli(['dashboard', first.path], first.env);
    assert.equal((await link.exit(30_000)).code, 0, link.stderr);
    const watched = await chrome.page({ viewport: { width: 1280, height: 860 }, colorScheme: 'light' });
    t.after(() => watched.context.close());
    const { page } = watched;
    page.setDefaultTimeout(20_000);
    await page.goto(link.stdout.trim());
    await page.locator('[data-testid="conn-status"][data-state="live"]').waitFor();

    // processes of both types, on this host
    const self = page.locator('[data-testid="host-card"]').first();
    for (const name of ['alpha_01', 'beta_01', 'beta_02']) await self.locator(`[data-testid="process-row"][data-name="${name}"][data-state="running"]`).waitFor();

    // the second supervisor appears as a second host (its heartbeats come through the broker)
    await eventually(async () => (await page.getByTestId('host-card').count()) === 2, 30_000, 'two hosts');
    await page.locator('[data-testid="host-card"] [data-testid="process-row"][data-name="gamma_01"]').waitFor();
    assert.match((await page.getByTestId('host-count').textContent()) ?? '', /^2 hosts/);
    // only this host can be scaled from its page
    assert.equal(await page.locator('[data-testid="host-card"]').nth(1).getByTestId('scale-button').isVisible(), false);
    assert.equal(await self.getByTestId('scale-button').first().isVisible(), true);

    // scale alpha to 2 from the page: the supervisor really runs two processes
    const alphaRow = self.locator('[data-testid="type-row"][data-type="alpha"]');
    await alphaRow.getByTestId('scale-input').fill('2');
    await alphaRow.getByTestId('scale-button').click();
    await eventually(async () => (await controlGet<SupervisorStatus>(port)).processes.filter((p) => p.type === 'alpha' && p.state === 'running').length === 2, 60_000, 'two alpha processes running');
    await self.locator('[data-testid="process-row"][data-name="alpha_02"][data-state="running"]').waitFor();
    await page.waitForTimeout(2500); // one more state event, for a screenshot with every number in
    await page.screenshot({ path: join(SHOTS, 'dashboard.png') });

    // the dead letter: found by a search on its body, replayed once the fix is there, then handled
    await page.goto(link.stdout.trim().replace(/\/login\?.*$/, `/#/dead-letters/${encodeURIComponent(alpha)}`));
    await page.getByTestId('dlq-search').fill('until-file');
    await page.getByTestId('dlq-search').press('Enter');
    const deadRow = page.locator('[data-testid="dlq-row"][data-message-id="order-4711"]');
    await deadRow.waitFor();
    assert.match((await deadRow.getByTestId('dlq-reason').textContent()) ?? '', /no file .* yet/);
    writeFileSync(fix, 'deployed');
    await deadRow.getByTestId('dlq-select').check();
    await page.getByTestId('replay-selected').click();
    await eventually(async () => (await page.locator('[data-testid="toast"][data-kind="success"]').allTextContents()).find((x) => /Replayed 1/.test(x)), 20_000, 'a replay toast');
    await eventually(() => (handledCounts(sup).get('order-4711') ?? 0) === 1, 60_000, 'the replayed message handled');
    assert.equal(await depth(`${alpha}.dlq`), 0);
    watched.assertClean();
  });
});
