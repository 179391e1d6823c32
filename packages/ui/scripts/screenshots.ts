/**
 * `npm run screenshots -w @cairn/ui`: the README's pictures. Builds the test
 * project (real runs), starts the dashboard on it and photographs each page
 * with Debian's Chromium into docs/ui/ at the repository root.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromiumOptions } from '@cairn/testkit/ports';
import { chromium } from 'playwright-core';
import { startUi } from '../src/index';
import { makeProject } from '../test/fixture';

const OUT = resolve(fileURLToPath(new URL('../../../docs/ui', import.meta.url)));
await mkdir(OUT, { recursive: true });
const project = await makeProject();
const ui = await startUi({
  metadata: project.metadata,
  storage: project.storage,
  abtest: project.abtest,
  deployer: project.deployer,
  pipelines: project.pipelines,
  stateDir: join(project.dir, '.cairn'),
  port: 0,
  project: { name: 'penguins', env: 'local' },
});
const profile = await mkdtemp(join(tmpdir(), 'cairn-ui-shots-'));
const browser = await chromium.launchPersistentContext(
  profile,
  chromiumOptions({ width: 1280, height: 860 }),
);
const { first, second, failed } = project.runs;
const shots: Array<[string, string, number?]> = [
  ['runs', '/runs'],
  ['run', `/runs/${second.runId}`],
  ['run-failed', `/runs/${failed.runId}`],
  ['step', `/runs/${second.runId}/steps/ingest`],
  ['artifact', `/artifacts/${second.steps.train!.outputs.model!.digest}`],
  ['metrics', '/metrics?pipeline=training&metric=evaluate.macro_f1'],
  ['compare', `/compare?runs=${first.runId},${second.runId}`],
  ['model', '/models/penguins'],
  ['endpoints', '/endpoints'],
  ['experiment', '/experiments/penguins-canary'],
  ['drift', '/drift'],
  ['error', '/runs/r_0000unknown'],
  ['runs-phone', '/runs', 390],
];
try {
  for (const [name, path, width] of shots) {
    const page = await browser.newPage();
    if (width) await page.setViewportSize({ width, height: 844 });
    await page.goto(`${ui.url}${path}`, { waitUntil: 'load' });
    await page.screenshot({ path: join(OUT, `${name}.png`), fullPage: !width });
    await page.close();
    process.stdout.write(`docs/ui/${name}.png\n`);
  }
} finally {
  await browser.close();
  await rm(profile, { recursive: true, force: true });
  await ui.close();
  await project.dispose();
}
