/**
 * The dashboard in a real browser (Debian's Chromium through playwright-core)
 * over a project with real runs: every page walked, a failing step, a
 * comparison, a live run followed through server-sent events, the registry,
 * an A/B experiment, a drift report; bad requests answered with coded 4xx
 * pages; a read-only dashboard that changes nothing; the token and the
 * actions flag.
 */
import { readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunResult } from '@cairn/runtime';
import { chromiumOptions } from '@cairn/testkit/ports';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startUi, type UiServer } from '../src/index';
import { heldPipeline, makeProject, type Project, SECRET_VALUE } from './fixture';

/** Debian's chromium; .ci/run installs it (scripts/servers/install.sh). */

let project: Project;
let ui: UiServer;
let browser: BrowserContext;
let profile: string;
const visited: string[] = [];

beforeAll(async () => {
  project = await makeProject();
  ui = await startUi({
    metadata: project.metadata,
    storage: project.storage,
    abtest: project.abtest,
    deployer: project.deployer,
    pipelines: project.pipelines,
    stateDir: join(project.dir, '.cairn'),
    port: 0,
    pollMs: 100,
    project: { name: 'fixture', env: 'local' },
  });
  profile = await mkdtemp(join(tmpdir(), 'cairn-ui-chromium-'));
  browser = await chromium.launchPersistentContext(profile, chromiumOptions({ width: 1280, height: 900 }));
  // No request may leave the dashboard's own origin.
  browser.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(ui.url) && !url.startsWith('data:') && url !== 'about:blank')
      visited.push(`EXTERNAL ${url}`);
  });
});

// Pages of one test are closed after it: dozens of open pages would slow the shared machine.
afterEach(async () => {
  for (const page of browser.pages()) await page.close();
});

afterAll(async () => {
  await browser?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
  await ui?.close();
  await project?.dispose();
});

/** Open a page, check it answered `status` and shows no secret. */
async function open(path: string, status = 200): Promise<Page> {
  const page = await browser.newPage();
  const response = await page.goto(`${ui.url}${path}`);
  expect(response?.status(), path).toBe(status);
  const html = await page.content();
  expect(html).not.toContain(SECRET_VALUE);
  visited.push(path);
  return page;
}

/** A raw request, so that `..` reaches the server as typed (fetch and browsers normalize it away). */
function raw(path: string, method = 'GET', body?: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(ui.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: hostname,
        port,
        path,
        method,
        headers: body ? { 'content-type': 'application/x-www-form-urlencoded' } : {},
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Every file under the project's state folder with its size and modification time. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      // SQLite's shared-memory index changes on reads; the database and its log do not.
      else if (!entry.name.endsWith('-shm')) {
        const s = statSync(path);
        out[path] = `${s.size}:${s.mtimeMs}`;
      }
    }
  };
  walk(dir);
  return out;
}

const nodeClass = (page: Page, step: string) =>
  page.locator(`svg.dag a.node[data-step="${step}"]`).getAttribute('class');

describe('a read-only dashboard over real runs', () => {
  let before: Record<string, string>;
  let counts: { runs: number; history: number; revisions: number; artifacts: number };
  const countAll = async () => ({
    runs: (await project.metadata.listRuns({ limit: 1000 })).length,
    history: (await project.metadata.modelHistory('penguins')).length,
    revisions: (await project.deployer.history('penguins')).length,
    artifacts: (await project.metadata.listArtifacts({ limit: 10_000 })).length,
  });
  beforeAll(async () => {
    before = snapshot(join(project.dir, '.cairn'));
    counts = await countAll();
  });

  it('lists runs newest first, filters them and pages through them', async () => {
    const page = await open('/runs');
    const ids = await page.locator('table.runs tbody tr td:nth-child(2) code').allTextContents();
    const all = await project.metadata.listRuns({ limit: 100 });
    expect(ids).toEqual(all.map((r) => r.id));

    const failed = await open('/runs?status=failed');
    expect(await failed.locator('table.runs tbody tr').count()).toBe(1);
    expect(await failed.locator('table.runs tbody tr code').first().textContent()).toBe(
      project.runs.failed.runId,
    );

    const tagged = await open('/runs?tag=trigger%3Dci');
    expect(await tagged.locator('table.runs tbody tr code').allTextContents()).toEqual([
      project.runs.second.runId,
    ]);

    // Pipeline filter typed into the form and submitted with the keyboard.
    const form = await open('/runs');
    await form.getByLabel('Pipeline').fill('monitoring');
    await form.getByLabel('Pipeline').press('Enter');
    await form.waitForURL(/pipeline=monitoring/);
    const pipelines = await form.locator('table.runs tbody tr td:nth-child(3)').allTextContents();
    expect(pipelines).toEqual(['monitoring', 'monitoring']);

    // Two per page: the "Older runs" link leads to the next two, none repeated.
    const first = await open('/runs?limit=2');
    const one = await first.locator('table.runs tbody tr td:nth-child(2) code').allTextContents();
    await first.getByRole('link', { name: 'Older runs' }).click();
    await first.waitForURL(/before=/);
    const two = await first.locator('table.runs tbody tr td:nth-child(2) code').allTextContents();
    expect(one).toHaveLength(2);
    expect(two).toHaveLength(2);
    expect([...one, ...two]).toEqual(all.slice(0, 4).map((r) => r.id));
  });

  it('draws a failed run: the failing step, the skipped one downstream, and the error', async () => {
    const { failed } = project.runs;
    const page = await open(`/runs/${failed.runId}`);
    expect(await page.locator('#run-status').textContent()).toBe('failed');
    expect(await nodeClass(page, 'ingest')).toContain('cached');
    expect(await nodeClass(page, 'train')).toContain('failed');
    expect(await nodeClass(page, 'evaluate')).toContain('skipped');
    // Three nodes, two edges: ingest → train → evaluate, from the pipeline's definition.
    expect(await page.locator('svg.dag .edges path').count()).toBe(2);
    expect(await page.locator('.run-error').textContent()).toContain('the learning rate diverged');

    // Keyboard: tab to the failed step's node and open it with Enter.
    const node = page.locator('svg.dag a.node[data-step="train"]');
    for (let i = 0; i < 40 && !(await node.evaluate((el) => el === document.activeElement)); i++)
      await page.keyboard.press('Tab');
    expect(await node.evaluate((el) => el === document.activeElement)).toBe(true);
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/steps\/train$/);
    expect(await page.locator('pre.error-text').textContent()).toContain('loss = NaN at iteration 3');
    expect(await page.locator('h1 .badge').textContent()).toBe('failed');
  });

  it('shows why each step ran, the config with secrets as references, and the embedded report', async () => {
    const { second } = project.runs;
    const page = await open(`/runs/${second.runId}`);
    const reasons = Object.fromEntries(
      await page
        .locator('table.steps tbody tr')
        .evaluateAll((rows) =>
          rows.map((r) => [r.getAttribute('data-step'), r.querySelectorAll('td')[2]!.textContent]),
        ),
    );
    // Run 2 changed only train.trees: ingest is reused, train ran for its config, evaluate for its input.
    expect(reasons).toEqual({ ingest: 'cached', train: 'config-changed', evaluate: 'input-changed' });
    const frame = page.frameLocator('iframe.report');
    await expect.poll(() => frame.locator('#trees').textContent()).toBe('Trees: 40');

    const step = await open(`/runs/${second.runId}/steps/ingest`);
    const config = await step.locator('pre.config').textContent();
    expect(JSON.parse(config!)).toEqual({ rows: 50, apiKey: '${env:UI_TEST_API_KEY}' });
    // ingest was reused in this run: its log is the one the first run kept, secret scrubbed (open() checks the value is absent).
    const lines = await step.locator('pre.log .log-line').allTextContents();
    expect(lines.map((l) => l.replace(/^\S+ /, ''))).toEqual([
      'info fetching 50 rows with key ${env:UI_TEST_API_KEY}',
      'warn 2 rows had no label',
    ]);
    expect(await step.locator('#logs + p.note a code').textContent()).toBe(project.runs.first.runId);
    const train = await open(`/runs/${project.runs.failed.runId}/steps/evaluate`);
    expect(await train.locator('#logs ~ p.empty').textContent()).toContain('did not run');
  });

  it('compares two runs picked on the runs page, showing only the keys that differ', async () => {
    const { first, second } = project.runs;
    const page = await open('/runs?pipeline=training&status=succeeded');
    await page.getByLabel(`Compare run ${first.runId}`).check();
    await page.getByLabel(`Compare run ${second.runId}`).check();
    await page.getByRole('button', { name: 'Compare selected' }).click();
    await page.waitForURL(/\/compare\?runs=/);
    const changed = await page
      .locator('tr.changed')
      .evaluateAll((rows) =>
        rows.map((r) => [...r.querySelectorAll('th, td')].map((c) => c.textContent?.trim())),
      );
    // Newest first on the runs page: the second run's column comes first.
    expect(changed).toEqual([['train.trees', '40', '10']]);
    const f1 = page.locator('tr', { has: page.locator('th', { hasText: /^evaluate\.macro_f1$/ }) });
    expect(await f1.locator('td').first().textContent()).toContain('0.7400');
  });

  it('charts a metric over runs with the chart library served locally', async () => {
    const page = await open('/metrics?pipeline=training&metric=evaluate.macro_f1');
    await expect.poll(() => page.locator('#metric-chart').getAttribute('data-points')).toBe('2');
    expect(await page.locator('#metric-chart canvas').count()).toBeGreaterThan(0);
  });

  it('previews artifacts and draws their lineage across steps', async () => {
    const { second } = project.runs;
    const scores = await open(`/artifacts/${second.steps.train!.outputs.scores!.digest}`);
    expect(await scores.locator('table.metrics').textContent()).toContain('accuracy');
    const model = await open(`/artifacts/${second.steps.train!.outputs.model!.digest}`);
    const labels = await model.locator('svg.dag a.node text.label').allTextContents();
    expect(labels).toEqual(expect.arrayContaining(['train', 'evaluate', 'ingest']));
    expect(await model.locator('pre.config').first().textContent()).toContain('"trees": 40');
  });

  it('shows the registry with who promoted what and why', async () => {
    const page = await open('/models/penguins');
    const rows = await page.locator('table').nth(1).locator('tbody tr').allTextContents();
    expect(rows[0]).toContain('gate: macro_f1 +0.03');
    expect(rows[0]).toContain('gate');
    expect(await page.locator('table').first().locator('tbody tr').first().textContent()).toContain(
      'production',
    );
    // Read-only: no form to change a stage.
    expect(await page.locator('form[action*="/stage"]').count()).toBe(0);
  });

  it('shows the experiment analysis, the drift report and the endpoints page', async () => {
    const experiment = await open('/experiments/penguins-canary');
    const analysis = await project.abtest.analyze('penguins-canary');
    expect(await experiment.locator('.decision').textContent()).toContain(analysis.decision.action);
    expect(await experiment.locator('.facts').textContent()).toContain(`v2 ${analysis.exposures.v2}`);
    // The sequential p-value over the fixture's looks, as the engine kept it: charted and listed.
    const history = await (
      project.abtest as typeof project.abtest & {
        sequentialHistory(name: string): Promise<Array<{ pValue: number; units: number }>>;
      }
    ).sequentialHistory('penguins-canary');
    expect(history.length).toBeGreaterThan(1);
    const chart = experiment.locator('#sequential-chart');
    await expect.poll(() => chart.getAttribute('data-points')).toBe(String(history.length));
    expect(await chart.locator('canvas').count()).toBeGreaterThan(0);
    const rows = await experiment
      .locator('table.sequential tbody tr')
      .evaluateAll((trs) => trs.map((tr) => tr.querySelectorAll('td')[3]!.textContent));
    expect(rows).toEqual(history.map((h) => String(h.units)).reverse());

    const drift = await open('/drift');
    expect(await drift.locator('table.drift tr.changed th').allTextContents()).toEqual(['bill_length_mm']);
    expect(await drift.locator('table').first().locator('tbody tr').count()).toBe(2);
    // Reference against current per column, drawn by the chart library: one chart per compared column.
    const charts = drift.locator('[data-chart="bars"]');
    expect(await charts.count()).toBe(2);
    await expect.poll(() => charts.first().getAttribute('data-bins')).toMatch(/^[1-9]\d*$/);
    expect(await charts.first().locator('canvas').count()).toBeGreaterThan(0);

    const endpoints = await open('/endpoints');
    const card = endpoints.locator('section.card', { hasText: 'penguins' });
    expect(await card.locator('h2 .badge').textContent()).toBe('healthy');
    const routes = await card
      .locator('table tbody tr')
      .evaluateAll((rows) =>
        rows.map((r) => [...r.querySelectorAll('td')].slice(0, 3).map((c) => c.textContent?.trim())),
      );
    expect(routes).toEqual([
      ['penguins v1', 'primary', '90 %'],
      ['penguins v2', 'canary', '10 %'],
    ]);
    // The 30 predictions the fixture made, as the serving deployer counted them.
    const requests = await card.locator('table tbody tr td:nth-child(5)').allTextContents();
    expect(requests.map(Number).reduce((a, b) => a + b, 0)).toBe(30);
    expect(await card.locator('ol.revisions li').count()).toBe(2);
  });

  it('answers bad input with a coded 4xx page', async () => {
    const unknown = await open('/runs/r_0000nosuchrun', 404);
    expect(await unknown.locator('h1 code').textContent()).toBe('CAIRN_METADATA_NOT_FOUND');
    const malformed = await open('/runs?limit=lots', 400);
    expect(await malformed.locator('h1 code').textContent()).toBe('CAIRN_USAGE');
    expect(await malformed.locator('.message').textContent()).toContain('limit');
    expect((await open('/runs?statsu=failed', 400)).url()).toContain('statsu');
    expect(await (await open('/compare?runs=r_only0001', 400)).locator('.message').textContent()).toContain(
      '2 to 10',
    );
    for (const path of ['/assets/../package.json', '/artifacts/%2e%2e/%2e%2e/etc/passwd', '/runs/..']) {
      const answer = await raw(path);
      expect(answer.status, path).toBe(400);
      expect(answer.body).toContain('CAIRN_ARTIFACT_KEY_INVALID');
    }
    const report = project.runs.second.steps.evaluate!.outputs.report!.digest;
    expect((await raw(`/artifacts/${report}/files/assets/..%2f..%2findex.html`)).status).toBe(400);
  });

  it('refuses actions and has changed nothing in the project', async () => {
    const promote = await raw('/models/penguins/versions/1/stage', 'POST', 'stage=production&reason=x');
    expect(promote.status).toBe(403);
    expect(promote.body).toContain('CAIRN_UI_READ_ONLY');
    expect((await raw('/endpoints/penguins/rollback', 'POST', 'reason=x')).status).toBe(403);
    expect((await raw('/experiments/penguins-canary/conclude', 'POST', 'winner=v2&reason=x')).status).toBe(
      403,
    );
    expect(visited.filter((v) => v.startsWith('EXTERNAL'))).toEqual([]);
    expect(await countAll()).toEqual(counts);
    expect(snapshot(join(project.dir, '.cairn'))).toEqual(before);
  });

  it('fits a phone-width screen: the page never scrolls sideways, wide tables scroll in place', async () => {
    const page = await open('/runs');
    await page.setViewportSize({ width: 390, height: 844 });
    const widths = await page.evaluate(() => ({
      page: document.documentElement.scrollWidth,
      view: window.innerWidth,
    }));
    expect(widths.page).toBeLessThanOrEqual(widths.view);
    expect(
      await page
        .locator('.table-wrap')
        .first()
        .evaluate((el) => el.scrollWidth > el.clientWidth),
    ).toBe(true);
  });
});

describe('a live run', () => {
  it('updates the graph through server-sent events while the run goes', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let runId: string | undefined;
    const live = heldPipeline(held);
    // The dashboard reads the project's pipeline definitions: it draws the steps not recorded yet.
    project.pipelines.set(live.name, live);
    const started = new Promise<void>((resolve) => {
      void project
        .run(
          live,
          {},
          {
            onEvent: (event) => {
              if (event.type === 'run.started') runId = event.runId;
              if (event.type === 'step.started' && event.step === 'held') resolve();
            },
          },
        )
        .then((r: RunResult) => r);
    });
    await started;
    const page = await open(`/runs/${runId}`);
    expect(await page.locator('#live').isVisible()).toBe(true);
    expect(await page.locator('#run-status').textContent()).toBe('running');
    expect(await nodeClass(page, 'first')).toContain('succeeded');
    expect(await nodeClass(page, 'held')).toContain('running');
    expect(await nodeClass(page, 'last')).toContain('waiting');
    release();
    // No reload: the page applies the events as they come.
    await expect
      .poll(() => page.locator('#run-status').textContent(), { timeout: 900_000 })
      .toBe('succeeded');
    expect(await nodeClass(page, 'held')).toContain('succeeded');
    expect(await nodeClass(page, 'last')).toContain('succeeded');
    expect(await page.locator('table.steps tr[data-step="last"] .badge').textContent()).toBe('succeeded');
  });
});

describe('a dashboard beyond loopback, and one with actions', () => {
  it('requires a token on any other host', async () => {
    await expect(
      startUi({ metadata: project.metadata, storage: project.storage, host: '127.0.0.2', port: 0 }),
    ).rejects.toMatchObject({ code: 'CAIRN_USAGE' });
    const token = 'a-long-token-for-the-test-0123456789';
    const guarded = await startUi({
      metadata: project.metadata,
      storage: project.storage,
      host: '127.0.0.2',
      port: 0,
      token,
    });
    try {
      const base = guarded.url.replace(/\/\?token=.*$/, '');
      const page = await browser.newPage();
      const refused = await page.goto(`${base}/runs`);
      expect(refused?.status()).toBe(401);
      expect(await page.locator('h1 code').textContent()).toBe('CAIRN_UI_UNAUTHORIZED');
      // The printed URL carries the token once; it becomes a cookie and leaves the address bar.
      const admitted = await page.goto(guarded.url);
      expect(admitted?.status()).toBe(200);
      expect(page.url()).not.toContain('token');
      expect((await page.goto(`${base}/runs`))?.status()).toBe(200);
      const bearer = await fetch(`${base}/runs`, { headers: { authorization: `Bearer ${token}` } });
      expect(bearer.status).toBe(200);
      const wrong = await fetch(`${base}/runs`, { headers: { authorization: `Bearer ${token}x` } });
      expect(wrong.status).toBe(401);
    } finally {
      await guarded.close();
    }
  });

  it('promotes and concludes through the forms when started with actions', async () => {
    const acting = await startUi({
      metadata: project.metadata,
      storage: project.storage,
      abtest: project.abtest,
      deployer: project.deployer,
      port: 0,
      actions: true,
      actor: 'ui-test',
    });
    try {
      const page = await browser.newPage();
      await page.goto(`${acting.url}/models/penguins`);
      const row = page.locator('table').first().locator('tbody tr', { hasText: 'v1' });
      await row.locator('select').selectOption('staging');
      await row.getByPlaceholder('why').fill('try v1 again in staging');
      await Promise.all([
        page.waitForResponse((r) => r.request().method() === 'POST'),
        row.getByRole('button', { name: 'Apply' }).click(),
      ]);
      const v1 = await project.metadata.getModelVersion('penguins', 1);
      expect(v1?.stage).toBe('staging');
      const last = (await project.metadata.modelHistory('penguins')).at(-1)!;
      expect(last).toMatchObject({
        version: 1,
        to: 'staging',
        actor: 'ui-test',
        reason: 'try v1 again in staging',
      });

      // A stale form (wrong key) changes nothing.
      const stale = await fetch(`${acting.url}/models/penguins/versions/2/stage`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'stage=archived&reason=x&formKey=stale',
      });
      expect(stale.status).toBe(400);
      expect((await project.metadata.getModelVersion('penguins', 2))?.stage).toBe('production');
      await page.goto(`${acting.url}/endpoints`);
      await page.getByLabel('Reason').fill('v2 raises the error rate');
      await Promise.all([
        page.waitForResponse((r) => r.request().method() === 'POST'),
        page.getByRole('button', { name: 'Roll back' }).click(),
      ]);
      const rolled = (await project.deployer.status('penguins'))!;
      expect(rolled).toMatchObject({ revision: 3, change: 'rollback', reason: 'v2 raises the error rate' });
      expect(rolled.routes.map((r) => [r.model.version, r.role])).toEqual([[1, 'primary']]);

      await page.goto(`${acting.url}/experiments/penguins-canary`);
      await page.getByLabel('Winner').selectOption('v2');
      await page.getByLabel('Reason').fill('ship the canary');
      await Promise.all([
        page.waitForResponse((r) => r.request().method() === 'POST'),
        page.getByRole('button', { name: 'Conclude' }).click(),
      ]);
      expect(await project.abtest.getExperiment('penguins-canary')).toMatchObject({
        status: 'concluded',
        winner: 'v2',
      });
    } finally {
      await acting.close();
    }
  });
});
