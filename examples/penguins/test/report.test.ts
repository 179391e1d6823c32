import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { formatNumber } from '@cairn/tabular';
import { chromiumOptions } from '@cairn/testkit/ports';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sandbox, sandbox } from './helpers';

/** Debian's chromium; CI installs it with `apt-get install -y chromium`. */

let box: Sandbox;
let browser: BrowserContext;
let profile: string;
beforeAll(async () => {
  box = await sandbox();
  profile = await mkdtemp(join(tmpdir(), 'cairn-chromium-'));
  // A persistent context is how Playwright takes a fresh --user-data-dir of our own.
  browser = await chromium.launchPersistentContext(profile, chromiumOptions({ width: 1100, height: 900 }));
});
afterAll(async () => {
  await browser?.close();
  await rm(profile, { recursive: true, force: true });
  await box.dispose();
});

describe('the evaluation report', () => {
  it('opens in a real browser and shows the confusion matrix and the metrics', async () => {
    const result = await box.run();
    expect(result.status).toBe('succeeded');
    const scores = await box.readJson<Record<string, number>>(result.steps.evaluate!.outputs.metrics!);
    const reportDir = await box.materialize(result.steps.evaluate!.outputs.report!, 'tree');

    const page = await browser.newPage();
    const failed: string[] = [];
    page.on('requestfailed', (request) => failed.push(request.url()));
    await page.goto(pathToFileURL(join(reportDir, 'index.html')).href);
    expect(await page.title()).toBe('Penguins classifier: evaluation');

    const matrix = page.locator('svg[aria-label="Confusion matrix"]');
    await expect.poll(() => matrix.isVisible()).toBe(true);
    const area = await matrix.boundingBox();
    expect(area!.width).toBeGreaterThan(200);
    expect(area!.height).toBeGreaterThan(200);
    // Nine cells whose counts add up to the 69 held-out penguins, and the diagonal holds most of them.
    const cells = await matrix.locator('rect > title').allTextContents();
    expect(cells).toHaveLength(9);
    const counts = cells.map((t) => {
      const [, actual, predicted, n] = /^actual (\w+), predicted (\w+): (\d+)$/.exec(t)!;
      return { actual, predicted, n: Number(n) };
    });
    expect(counts.reduce((a, c) => a + c.n, 0)).toBe(69);
    const correct = counts.filter((c) => c.actual === c.predicted).reduce((a, c) => a + c.n, 0);
    expect(correct / 69).toBeCloseTo(scores.accuracy!, 10);

    for (const [name, key] of [
      ['accuracy', 'accuracy'],
      ['macro-F1', 'macro_f1'],
      ['macro AUC (one-vs-rest)', 'macro_auc'],
    ] as const) {
      const row = page.locator('tr', {
        has: page.locator('td', { hasText: new RegExp(`^${escapeRegExp(name)}$`) }),
      });
      await expect.poll(() => row.isVisible()).toBe(true);
      expect(await row.locator('td.num').textContent()).toBe(formatNumber(scores[key]!));
    }
    for (const chart of ['ROC curves', 'Precision per species', 'Recall per species']) {
      expect(await page.locator(`svg[aria-label="${chart}"]`).isVisible()).toBe(true);
    }
    expect(failed).toEqual([]);

    const screenshot = join(box.dir, 'report.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    if (process.env.PENGUINS_SCREENSHOT) await copyFile(screenshot, process.env.PENGUINS_SCREENSHOT);
    await page.close();
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
