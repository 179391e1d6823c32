import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cairn } from './helpers';

const penguins = resolve(
  fileURLToPath(new URL('.', import.meta.url)),
  '..',
  '..',
  '..',
  'examples',
  'penguins',
);

describe('cairn doctor on examples/penguins', () => {
  it("judges the example, which is the project template's output, by its own files", async () => {
    const result = await cairn(['doctor', '--json', '--project', penguins], penguins);
    expect(result.code, result.stderr).toBe(0);
    const byId = Object.fromEntries(JSON.parse(result.stdout).practices.map((p: any) => [p.id, p]));
    // Everything `cairn new` sets up is there: the example is rendered from templates/project-tabular.
    for (const id of [
      'pipeline',
      'config',
      'artifacts',
      'data-validation',
      'evaluation',
      'gate',
      'ci',
      'deployment',
      'abtest',
      'drift',
      'pinned',
    ]) {
      expect(byId[id].ok, `${id}: ${byId[id].detail}`).toBe(true);
    }
    expect(byId.gate.detail).toMatch(/step gate/);
    expect(byId.ci.detail).toMatch(/tests ✓, pipeline ✓, evaluation gate ✓/);
    // What only running it gives: the checkout has no recorded runs and no registered model.
    if (!existsSync(resolve(penguins, '.cairn', 'metadata.db'))) {
      expect(byId.metadata.ok).toBe(false);
      expect(byId.registry.ok).toBe(false);
    }
    expect(byId.registry.fix ?? '').toMatch(/cairn run|registerModelStep/);
  });
});
